// "Bad images are refused, never crash": the image fuzzer (fuzz/run.mjs) runs 300 seeded cases
// on the CRIU 4.2 fixtures and on fresh dumps (crit decode on each, sandboxed restores of a
// share that fail right before the release); a broken crit proves it can fail; and the image
// layer and the restore name the file, the entry and the field of what they refuse.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repo, fixtures, tmpdir, crit } from './lib.js';
import { parseImage, encodeImage, readImage, writeImageEntries } from '../src/images/index.js';
import { loadImages } from '../src/restore/images.js';

const fuzz = path.join(repo, 'fuzz', 'run.mjs');

/** fuzz/run.mjs --json: the counts by outcome, the seed, the time and the baseline restores */
interface FuzzCounts {
  cases: number;
  ok: number;
  restored: number;
  crashes: number;
  hangs: number;
  leaks: number;
  unnamed: number;
  critRuns: number;
  restoreRuns: number;
  seed: number;
  seconds: number;
  baseline?: { good: number; total: number };
}

function runFuzz(args: string[], timeout = 170_000): { code: number | null; stdout: string; stderr: string; summary: FuzzCounts } {
  const dir = tmpdir('fuzz-run');
  const json = path.join(dir, 'summary.json');
  const r = spawnSync(process.execPath, [fuzz, '--json', json, '--keep', path.join(dir, 'failures'), ...args], { encoding: 'utf8', timeout });
  const summary = (fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : {}) as FuzzCounts;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, summary };
}

test('300 fuzz cases: every bad image is refused cleanly, nothing crashes, hangs or is left behind', async () => {
  test.setTimeout(175_000);
  const t0 = Date.now();
  const r = runFuzz(['--cases', '300', '--seed', '20251203', '--quiet']);
  const s = r.summary;
  expect(r.stdout + r.stderr).toMatch(/fuzz: 300 cases: ok \d+/);
  expect(s.cases, r.stdout).toBe(300);
  expect(s.crashes, r.stdout).toBe(0);
  expect(s.hangs, r.stdout).toBe(0);
  expect(s.leaks, r.stdout).toBe(0);
  expect(s.unnamed, r.stdout).toBe(0);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  // the restores did run: the fresh dumps restore up to their release unmutated, and a share of
  // the mutated ones were restored (refused or accepted)
  expect(s.baseline?.good, JSON.stringify(s.baseline)).toBeGreaterThanOrEqual(2);
  expect(s.restoreRuns).toBeGreaterThan(30);
  expect(s.critRuns).toBeGreaterThan(250);
  expect(s.ok).toBeGreaterThan(50);
  expect(Date.now() - t0).toBeLessThan(170_000);
});

test('the fuzzer counts a crit that throws a TypeError, dies by a signal or hangs, and fails', () => {
  const dir = tmpdir('fuzz-broken');
  const typeError = path.join(dir, 'crit-typeerror.mjs');
  fs.writeFileSync(typeError, 'const x = undefined;\nx.entries.length;\n');
  const segv = path.join(dir, 'crit-segv.sh');
  fs.writeFileSync(segv, '#!/bin/sh\nkill -SEGV $$\n', { mode: 0o755 });
  const hang = path.join(dir, 'crit-hang.sh');
  fs.writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
  const internal = path.join(dir, 'crit-internal.sh');
  fs.writeFileSync(internal, '#!/bin/sh\necho "crit: internal error: Cannot read properties of undefined (reading \'pid\')" >&2\nexit 1\n', { mode: 0o755 });
  for (const [bin, what] of [
    [typeError, 'crashes'],
    [segv, 'crashes'],
    [internal, 'crashes'],
    [hang, 'hangs'],
  ] as const) {
    const r = runFuzz(['--crit', bin, '--no-fresh', '--cases', '3', '--seed', '7', '--crit-timeout', '200', '--jobs', '1'], 60_000);
    expect(r.summary[what], `${path.basename(bin)}: ${r.stdout}`).toBe(3);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(what === 'hangs' ? /HANG/ : /CRASH/);
  }
  // and the real crit on the same cases is fine
  const ok = runFuzz(['--no-fresh', '--cases', '3', '--seed', '7', '--jobs', '1'], 60_000);
  expect(ok.summary.crashes + ok.summary.hangs, ok.stdout).toBe(0);
  expect(ok.code).toBe(0);
});

test('image errors name the file, the entry and the field', () => {
  const dir = tmpdir('fuzz-names');
  const src = readImage(path.join(fixtures, 'tree', 'pstree.img'));
  // entry 1 without its required sid: encode by hand (the writer refuses it)
  const good = fs.readFileSync(path.join(fixtures, 'tree', 'pstree.img'));
  const e1 = src.entries[1].offset!,
    e1len = good.readUInt32LE(e1);
  const body = good.subarray(e1 + 4, e1 + 4 + e1len);
  // pstree_entry: pid 1, ppid 2, pgid 3, sid 4 (tag 0x20), threads 5
  const cut: number[] = [];
  for (let p = 0; p < body.length;) {
    const tag = body[p];
    let q = p + 1;
    if ((tag & 7) === 0) {
      while (body[q] & 0x80) q++;
      q++;
    } else {
      let l = 0,
        s = 0;
      while (body[q] & 0x80) {
        l |= (body[q] & 0x7f) << s;
        s += 7;
        q++;
      }
      l |= body[q] << s;
      q += 1 + l;
    }
    if (tag >> 3 !== 4) cut.push(...body.subarray(p, q));
    p = q;
  }
  const nb = Buffer.from(cut);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(nb.length);
  const bad = Buffer.concat([good.subarray(0, e1), len, nb, good.subarray(e1 + 4 + e1len)]);
  expect(() => parseImage(bad, { name: 'pstree.img' })).toThrow(
    /pstree\.img: offset \d+: bad pstree_entry entry: pstree_entry: missing required field sid \(entry 1\)/,
  );
  const f = path.join(dir, 'pstree.img');
  fs.writeFileSync(f, bad);
  const r = crit(['decode', '-i', f]);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/pstree\.img: .*missing required field sid \(entry 1\)/);

  // a nested field: its path
  const core = fs.readFileSync(
    path.join(
      fixtures,
      'mem',
      fs.readdirSync(path.join(fixtures, 'mem')).find((x) => x.startsWith('core-'))!,
    ),
  );
  const img = parseImage(core);
  const msg = img.entries[0].msg as Record<string, any>;
  msg.thread_info.fpregs.xsave.ymmh_space = [0x7777777];
  const enc = encodeImage('CORE', [{ msg }]);
  // ymmh_space (field 2, a varint) gets wire type 7
  const at = enc.indexOf(Buffer.from([0x10, 0xf7, 0xee, 0xdd, 0x3b]));
  expect(at).toBeGreaterThan(0);
  const broken = Buffer.from(enc);
  broken[at] = 0x17;
  expect(() => parseImage(broken, { name: 'core-1.img' })).toThrow(
    /^core-1\.img: offset 8: bad core_entry entry: invalid wire type 7 for field 2 of user_x86_xsave_entry \(entry 0, field thread_info\.fpregs\.xsave\.ymmh_space\[0\], byte \d+ of the message\)$/,
  );

  // an enum value the JSON cannot show
  const fd = readImage(path.join(fixtures, 'mem', 'fdinfo-2.img'));
  (fd.entries[1].msg as Record<string, number>).type = 4242;
  const fdf = path.join(dir, 'fdinfo-2.img');
  writeImageEntries(fdf, fd);
  const r2 = crit(['decode', '-i', fdf]);
  expect(r2.code).toBe(1);
  expect(r2.stderr.trim()).toMatch(/^crit: .*fdinfo-2\.img: entry 1: field type: value 4242 is not in enum fd_types$/);
});

test('restore refuses out-of-range PIDs, fds, VMAs and pages by file, entry and field', () => {
  const cases: [string, (m: Record<string, any>, i: number) => void, RegExp][] = [
    [
      'pstree.img',
      (m, i) => {
        if (i === 0) m.pid = 0;
      },
      /pstree\.img: entry 0: pid 0 is out of range/,
    ],
    [
      'pstree.img',
      (m, i) => {
        if (i === 1) m.ppid = 2 ** 31 - 1;
      },
      /pstree\.img: entry 1: ppid 2147483647 is out of range/,
    ],
    [
      'pstree.img',
      (m, i) => {
        if (i === 2) m.threads = [];
      },
      /pstree\.img: entry 2: threads is empty/,
    ],
    [
      'fdinfo-2.img',
      (m, i) => {
        if (i === 0) m.fd = 0xfffffffb;
      },
      /fdinfo-2\.img: entry 0: fd 4294967291 is out of range/,
    ],
    [
      'fdinfo-2.img',
      (m, i) => {
        if (i === 1) m.id = 999999;
      },
      /fdinfo-2\.img: entry 1: id 999999 \(fd \d+\) is not in files\.img/,
    ],
    [
      'files.img',
      (m, i) => {
        if (i === 0) delete m.reg;
      },
      /files\.img: entry 0: reg is missing/,
    ],
  ];
  const tree = path.join(fixtures, 'tree');
  const mm = fs.readdirSync(tree).find((x) => x.startsWith('mm-'))!;
  const pm = fs.readdirSync(tree).find((x) => x.startsWith('pagemap-'))!;
  cases.push(
    [
      mm,
      (m) => {
        m.vmas[1].end = m.vmas[1].start;
      },
      new RegExp(`${mm.replace('.', '\\.')}: entry 0: vmas\\[1\\]\\.end 0x[0-9a-f]+ is not above start`),
    ],
    [
      mm,
      (m) => {
        m.vmas[2].status |= 1 << 20;
      },
      new RegExp(`${mm.replace('.', '\\.')}: entry 0: vmas\\[2\\]\\.status 0x[0-9a-f]+ has bits no CRIU image uses \\(0x100000\\)`),
    ],
    [
      mm,
      (m) => {
        const v = m.vmas.findIndex((x: { status: number }) => x.status & (1 << 6));
        m.vmas[v].shmid = 999999;
      },
      new RegExp(`${mm.replace('.', '\\.')}: entry 0: vmas\\[\\d+\\]\\.shmid 999999: no reg file of that id in files\\.img`),
    ],
    [
      fs.readdirSync(tree).find((x) => x.startsWith('core-'))!,
      (m) => {
        m.thread_info.fpregs.fop = 0xffffffff;
      },
      /core-\d+\.img: entry 0: thread_info\.fpregs\.fop 4294967295 is out of range \(0\.\.65535\)/,
    ],
    [
      fs.readdirSync(tree).find((x) => x.startsWith('core-'))!,
      (m) => {
        m.thread_info.fpregs.xmm_space.push(1);
      },
      /core-\d+\.img: entry 0: thread_info\.fpregs\.xmm_space has 65 words, the FXSAVE area holds 64/,
    ],
    [
      fs.readdirSync(tree).find((x) => x.startsWith('core-'))!,
      (m) => {
        m.thread_info.tls[1].seg_32bit = true;
      },
      /core-\d+\.img: entry 0: thread_info\.tls\[1\]\.seg_32bit is true in a slot of base 0 and limit 0: neither the empty slot nor a present 32-bit segment/,
    ],
    [
      fs.readdirSync(tree).find((x) => x.startsWith('core-'))!,
      (m) => {
        m.thread_info.tls[0].entry_number = 3;
      },
      /core-\d+\.img: entry 0: thread_info\.tls\[0\]\.entry_number 3 is out of range \(12\.\.14\)/,
    ],
    [
      fs.readdirSync(tree).find((x) => x.startsWith('core-'))!,
      (m) => {
        m.tc.sigactions.push(...m.tc.sigactions.slice(0, 3));
      },
      /core-\d+\.img: entry 0: tc\.sigactions has 65 entries, there are 62 signals with actions/,
    ],
    [
      'inventory.img',
      (m) => {
        m.img_version = 3;
      },
      /inventory\.img: entry 0: img_version 3 is not 2/,
    ],
    [
      pm,
      (m, i) => {
        if (i === 2) m.vaddr = 0x8000000000000000n;
      },
      new RegExp(`${pm.replace('.', '\\.')}: entry 2: vaddr 0x8000000000000000 \\+ nr_pages \\d+: 0x8000000000000000 is in no VMA`),
    ],
    // the quick pass in numbers hands these to the bigint one, which names them
    [
      pm,
      (m, i) => {
        if (i === 2) m.vaddr = BigInt(m.vaddr) + 8n;
      },
      new RegExp(`${pm.replace('.', '\\.')}: entry 2: vaddr 0x[0-9a-f]+8 is not page-aligned`),
    ],
    [
      pm,
      (m, i) => {
        if (i === 2) m.vaddr = 0x1000n;
      },
      new RegExp(`${pm.replace('.', '\\.')}: entry 2: vaddr 0x1000 overlaps the entry before it`),
    ],
  );
  for (const [file, change, want] of cases) {
    const dir = tmpdir('fuzz-restore-check');
    for (const f of fs.readdirSync(tree)) fs.symlinkSync(path.join(tree, f), path.join(dir, f));
    const img = readImage(path.join(tree, file));
    img.entries.forEach((e, i) => change(e.msg as Record<string, any>, i));
    fs.rmSync(path.join(dir, file));
    writeImageEntries(path.join(dir, file), img);
    expect(() => loadImages(dir), file).toThrow(want);
  }
  // the fixtures themselves pass
  for (const d of ['mem', 'threads', 'tree']) expect(() => loadImages(path.join(fixtures, d))).not.toThrow();
});
