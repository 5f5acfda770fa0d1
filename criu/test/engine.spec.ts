// Pure parts of the engines, without a kernel: option parsing, the gadget hole finder, the
// xsave <-> image conversion.
import { test, expect } from '@playwright/test';
import { parseArgs, refuseUnsupported } from '../src/cli/options.js';
import { findHole, pagemapRuns } from '../src/restore/restore.js';
import * as path from 'node:path';
import { repo } from './lib.js';
// From dist/, not the sources: xsaveLayout() asks CPUID through native/build/libcriu-native.so,
// which criu/src/paths.ts finds relative to its compiled place (dist/criu/src, four levels below
// the package root); loaded from criu/src it would look one level above the repository.
const { xsaveToImage, xsaveFromImage, xsaveLayout, hasComponent, tlsFromImage } = (await import(
  path.join(repo, 'dist', 'criu', 'src', 'arch', 'x86_64.js')
)) as typeof import('../src/arch/x86_64.js');

test('CRIU option forms parse as CRIU does', () => {
  const p = parseArgs(['dump', '-t', '42', '-D/tmp/x', '--leave-running', '-v4', '--log-file=dump.log', '--pidfile', 'p']);
  expect(p.command).toBe('dump');
  expect(p.opts.get('tree')).toEqual(['42']);
  expect(p.opts.get('images-dir')).toEqual(['/tmp/x']);
  expect(p.opts.get('verbosity')).toEqual(['4']);
  expect(p.opts.get('log-file')).toEqual(['dump.log']);
  expect(p.opts.has('leave-running')).toBe(true);
  expect(parseArgs(['restore', '-vvv']).opts.get('verbosity')).toEqual(['5']);
  expect(() => parseArgs(['dump', '--no-such-option'])).toThrow("unrecognized option '--no-such-option'"); // getopt_long's words, as CRIU prints them
  expect(() => refuseUnsupported(parseArgs(['dump', '--tcp-close']))).not.toThrow();
  expect(() => refuseUnsupported(parseArgs(['dump', '--lazy-pages']))).toThrow('not supported yet: --lazy-pages');
  // CRIU 4.2 ignores -t on restore with a warning (crtools.c: "Using -t with criu restore is obsoleted")
  expect(refuseUnsupported(parseArgs(['restore', '-t', '1'])).ignored.map((i) => i.warn)).toEqual(['Using -t with criu restore is obsoleted']);
  expect(() => refuseUnsupported(parseArgs(['restore', '-s']))).toThrow('not supported yet: --leave-stopped');
});

test('the gadget hole avoids every range and keeps guard pages', () => {
  const P = 4096n;
  const ranges = [
    { s: 0x10000n, e: 0x20000n },
    { s: 0x22000n, e: 0x30000n },
  ];
  const h = findHole(ranges, 5n * P);
  for (const r of ranges) expect(h + 5n * P + P <= r.s || h >= r.e + P).toBe(true);
  expect(h).toBeLessThan(0x40000n);
  expect(findHole([], 5n * P)).toBe(0x11000n);
  expect(findHole([{ s: 0x40000n, e: 0x50000n }], 2n * P)).toBe(0x11000n);
});

test('a pagemap run that goes from a skipped VMA (the vdso) into the next one keeps the pages past it', () => {
  const P = 4096n;
  // the vdso at 0x10000 (2 pages), ld.so's data right above it (3 pages), one run in the image
  const entries = [
    { vaddr: 0x8000n, nr_pages: 1, flags: 4 }, // PE_PRESENT
    { vaddr: 0x10000n, nr_pages: 5, flags: 4 },
  ];
  const { runs, bytes } = pagemapRuns('task 1', entries as never, 0n, [{ s: 0x10000n, e: 0x12000n }]);
  expect(bytes).toBe(6n * P);
  expect(runs).toEqual([
    { a: 0x8000n, l: P, o: 0n },
    { a: 0x12000n, l: 3n * P, o: 3n * P }, // where those pages lie in the pages file: past the vdso's
  ]);
});

test('xsave buffers survive the image conversion', () => {
  const L = xsaveLayout();
  const x = Buffer.alloc(Math.max(L.total, 576));
  for (let i = 0; i < 512; i += 4) x.writeUInt32LE((i * 2654435761) >>> 0, i);
  x.fill(0, 416, 512); // the reserved tail of the legacy area is not kept in the image
  x.writeUInt16LE(0, 4);
  x.writeUInt16LE(0, 6);
  let bv = 3n;
  // the components the kernel enables here (a CPU may place MPX in its layout that Linux leaves off)
  const used = Object.entries(L.offsets).filter(([f]) => hasComponent(L, Number(f)));
  for (const [f, off] of used) {
    for (let i = 0; i < L.sizes[Number(f)]; i++) x[off + i] = (i * 7 + Number(f)) & 0xff;
    bv |= 1n << BigInt(f);
  }
  x.writeBigUInt64LE(bv, 512);
  const img = xsaveToImage(x);
  expect(img.xmm_space).toHaveLength(64);
  expect(img.st_space).toHaveLength(32);
  const back = xsaveFromImage(img);
  // everything the image holds comes back: the legacy area (without sw_reserved), the header's
  // xstate_bv and every component
  expect(back.subarray(0, 512).equals(x.subarray(0, 512))).toBe(true);
  expect(back.readBigUInt64LE(512)).toBe(bv);
  for (const [f, off] of used) {
    const n = L.sizes[Number(f)];
    if (Number(f) === 3 || Number(f) === 4 || (Number(f) === 9 && n > 8)) continue; // MPX/PKRU padding
    expect(back.subarray(off, off + n).equals(x.subarray(off, off + n)), `component ${f}`).toBe(true);
  }
});

test('GDT TLS slots: empty ones are skipped, used ones become a 16-byte user_desc', () => {
  const empty = {
    entry_number: 12,
    base_addr: 0,
    limit: 0,
    seg_32bit: false,
    contents_h: false,
    contents_l: false,
    read_exec_only: true,
    limit_in_pages: false,
    seg_not_present: true,
    usable: false,
  };
  const used = {
    entry_number: 13,
    base_addr: 0x12340000,
    limit: 0xfff,
    seg_32bit: true,
    contents_h: false,
    contents_l: true,
    read_exec_only: false,
    limit_in_pages: true,
    seg_not_present: false,
    usable: true,
  };
  expect(tlsFromImage(undefined)).toEqual([]);
  const r = tlsFromImage([empty, used, { ...empty, entry_number: 14 }]);
  expect(r).toHaveLength(1);
  expect(r[0].idx).toBe(13);
  expect(r[0].desc.readUInt32LE(0)).toBe(13);
  expect(r[0].desc.readUInt32LE(4)).toBe(0x12340000);
  expect(r[0].desc.readUInt32LE(8)).toBe(0xfff);
  // seg_32bit 1, contents 01 (bit 1), limit_in_pages 16, useable 64: the kernel's bit order
  expect(r[0].desc.readUInt32LE(12)).toBe(1 | 2 | 16 | 64);
});

test('inventory UUIDs are random version 4 UUIDs', async () => {
  const { uuid4 } = await import('../src/dump/dump.js');
  const a = uuid4(),
    b = uuid4();
  expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(a).not.toBe(b);
});

test('an aarch64 syscall batch: the loop (verified against the assembler), then per call its number and six arguments', async () => {
  const { aarch64Batch, A64_LOOP } = await import('../src/ptrace/inject.js');
  const { SYS } = await import('../src/sys/arch.js');
  const { code, end } = aarch64Batch([
    { name: 'getpid', args: [] },
    { name: 'rt_sigaction', args: [10, 0x1000n, 0, 8, -1n, 0x7fffffffffffn] },
  ]);
  // ldp x8, x0, [x16], #16 … svc #0; str x0, [x17], #8; subs x15, x15, #1; b.ne; brk #0
  expect(A64_LOOP.map((w) => w.toString(16))).toEqual([
    'a8c10208',
    'a8c10a01',
    'a8c11203',
    'f8408605',
    'd4000001',
    'f8008620',
    'f10005ef',
    '54ffff21',
    'd4200000',
  ]);
  expect(code.length).toBe(36 + 2 * 56);
  expect(code.readUInt32LE(end)).toBe(0xd4200000); // the thread stops on the brk, its pc there
  expect(code.readBigUInt64LE(36)).toBe(BigInt(SYS.getpid));
  expect(code.readBigUInt64LE(36 + 56)).toBe(BigInt(SYS.rt_sigaction));
  const args = Array.from({ length: 6 }, (_, i) => code.readBigUInt64LE(36 + 56 + 8 + 8 * i));
  expect(args).toEqual([10n, 0x1000n, 0n, 8n, 0xffffffffffffffffn, 0x7fffffffffffn]);
});

test('an x86_64 syscall batch: immediates into rax and the argument registers, syscall, result stored, int3', async () => {
  const { encodeX86Batch } = await import('../src/ptrace/inject.js');
  const code = encodeX86Batch(
    [
      { name: 'getpid', args: [] },
      { name: 'rt_sigaction', args: [10, 0x1000n, 0, 8, -1, 2 ** 52 + 3] },
    ],
    0x7f0000001000n,
  );
  expect(code.length).toBe(2 * 82 + 1);
  const imm = (o: number): bigint => code.readBigUInt64LE(o);
  // first call: mov rax, 39 (getpid); zeros in rdi rsi rdx r10 r8 r9
  expect([...code.subarray(0, 2)]).toEqual([0x48, 0xb8]);
  expect(imm(2)).toBe(39n);
  expect([...code.subarray(10, 12)]).toEqual([0x48, 0xbf]);
  expect([...code.subarray(40, 42)]).toEqual([0x49, 0xba]); // r10
  expect([...code.subarray(70, 72)]).toEqual([0x0f, 0x05]); // syscall
  expect([...code.subarray(72, 74)]).toEqual([0x48, 0xa3]); // movabs [imm64], rax
  expect(imm(74)).toBe(0x7f0000001000n);
  // second call: rt_sigaction(10, 0x1000, 0, 8), result at +8
  expect(imm(82 + 2)).toBe(13n);
  expect(imm(82 + 12)).toBe(10n);
  expect(imm(82 + 22)).toBe(0x1000n);
  expect(imm(82 + 42)).toBe(8n);
  expect(imm(82 + 52)).toBe(0xffffffffffffffffn); // r8: -1, two's complement
  expect(imm(82 + 62)).toBe(2n ** 52n + 3n); // r9: a number above 2^32
  expect(imm(82 + 74)).toBe(0x7f0000001008n);
  expect(code[code.length - 1]).toBe(0xcc);
});

test('an anon-moved VMA is made in a range apart from its target: one the kernel picks over the target is held, another taken, the first unmapped', async () => {
  const { movableCopy } = await import('../src/restore/memory.js');
  const len = 0x10000000n,
    start = 0xffff867ff000n;
  const calls: string[] = [];
  const answers = [start + 0x1000n, 0xffff70000000n]; // over the target, then apart from it
  const inj = {
    call(name: string, ...a: (number | bigint)[]): bigint {
      calls.push(`${name} ${a.map((x) => BigInt(x).toString(16)).join(' ')}`);
      return name === 'mmap' ? answers.shift()! : 0n;
    },
  };
  const v = { mapProt: 0, mapFlags: 0x22 } as never;
  expect(movableCopy(inj as never, v, start, len)).toBe(0xffff70000000n);
  expect(calls).toEqual(['mmap 0 10000000 0 22 -1 0', 'mmap 0 10000000 0 22 -1 0', `munmap ${(start + 0x1000n).toString(16)} 10000000`]);
  // a first answer apart from the target is taken as it is
  answers.push(0x1000000n);
  calls.length = 0;
  expect(movableCopy(inj as never, v, start, len)).toBe(0x1000000n);
  expect(calls.length).toBe(1);
});
