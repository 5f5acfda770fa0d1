// The page movers of criu/src/dump/memory.ts on a live process: batched process_vm_readv (runs
// past IOV_MAX and past the buffer, the fallback for pages it cannot reach) and /proc/PID/mem,
// byte for byte against the pattern the process wrote.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { repo, tmpdir } from './lib.js';
import { MemFileMover, ReadvMover } from '../src/dump/memory.js';

const PS = 4096;
let child: ChildProcess;
let base = 0n,
  npages = 0,
  protNone = 0;

test.beforeAll(async () => {
  const dir = tmpdir('memmap');
  const bin = path.join(dir, 'memmap');
  execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'memmap.c')]);
  child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line: string = await new Promise((res) => child.stdout!.once('data', (d) => res(String(d))));
  const [b, n, p] = line.trim().split(' ');
  base = BigInt(b);
  npages = Number(n);
  protNone = Number(p);
});
test.afterAll(() => {
  child.stdin!.end();
  child.kill('SIGKILL');
});

/** What the runs must read: page i holds (i * 7 + 1) & 0xff. */
function expected(runs: { a: bigint; l: bigint }[]): Buffer {
  return Buffer.concat(
    runs.map((r) => {
      const b = Buffer.alloc(Number(r.l));
      for (let off = 0; off < b.length; off += PS) {
        const page = Number((r.a + BigInt(off) - base) / BigInt(PS));
        b.fill((page * 7 + 1) & 0xff, off, Math.min(b.length, off + PS));
      }
      return b;
    }),
  );
}

function moveWith(kind: 'readv' | 'mem', runs: { a: bigint; l: bigint }[]): Buffer {
  const file = path.join(tmpdir('pages'), 'pages.img');
  const out = fs.openSync(file, 'w');
  const slow = new MemFileMover(child.pid!);
  try {
    (kind === 'readv' ? new ReadvMover(child.pid!, slow) : slow).move(runs, out);
  } finally {
    slow.close();
    fs.closeSync(out);
  }
  return fs.readFileSync(file);
}

const page = (i: number, n = 1): { a: bigint; l: bigint } => ({ a: base + BigInt(i * PS), l: BigInt(n * PS) });

test('many one-page runs: more than IOV_MAX of them in one move', () => {
  const runs = Array.from({ length: 1500 }, (_, k) => page(200 + k * 2 - (k >= 700 ? 1399 : 0)));
  for (const kind of ['readv', 'mem'] as const) expect(moveWith(kind, runs).equals(expected(runs)), kind).toBe(true);
});

test('runs larger than the 4 MiB buffer, split and rejoined in order', () => {
  const runs = [page(2990, 5), page(102, 1500), page(1700, 1200), page(0, 3)];
  for (const kind of ['readv', 'mem'] as const) expect(moveWith(kind, runs).equals(expected(runs)), kind).toBe(true);
});

test('pages process_vm_readv cannot reach (PROT_NONE) come through /proc/PID/mem', () => {
  // the unreadable pages sit between readable ones, inside one batch
  const runs = [page(protNone - 3, 2), page(protNone, 2), page(protNone + 2, 4), page(protNone + 1, 1), page(500, 1)];
  expect(moveWith('readv', runs).equals(expected(runs))).toBe(true);
});

test('an address that is not mapped at all is a clear error', () => {
  expect(() => moveWith('readv', [page(npages + 4096)])).toThrow(/task \d+: short read of memory at 0x[0-9a-f]+/);
});
