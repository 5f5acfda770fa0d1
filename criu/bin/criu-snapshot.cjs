'use strict';
// The entry of `node --build-snapshot` (criu/bundle.mjs makes dist/criu/src/criu.cjs.ARCH.blob
// with it): loads the bundle the way criu-boot.cjs does, so that a command started from the
// blob (native/launcher.c: node --snapshot-blob BLOB ARGS...) finds every module loaded.
const path = require('node:path');
const fs = require('node:fs');
const vm = require('node:vm');
const v8 = require('node:v8');
const { createRequire, wrap } = require('node:module');
const dist = path.join(__dirname, '..', '..', 'dist', 'criu', 'src');
const file = path.join(dist, 'criu.cjs');
let cachedData;
try {
  cachedData = fs.readFileSync(`${file}.${process.arch}.cache`);
} catch {
  /* none */
}
const script = new vm.Script(wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.CRIU_BOOT_DEBUG)
  process.stderr.write(`criu-snapshot: code cache ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'absent'}\n`);
// a script run by vm has no import() of its own: TypeScript plugins are loaded through this one
// (criu/src/plugins/plugins.ts); made at start, import() is not kept in a snapshot
v8.startupSnapshot.addDeserializeCallback(() => {
  const importer = new vm.Script('(url) => import(url)', { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  globalThis[Symbol.for('criu-ts.import')] = importer.runInThisContext();
});
const mod = { exports: {} };
script.runInThisContext()(mod.exports, createRequire(file), mod, file, dist);
