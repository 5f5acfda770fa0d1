// The zdtm harness must catch a criu that lies. The real harness (`npm run zdtm`, zdtm/run.mjs
// --criu-bin) runs zdtm/static/cow00 (a parent and a child that checksum their copy-on-write
// memory) with fake criu binaries written here; each fake exits 0 and writes what a real one
// writes, and each must make the test FAIL for its own reason:
//   (a) "dumps" without stopping anything and "restores" nothing: the dumped tree still runs
//   (b) kills the tree on dump and "restores" nothing (the pidfile names the old pid)
//   (c) the real criu, with one byte of the parent's buffer flipped in pages-*.img between the
//       dump and the restore: the program's own check says FAIL
// and an honest wrapper around the real criu passes (so the failures come from the lies).
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, tmpdir } from './lib.js';

test.describe.configure({ mode: 'parallel' });

const realCriu = path.join(repo, 'native', 'build', 'criu');
const crit = path.join(repo, 'criu', 'bin', 'crit.js');
const PROG = 'cow00';

/** A zdtm run of PROG in flavor h with this criu binary; its exit code, output and summary row. */
function zdtmWith(criuBin: string, base: string): { code: number; out: string; row: string } {
  // a run started from a Playwright worker must not inherit the worker's settings
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_|ZDTM_OPTS)/.test(k)));
  const r = spawnSync(
    process.execPath,
    [path.join(repo, 'zdtm', 'run.mjs'), '--no-build', '-t', PROG, '-f', 'h', '--criu-bin', criuBin, '-k', 'never', '--report', path.join(base, 'report')],
    { cwd: repo, encoding: 'utf8', env, timeout: 100_000 },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  // the zdtm summary row: "  FAIL  zdtm-h   cow00   1.2s  first line of the failure"
  const row = new RegExp(`^ +(ok|FAIL|skip|fixme) +zdtm-h +${PROG} +[\\d.]+s +(.*)$`, 'm').exec(out);
  return { code: r.status ?? 1, out, row: row ? `${row[1]} ${row[2]}` : '(no summary row)' };
}

/** Writes an executable script; returns its path. */
function script(dir: string, name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text, { mode: 0o755 });
  return f;
}

/** Shell: the options of a dump/restore call, the calls logged to $NOTES, other commands passed to the real criu. */
const shellHead = (notes: string) => `#!/bin/sh
case "$1" in dump|restore) ;; *) exec ${realCriu} "$@" ;; esac
cmd=$1; dir=.; pid=; pidfile=
while [ $# -gt 0 ]; do
  case "$1" in -D) dir=$2; shift ;; -t) pid=$2; shift ;; --pidfile) pidfile=$2; shift ;; esac
  shift
done
echo "$cmd -D $dir -t $pid --pidfile $pidfile" >> ${notes}
case "$pidfile" in /*) ;; ?*) pidfile=$dir/$pidfile ;; esac
`;

/** Shell: a dump's visible output without any checkpoint: a non-empty inventory.img and a log. */
const fakeImages = `printf 'not an image' > "$dir/inventory.img"
echo "$pid" > "$dir/fake-root"
echo "dump of $pid finished" > "$dir/dump.log"
`;

test('(a) a criu that "dumps" but leaves the tree running and "restores" nothing is caught', () => {
  test.setTimeout(120_000);
  const base = tmpdir('honest-a');
  const notes = path.join(base, 'notes');
  const fake = script(
    base,
    'criu',
    `${shellHead(notes)}
if [ "$cmd" = dump ]; then
${fakeImages}else
  cat "$dir/fake-root" > "$pidfile"
fi
exit 0
`,
  );
  const r = zdtmWith(fake, base);
  expect(r.code, r.out).not.toBe(0);
  expect(r.row, r.out).toMatch(/^FAIL (Error: )?the dumped tree is still there: \d+ \d+ \(waited/);
  expect(r.out).toContain('0 passed, 1 failed, 0 skipped');
  expect(fs.readFileSync(notes, 'utf8')).toMatch(/^dump -D \S+ -t \d+ /);
  fs.rmSync(base, { recursive: true, force: true });
});

test('(b) a criu that kills the tree on dump and restores nothing is caught', () => {
  test.setTimeout(120_000);
  const base = tmpdir('honest-b');
  const notes = path.join(base, 'notes');
  const fake = script(
    base,
    'criu',
    `${shellHead(notes)}
if [ "$cmd" = dump ]; then
${fakeImages}  tree() { echo "$1"; for c in $(cat /proc/$1/task/*/children 2>/dev/null); do tree "$c"; done; }
  kill -KILL $(tree "$pid")
else
  cat "$dir/fake-root" > "$pidfile"
  echo "restore finished" > "$dir/restore.log"
fi
exit 0
`,
  );
  const r = zdtmWith(fake, base);
  expect(r.code, r.out).not.toBe(0);
  expect(r.row, r.out).toMatch(/^FAIL (Error: )?task \d+ was not restored/);
  expect(r.out).toContain('0 passed, 1 failed, 0 skipped');
  // it got past the dump's proof: both calls were made
  expect(fs.readFileSync(notes, 'utf8')).toMatch(/^dump .*\nrestore .*--pidfile restore\.pid\n$/);
  fs.rmSync(base, { recursive: true, force: true });
});

/**
 * A node wrapper around the real criu. With flip, after a good dump it flips one byte in page 1
 * of the parent's 64-page buffer (the anonymous VMA of 64 pages, found in /proc/PID/maps
 * before the dump) in the pages image, located through the pagemap image.
 */
function nodeWrapper(base: string, flip: boolean): string {
  const notes = path.join(base, 'notes');
  return script(
    base,
    'criu',
    `#!${process.execPath}
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
const real = () => spawnSync(${JSON.stringify(realCriu)}, args, { stdio: 'inherit' }).status ?? 1;
const note = (s) => fs.appendFileSync(${JSON.stringify(notes)}, s + '\\n');
if (!${flip} || args[0] !== 'dump') process.exit(real());
const pid = args[args.indexOf('-t') + 1];
const dir = args[args.indexOf('-D') + 1];
const PG = 4096n;
const buf = fs.readFileSync('/proc/' + pid + '/maps', 'utf8').split('\\n').map((l) => /^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0 *$/.exec(l))
  .filter((m) => m && BigInt('0x' + m[2]) - BigInt('0x' + m[1]) === 64n * PG);
if (buf.length !== 1) { note('no single anonymous VMA of 64 pages in ' + pid); process.exit(1); }
const target = BigInt('0x' + buf[0][1]) + PG + 100n;
const rc = real();
if (rc !== 0) process.exit(rc);
const pm = spawnSync(process.execPath, [${JSON.stringify(crit)}, 'decode', '-i', path.join(dir, 'pagemap-' + pid + '.img')], { encoding: 'utf8' });
if (pm.status !== 0) { note('crit decode: ' + pm.stderr); process.exit(1); }
const [head, ...entries] = JSON.parse(pm.stdout).entries;
let off = 0n;
for (const e of entries) {
  const start = BigInt(e.vaddr), n = BigInt(e.nr_pages);
  if (!(e.flags & 4)) continue; // PE_PRESENT: the pages are in the pages image
  if (target >= start && target < start + n * PG) {
    const file = path.join(dir, 'pages-' + head.pages_id + '.img');
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    const at = Number(off + (target - start));
    fs.readSync(fd, b, 0, 1, at);
    b[0] ^= 0x10;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    note('flipped byte ' + at + ' of ' + path.basename(file) + ' (address 0x' + target.toString(16) + ')');
    process.exit(0);
  }
  off += n * PG;
}
note('address 0x' + target.toString(16) + ' is not in the pagemap');
process.exit(1);
`,
  );
}

test('(c) a criu that changes one byte of memory in the pages image between dump and restore is caught', () => {
  test.setTimeout(120_000);
  const base = tmpdir('honest-c');
  const r = zdtmWith(nodeWrapper(base, true), base);
  expect(fs.readFileSync(path.join(base, 'notes'), 'utf8')).toMatch(/^flipped byte \d+ of pages-\d+\.img \(address 0x[0-9a-f]+\)\n$/);
  expect(r.code, r.out).not.toBe(0);
  expect(r.row, r.out).toMatch(/^FAIL (Error: )?verdict: FAIL: the parent's view changed$/);
  expect(r.out).toContain('0 passed, 1 failed, 0 skipped');
  fs.rmSync(base, { recursive: true, force: true });
});

test('the same program through an honest wrapper of the real criu passes', () => {
  test.setTimeout(120_000);
  const base = tmpdir('honest-ok');
  const r = zdtmWith(nodeWrapper(base, false), base);
  expect(r.row, r.out).toBe('ok verdict: PASS');
  expect(r.code, r.out).toBe(0);
  expect(r.out).toContain('1 passed, 0 failed, 0 skipped');
  fs.rmSync(base, { recursive: true, force: true });
});
