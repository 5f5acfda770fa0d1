'use strict';
// What the `criu` launcher runs in Node. Start-up is most of a small dump's time, so the whole
// tool is one CommonJS bundle (dist/criu/src/criu.cjs, made by criu/bundle.mjs at build time)
// loaded with a V8 code cache beside it: no module resolution, and no compiling of what the
// cache holds. Without a bundle, or with one older than the modules (a tree rebuilt by tsc
// alone), it runs the ES modules directly.
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist', 'criu', 'src');
const file = path.join(dist, 'criu.cjs');

// a bundle older than the compiled modules (tsc ran, criu/bundle.mjs did not) is stale: the
// modules then run as they are, so that what was just compiled is what runs
const mtime = (f) => {
  try {
    return fs.statSync(f).mtimeMs;
  } catch {
    return -1;
  }
};
let src = null;
if (mtime(file) >= mtime(path.join(dist, 'cli', 'criu.js'))) {
  try {
    src = fs.readFileSync(file, 'utf8');
  } catch {
    /* no bundle */
  }
}
if (src === null) {
  import(path.join(dist, 'cli', 'criu.js')).catch((e) => {
    process.stderr.write(`criu: cannot load the tool from ${dist} (${e.message}): run \`npm run build\`\n`);
    process.exitCode = 1;
  });
} else {
  const vm = require('node:vm');
  const { createRequire, wrap } = require('node:module');
  // per CPU: V8 checks its version and flags, not the CPU, and a cache made on another crashes
  const cacheFile = `${file}.${process.arch}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    /* no cache: compile */
  }
  const script = new vm.Script(wrap(src), { filename: file, cachedData });
  if (process.env.CRIU_BOOT_DEBUG) {
    process.stderr.write(`criu-boot: code cache ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'absent'}\n`);
  }
  // the build makes the cache after a run that loads every command's code (criu/bundle.mjs)
  if (process.env.CRIU_CODE_CACHE_WRITE) process.on('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
  // a script run by vm has no import() of its own: TypeScript plugins (ES modules in the plugin
  // folder) are loaded through this one (criu/src/plugins/plugins.ts)
  globalThis[Symbol.for('criu-ts.import')] = (url) => import(url);
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, dist);
}
