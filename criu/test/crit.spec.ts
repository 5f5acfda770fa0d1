// crit command line: decode/encode/show/info/x on the CRIU 4.2 fixtures, and clean
// one-line errors (no stack trace, no hang) for bad input.
// Needs the compiled tree (npx tsc -p tsconfig.json): criu/bin/crit.js loads dist/.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'criu-4.2');
const CRIT = path.join(repoRoot, 'criu', 'bin', 'crit.js');
const DIST = path.join(repoRoot, 'dist', 'criu', 'src', 'cli', 'crit.js');

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function crit(args: string[], input?: Buffer | string): Run {
  const r = spawnSync(process.execPath, [CRIT, ...args], { input: input ?? '', timeout: 20_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) throw r.error; // includes ETIMEDOUT: a hang fails the test
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function images(dir: string): string[] {
  return fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter((f) => (f.endsWith('.img') || f.startsWith('stats-')) && !/^pages-\d+\.img$/.test(f))
    .sort();
}

function expectCleanError(r: Run, re?: RegExp): void {
  expect(r.status).toBe(1);
  expect(r.stdout.length).toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^crit: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (re) expect(lines[0]).toMatch(re);
}

let tmp: string;
test.beforeAll(() => {
  expect(fs.existsSync(DIST), `${DIST} missing: run npx tsc -p tsconfig.json first`).toBe(true);
  expect(fs.existsSync(FIXTURES), `missing ${FIXTURES}`).toBe(true);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crit-test-'));
});
test.afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('crit --help and sub-command help', () => {
  const r = crit(['--help']);
  expect(r.status).toBe(0);
  expect(r.stdout.toString()).toContain('decode');
  expect(r.stdout.toString()).toContain('encode');
  expect(r.stdout.toString()).toContain('show');
  const d = crit(['decode', '--help']);
  expect(d.status).toBe(0);
  expect(d.stdout.toString()).toContain('--pretty');
  expectCleanError(crit([]));
  expectCleanError(crit(['frobnicate']), /invalid choice/);
});

for (const dir of ['mem', 'threads', 'tree']) {
  test(`crit decode/encode round trip: ${dir}`, () => {
    for (const f of images(dir)) {
      const src = path.join(FIXTURES, dir, f);
      const json = path.join(tmp, `${dir}-${f}.json`);
      const bin = path.join(tmp, `${dir}-${f}.bin`);
      let r = crit(['decode', '-i', src, '-o', json]);
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
      r = crit(['encode', '-i', json, '-o', bin]);
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
      expect(fs.readFileSync(bin).equals(fs.readFileSync(src)), f).toBe(true);
    }
  });
}

test('crit decode --pretty | crit encode via stdin/stdout', () => {
  for (const f of ['pagemap-3999102.img', 'mm-3999102.img', 'core-3999102.img', 'files.img']) {
    const src = fs.readFileSync(path.join(FIXTURES, 'mem', f));
    const d = crit(['decode', '--pretty'], src);
    expect(d.status, d.stderr).toBe(0);
    const text = d.stdout.toString();
    expect(text.startsWith('{\n    "magic": ')).toBe(true);
    const e = crit(['encode'], d.stdout);
    expect(e.status, e.stderr).toBe(0);
    expect(e.stdout.equals(src), f).toBe(true);
  }
});

test('crit show formats flags and hex like CRIU', () => {
  const pm = crit(['show', path.join(FIXTURES, 'mem', 'pagemap-3999102.img')]).stdout.toString();
  expect(pm).toContain('"magic": "PAGEMAP"');
  expect(pm).toContain('"flags": "PE_LAZY | PE_PRESENT"');
  expect(pm).toMatch(/"vaddr": "0x[0-9a-f]+"/);
  const mm = crit(['show', path.join(FIXTURES, 'mem', 'mm-3999102.img')]).stdout.toString();
  expect(mm).toContain('"flags": "MAP_PRIVATE | MAP_ANON"');
  expect(mm).toContain('VMA_AREA_VVAR');
  const pd = crit(['show', path.join(FIXTURES, 'tree', 'pipes-data.img')]).stdout.toString();
  expect(pd).toContain(`"extra": "${Buffer.from('unread data that must survive in the pipe\0').toString('base64')}\\n"`);
  const nopl = crit(['show', '--nopl', path.join(FIXTURES, 'tree', 'pipes-data.img')]).stdout.toString();
  expect(nopl).toContain('"extra": "... <42B>"');
  const plain = crit(['decode', '-i', path.join(FIXTURES, 'mem', 'pstree.img')]).stdout.toString();
  expect(plain).toBe('{"magic": "PSTREE", "entries": [{"pid": 3999102, "ppid": 0, "pgid": 3999102, "sid": 3999102, "threads": [3999102]}]}\n');
});

test('crit info', () => {
  const r = crit(['info', path.join(FIXTURES, 'mem', 'pagemap-3999102.img')]);
  expect(r.status).toBe(0);
  const info = JSON.parse(r.stdout.toString());
  expect(info.magic).toBe('PAGEMAP');
  expect(info.count).toBeGreaterThan(0);
  expect(JSON.parse(crit(['info', path.join(FIXTURES, 'tree', 'pstree.img')]).stdout.toString())).toEqual({ magic: 'PSTREE', count: 3 });
});

test('crit x DIR ps shows each tree', () => {
  const head = '    PID   PGID    SID   COMM';
  expect(crit(['x', path.join(FIXTURES, 'mem'), 'ps']).stdout.toString()).toBe(`${head}\n399910239991023999102   fixture-prog\n`);
  expect(crit(['x', path.join(FIXTURES, 'threads'), 'ps']).stdout.toString()).toBe(`${head}\n399920239992023999202   fixture-prog\n`);
  expect(crit(['x', path.join(FIXTURES, 'tree'), 'ps']).stdout.toString()).toBe(
    `${head}\n399930239993023999302   fixture-prog\n399930339993023999302       fixture-prog\n399930439993023999302       fixture-prog\n`,
  );
});

test('crit x DIR fds|mems|rss', () => {
  const fds = crit(['x', path.join(FIXTURES, 'tree'), 'fds']);
  expect(fds.status, fds.stderr).toBe(0);
  const out = fds.stdout.toString();
  expect(out.startsWith('3999302\n\t      0: /dev/null\n')).toBe(true);
  expect(out).toContain('\t      9: /tmp/criu-fixture/data/file.dat\n');
  expect(out).toMatch(/\t {6}7: pipe\[\d+\]\n/);
  expect(out).toContain('\t    cwd: /tmp/criu-fixture\n\t   root: /\n');
  const mems = crit(['x', path.join(FIXTURES, 'mem'), 'mems']);
  expect(mems.status, mems.stderr).toBe(0);
  expect(mems.stdout.toString()).toContain('\texe                                     /tmp/criu-fixture/bin/fixture-prog\n');
  expect(mems.stdout.toString()).toMatch(/\t00400000-00401000 {19}r-- \/tmp\/criu-fixture\/bin\/fixture-prog\n/);
  expect(mems.stdout.toString()).toContain('r-x [vdso]\n');
  const rss = crit(['x', path.join(FIXTURES, 'mem'), 'rss']);
  expect(rss.status, rss.stderr).toBe(0);
  expect(rss.stdout.toString()).toMatch(/^3999102\n\t401000 \/ 1 {14}00401000 \/ \d+ /);
  expectCleanError(crit(['x', path.join(tmp, 'nowhere'), 'ps']), /pstree\.img: no such file/);
});

test('crit decode rejects bad input with one clean line', () => {
  const core = fs.readFileSync(path.join(FIXTURES, 'mem', 'core-3999102.img'));
  const write = (name: string, buf: Buffer): string => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, buf);
    return p;
  };
  // truncated in the middle of an entry
  expectCleanError(crit(['decode', '-i', write('trunc.img', core.subarray(0, core.length - 7))]), /trunc\.img: offset 8: entry length \d+ goes past the end/);
  // truncated header
  expectCleanError(crit(['decode', '-i', write('short.img', core.subarray(0, 6))]), /file too short/);
  // wrong (unknown) type magic after the common magic
  const wrong = Buffer.from(core);
  wrong.writeUInt32LE(0x12345678, 4);
  expectCleanError(crit(['decode', '-i', write('wrong.img', wrong)]), /offset 4: unknown magic 0x12345678/);
  // no CRIU magic at all, on stdin
  expectCleanError(crit(['decode'], Buffer.from('hello world, not an image')), /<stdin>: offset 0: unknown magic/);
  // length word past the end of the file
  const long = Buffer.concat([core.subarray(0, 8), Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(10)]);
  expectCleanError(crit(['decode', '-i', write('long.img', long)]), /entry length 2147483647 goes past the end of the file \(10 bytes left\)/);
  // garbage protobuf bytes
  const garbage = Buffer.concat([core.subarray(0, 8), Buffer.from([8, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]);
  expectCleanError(crit(['decode', '-i', write('garbage.img', garbage)]), /garbage\.img: offset 8: bad core_entry entry/);
  const wire7 = Buffer.concat([core.subarray(0, 8), Buffer.from([4, 0, 0, 0]), Buffer.from([0x0f, 1, 2, 3])]);
  expectCleanError(crit(['decode'], wire7), /bad core_entry entry: invalid wire type 7/);
  // raw pages file and missing file
  expectCleanError(crit(['decode', '-i', path.join(FIXTURES, 'mem', 'pages-1.img')]), /unknown magic/);
  expectCleanError(crit(['decode', '-i', path.join(tmp, 'missing.img')]), /no such file/);
  expectCleanError(crit(['info', write('empty.img', Buffer.alloc(0))]), /empty file/);
});

test('crit encode rejects bad JSON with one clean line', () => {
  expectCleanError(crit(['encode'], '{"magic": "PSTREE", "entries": [{"pid": 1'), /invalid JSON/);
  expectCleanError(crit(['encode'], '{"magic": "NOPE", "entries": []}'), /unknown image magic "NOPE"/);
  expectCleanError(crit(['encode'], '{"magic": "PSTREE", "entries": [{"pid": 1}]}'), /missing required field ppid/);
  expectCleanError(crit(['encode'], '{"magic": "PSTREE", "entries": [{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "bogus": 2}]}'), /no field "bogus"/);
  expectCleanError(crit(['encode'], fs.readFileSync(path.join(FIXTURES, 'mem', 'core-3999102.img'))), /not UTF-8|invalid JSON/);
});
