#!/usr/bin/env node
// Build step (after tsc): the `criu` command's code as one CommonJS file plus a V8 code cache,
// which criu/bin/criu-boot.cjs loads. Node's start-up is most of a small dump's wall time; this
// takes module resolution and most compiling out of it (bench/RESULTS.md has the numbers).
//
//   dist/criu/src/criu.cjs             every module of dist/criu/src/cli/criu.js, koffi left outside
//   dist/criu/src/criu.cjs.ARCH.cache  V8 code cache for this CPU (V8 checks its version and
//                                      flags, not the CPU: another's cache crashes it), made by a
//                                      run that loads every command's code with the launcher's
//                                      own Node flags
//   dist/criu/src/criu.cjs.ARCH-CPUKEY.blob  V8 start-up snapshot of the loaded bundle, one per
//                                      CPU (and .blob.node, the tree and the Node binary it was
//                                      made for)
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist', 'criu', 'src');
const out = path.join(dist, 'criu.cjs');

buildSync({
  entryPoints: [path.join(dist, 'cli', 'criu.js')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi'],
  // the bundle sits in dist/criu/src, where paths.js is: paths computed from it stay the same
  define: { 'import.meta.url': '__criu_bundle_url' },
  banner: { js: "const __criu_bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
const cacheFile = `${out}.${process.arch}.cache`;
// the launcher's own Node flags (native/launcher.c): a code cache and a snapshot hold V8's flags
// and are refused under others. A young generation of 16 MiB: a dump of 2000 VMAs went from 8
// scavenges (14-20 ms) to one
const NODE_FLAGS = ['--no-warnings', '--stack-size=4000', '--min-semi-space-size=16'];
fs.rmSync(cacheFile, { force: true });

// As root, the run that makes the cache also practises on a sleeping child of its own (a dump
// with -R, a dump, a restore), so that the code those run is in the cache compiled: a small
// dump's frozen time halves. Without the rights it loads the code only.
const trainDir = process.getuid?.() === 0 ? fs.mkdtempSync(path.join(os.tmpdir(), 'criu-cache-train-')) : null;
// the same flags as native/launcher.c passes: V8 rejects a cache made under other flags
const r = spawnSync(process.execPath, [...NODE_FLAGS, path.join(repo, 'criu', 'bin', 'criu-boot.cjs'), '--version'], {
  env: { ...process.env, CRIU_CODE_CACHE_WRITE: '1', CRIU_CODE_CACHE_WARM: '1', ...(trainDir ? { CRIU_CODE_CACHE_TRAIN: trainDir } : {}) },
  stdio: ['ignore', 'ignore', 'inherit'],
  timeout: 60_000,
});
if (trainDir) fs.rmSync(trainDir, { recursive: true, force: true });
if (r.status !== 0 || !fs.existsSync(cacheFile)) {
  process.stderr.write(`criu/bundle.mjs: making the code cache failed (status ${r.status}); the bundle runs without it\n`);
} else {
  const kb = (f) => `${(fs.statSync(f).size / 1024).toFixed(0)} KiB`;
  const blob = makeSnapshot();
  process.stdout.write(`criu/bundle.mjs: ${path.relative(repo, out)} (${kb(out)}), code cache ${kb(cacheFile)}${blob ? `, snapshot ${kb(blob)}` : ''}\n`);
}

// The V8 start-up snapshot (criu/bin/criu-snapshot.cjs loads the bundle, compiled from the code
// cache, into the heap that is saved): native/launcher.c starts Node from it when the blob's
// record (BLOB.node: the project's root, then the Node binary's path, size and mtime) matches the
// tree and the Node it would run, and falls back to criu-boot.cjs otherwise. A blob that cannot
// answer --version as the bundle does is not kept.
function makeSnapshot() {
  // the blob is named after the CPU (V8 refuses a blob made where its CPU features differ): the
  // launcher's key of it; the blobs of other CPUs (guests sharing this tree) are kept
  const launcher = path.join(repo, 'native', 'build', 'criu');
  const key = spawnSync(launcher, [], { env: { ...process.env, CRIU_LAUNCHER_CPU_KEY: '1' }, encoding: 'utf8' });
  if (key.status !== 0 || !/^[a-z0-9]+-[0-9a-f]{16}\n$/.test(key.stdout)) {
    process.stderr.write(`criu/bundle.mjs: no start-up snapshot, ${launcher} did not tell this CPU's key (build native/ first)\n`);
    return null;
  }
  const blob = `${out}.${key.stdout.trim()}.blob`;
  const record = `${blob}.node`;
  fs.rmSync(record, { force: true });
  fs.rmSync(blob, { force: true });
  const flags = NODE_FLAGS;
  const b = spawnSync(process.execPath, [...flags, '--snapshot-blob', blob, '--build-snapshot', path.join(repo, 'criu', 'bin', 'criu-snapshot.cjs')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  const run = (args) => spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 30_000 });
  const got = b.status === 0 ? run(['--snapshot-blob', blob, ...flags, '--', '--version']) : null;
  const want = run([...flags, path.join(repo, 'criu', 'bin', 'criu-boot.cjs'), '--version']);
  if (!got || got.status !== 0 || got.stdout !== want.stdout) {
    const why =
      b.status !== 0
        ? `the build failed (${b.stderr.trim().split('\n').slice(-3).join(' / ') || `status ${b.status}`})`
        : `--version from it gave ${JSON.stringify(got?.stdout ?? '')} (status ${got?.status}), not ${JSON.stringify(want.stdout)}`;
    process.stderr.write(`criu/bundle.mjs: no start-up snapshot, ${why}; the launcher starts the bundle instead\n`);
    fs.rmSync(blob, { force: true });
    return null;
  }
  const node = fs.realpathSync(process.execPath);
  const st = fs.statSync(node);
  fs.writeFileSync(record, `${fs.realpathSync(repo)}\n${node}\t${st.size}\t${Math.floor(st.mtimeMs / 1000)}\n`);
  return blob;
}
