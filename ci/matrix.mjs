#!/usr/bin/env node
// The whole matrix: every zdtm program (but the noauto ones) in flavors h and ns on the host
// and in guests of Debian 12's kernels, one report (reports/matrix/index.html, junit.xml).
// `node ci/matrix.mjs [--vm SPEC] [zdtm options]`: SPEC defaults to host,6.1,6.12 (and
// CRIU_MATRIX_VM when set); other options go to the zdtm runner as they are.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const has = (...names) => argv.some((a) => names.includes(a));
const args = [
  ...(has('--vm') ? [] : ['--vm', process.env.CRIU_MATRIX_VM || 'host,6.1,6.12']),
  ...(has('-t', '-T', '-a', '--test', '--tests', '--all') ? [] : ['-a']),
  ...(has('-f', '--flavor') ? [] : ['-f', 'h,ns']),
  ...(has('--report') ? [] : ['--report', path.join(repo, 'reports', 'matrix')]),
  '--keep-going',
  ...argv,
];
const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), ...args], { cwd: repo, stdio: 'inherit' });
process.exit(r.status ?? 1);
