// The fd-kind contract of criu/src/files on mock kinds (no task, no image files): staged opens
// run after what they wait for, cycles and missing objects are named, every kind's cleanup runs
// once for whatever was made whatever step fails, hooks run in priority order, and the claim
// priority (not the order of the list) decides between kinds.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import type { FileKind, AnyKind, RestoreFdCtx } from '../src/files/kind.js';
import { FileError } from '../src/files/kind.js';
import { KindRegistry } from '../src/files/registry.js';
import { FileCtx } from '../src/files/restore-ctx.js';
import { stagedOrder } from '../src/files/schedule.js';
import type { FileEntry } from '../src/images/gen/types.js';
import type { FdLink, Fdinfo } from '../src/proc/index.js';
import { CriuError } from '../src/errors.js';
import { semaphoreByProbe, EFD_SEMAPHORE } from '../src/files/eventfd.js';
import { O_CLOEXEC } from '../src/files/fdparams.js';
import { syscall, writeFd, fcntl, close } from '../src/sys/libc.js';
import { readFdinfo } from '../src/proc/index.js';

const TYPE_A = 101,
  TYPE_B = 102;

const waits = new WeakMap<FileEntry, number[]>();
/** Entries of a mock files.img: `waits` lists the ids each waits for. */
function images(entries: { id: number; type: number; waits?: number[] }[]): { dir: string; files: Map<number, unknown> } {
  const files = new Map<number, unknown>();
  for (const e of entries) {
    const fe: FileEntry = { type: e.type, id: e.id, ext: { id: e.id, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } } };
    waits.set(fe, e.waits ?? []);
    files.set(e.id, fe);
  }
  return { dir: '/nonexistent', files };
}
const waitsOf = (e: FileEntry): number[] => waits.get(e) ?? [];

const isOpen = (fd: number): boolean => {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

/** A journal of what the mock kinds did, with a fault injected at step `failAt` (1..). */
class Journal {
  steps = 0;
  log: string[] = [];
  /** fds handed to FileCtx by open() */
  opened: number[] = [];
  /** fds a kind keeps in its state (like a pipe's other end), and how often each state was closed */
  kept: number[] = [];
  states: { kind: string; closes: number; failed?: boolean }[] = [];
  constructor(public failAt = 0) {}
  step(what: string): void {
    this.steps++;
    this.log.push(what);
    if (this.steps === this.failAt) throw new CriuError(`injected fault at step ${this.steps} (${what})`);
  }
}

interface MockState {
  kind: string;
  closes: number;
  fds: number[];
  failed?: boolean;
}

function mockKind(name: string, type: number, priority: number, j: Journal, more: Partial<FileKind<MockState>> = {}): FileKind<MockState> {
  return {
    name,
    type,
    field: 'ext',
    priority,
    match: () => false,
    dump: () => {
      throw new Error('not used');
    },
    waitsFor: (_ctx, e) => waitsOf(e),
    state: {
      create: () => {
        j.step(`${name}: state`);
        const s: MockState = { kind: name, closes: 0, fds: [] };
        j.states.push(s);
        return s;
      },
      close: (s, failed) => {
        s.closes++;
        s.failed = failed;
        for (const fd of s.fds) fs.closeSync(fd);
        j.log.push(`${name}: close`);
      },
    },
    open: (_ctx, e, s, who) => {
      j.step(`${name}: open ${e.id}`);
      // something kept in the state, then the fd for the task
      const keep = fs.openSync('/dev/null', 'r');
      s.fds.push(keep);
      j.kept.push(keep);
      j.step(`${name}: made ${e.id}`);
      const fd = fs.openSync('/dev/null', 'r');
      j.opened.push(fd);
      expect(who).toContain('test');
      return fd;
    },
    afterInstall: (_ctx, e) => {
      j.step(`${name}: after ${e.id}`);
    },
    ...more,
  };
}

test('a staged open runs after the object it waits for', () => {
  const j = new Journal();
  const reg = new KindRegistry([mockKind('a', TYPE_A, 10, j), mockKind('b', TYPE_B, 20, j)]);
  // 3 (b) waits for 1 (a), which waits for 2 (b)
  const ctx = new FileCtx(
    images([
      { id: 1, type: TYPE_A, waits: [2] },
      { id: 2, type: TYPE_B },
      { id: 3, type: TYPE_B, waits: [1] },
    ]),
    reg,
  );
  const o = ctx.open(3, 'test: fd 5');
  expect(o.kind.name).toBe('b');
  expect(j.log.filter((l) => l.includes(': open'))).toEqual(['b: open 2', 'a: open 1', 'b: open 3']);
  // already open: not opened again, and the same fd
  expect(ctx.open(1, 'test: fd 6').fd).toBe(j.opened[1]);
  expect(j.log.filter((l) => l.includes(': open'))).toHaveLength(3);
  ctx.close();
  expect(j.opened.concat(j.kept).filter(isOpen)).toEqual([]);
});

test('a cycle of waits and a wait for a missing object fail, naming both objects', () => {
  const j = new Journal();
  const reg = new KindRegistry([mockKind('a', TYPE_A, 10, j), mockKind('b', TYPE_B, 20, j)]);
  const cyc = new FileCtx(
    images([
      { id: 1, type: TYPE_A, waits: [2] },
      { id: 2, type: TYPE_B, waits: [1] },
    ]),
    reg,
  );
  let err: unknown;
  try {
    cyc.open(1, 'task 7: fd 3 test');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FileError);
  expect((err as Error).message).toMatch(/^task 7: fd 3 test: .*cycle: file id 1 \(a\) waits for file id 2 \(b\) waits for file id 1 \(a\)/);
  expect((err as FileError).task).toBe(7);
  expect(j.opened).toEqual([]);
  cyc.close();

  const miss = new FileCtx(images([{ id: 1, type: TYPE_A, waits: [9] }]), reg);
  err = undefined;
  try {
    miss.open(1, 'test');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FileError);
  expect((err as Error).message).toMatch(/file id 1 \(a\) waits for file id 9, which is not in files\.img/);
  expect((err as FileError).object).toBe('file id 9');
  miss.close();

  // the scheduler alone: the same checks on a plain graph
  const g = (deps: Record<number, number[]>) => ({
    waitsFor: (id: number) => deps[id] ?? [],
    has: (id: number) => id in deps,
    done: () => false,
    describe: (id: number) => `object ${id}`,
  });
  expect(stagedOrder([1], g({ 1: [2, 3], 2: [3], 3: [] }), 'test')).toEqual([3, 2, 1]);
  expect(() => stagedOrder([1], g({ 1: [2], 2: [3], 3: [2] }), 'test')).toThrow(/object 2 waits for object 3 waits for object 2/);
  expect(() => stagedOrder([4], g({ 1: [] }), 'test')).toThrow(/file id 4 is not in files\.img/);
});

/** The whole sequence a restore runs on the mock kinds: opens with waits, after-install work. */
function runSequence(j: Journal): void {
  const reg = new KindRegistry([mockKind('a', TYPE_A, 10, j), mockKind('b', TYPE_B, 20, j)]);
  const ctx = new FileCtx(
    images([
      { id: 1, type: TYPE_A },
      { id: 2, type: TYPE_B, waits: [1] },
      { id: 3, type: TYPE_A, waits: [2] },
      { id: 4, type: TYPE_B },
    ]),
    reg,
  );
  const task = { pid: 1, inj: undefined as never, scratch: 0n };
  try {
    const got = [3, 4, 1].map((id) => ctx.open(id, 'test'));
    for (const o of got) ctx.afterInstall(o.kind, o.e, o.fd, task, 'test');
  } catch (e) {
    ctx.markFailed();
    throw e;
  } finally {
    ctx.close();
  }
}

test('every kind that made something cleans it up exactly once, whichever step fails', () => {
  const full = new Journal();
  runSequence(full);
  const n = full.steps;
  expect(n).toBeGreaterThan(8);
  for (let i = 1; i <= n + 1; i++) {
    const j = new Journal(i);
    let failed = false;
    try {
      runSequence(j);
    } catch (e) {
      failed = true;
      expect((e as Error).message).toContain(`step ${i}`);
    }
    expect(failed, `step ${i} of ${n}`).toBe(i <= n);
    // nothing leaked: every fd given to the FileCtx and every fd kept in a state is closed
    expect(j.opened.concat(j.kept).filter(isOpen), `open fds after a fault at step ${i} (${j.log[i - 1]})`).toEqual([]);
    // each state made was closed once, told whether the restore failed
    for (const s of j.states) {
      expect(s.closes, `${s.kind} after a fault at step ${i}`).toBe(1);
      expect(s.failed).toBe(i <= n);
    }
  }
});

test('hooks run in priority order; after a failure all run and none throws', () => {
  const calls: string[] = [];
  const hooked = (name: string, priority: number, bad = false): AnyKind => ({
    name,
    type: 200 + priority,
    field: 'ext',
    priority,
    match: () => false,
    dump: () => {
      throw new Error('not used');
    },
    open: () => -1,
    hooks: {
      beforeFreeze: (a) => {
        calls.push(`${name} beforeFreeze ${a.pid}`);
      },
      afterDump: (a) => {
        calls.push(`${name} afterDump ${a.ok}`);
        if (bad) throw new Error(`${name} fails`);
      },
      afterRestore: (a) => {
        calls.push(`${name} afterRestore ${a.ok}`);
      },
    },
  });
  const reg = new KindRegistry([hooked('low', 1), hooked('high', 3, true), hooked('mid', 2)]);
  reg.beforeFreeze({ pid: 42, imagesDir: '/x' });
  expect(calls.splice(0)).toEqual(['high beforeFreeze 42', 'mid beforeFreeze 42', 'low beforeFreeze 42']);
  reg.afterDump({ imagesDir: '/x', ok: false });
  expect(calls.splice(0)).toEqual(['high afterDump false', 'mid afterDump false', 'low afterDump false']);
  expect(() => reg.afterDump({ imagesDir: '/x', ok: true })).toThrow('high fails');
  calls.length = 0;
  // the restore's FileCtx calls afterRestore when it closes, with the outcome
  const ok = new FileCtx(images([]), reg);
  ok.close();
  const bad = new FileCtx(images([]), reg);
  bad.markFailed();
  bad.close();
  expect(calls).toEqual([
    'high afterRestore true',
    'mid afterRestore true',
    'low afterRestore true',
    'high afterRestore false',
    'mid afterRestore false',
    'low afterRestore false',
  ]);
});

test('the claim priority, not the order of the list, decides between two kinds that match', () => {
  const j = new Journal();
  const link: FdLink = { kind: 'path', raw: '/x', path: '/x', deleted: false };
  const info = { flags: 0, pos: 0n, ino: 1 } as Fdinfo;
  const both = (name: string, priority: number, claims?: (ctx: RestoreFdCtx, e: FileEntry) => boolean): FileKind<MockState> =>
    mockKind(name, TYPE_A, priority, j, { match: () => true, ...(claims ? { claims } : {}) });
  for (const order of [
    [0, 1],
    [1, 0],
  ]) {
    const ks = [both('wide', 10), both('narrow', 50)];
    const reg = new KindRegistry(order.map((i) => ks[i]));
    expect(reg.forFd(link, info)?.name).toBe('narrow');
    expect(reg.kinds.map((k) => k.name)).toEqual(['narrow', 'wide']);
  }
  // on restore: the higher kind takes the entries it claims, the lower one the rest
  const reg = new KindRegistry([both('wide', 10), both('narrow', 50, (_ctx, e) => e.id === 2)]);
  const ctx = new FileCtx(
    images([
      { id: 1, type: TYPE_A },
      { id: 2, type: TYPE_A },
    ]),
    reg,
  );
  expect(ctx.open(1, 'test').kind.name).toBe('wide');
  expect(ctx.open(2, 'test').kind.name).toBe('narrow');
  ctx.close();
  // two kinds of one priority would leave it to the order of the list: refused
  expect(() => new KindRegistry([both('x', 5), both('y', 5)])).toThrow(/x and y have the same priority 5/);
});

test('an eventfd whose fdinfo lacks eventfd-semaphore (before 6.6) is asked: semaphore mode found, counter and flags as they were', () => {
  for (const semaphore of [false, true])
    for (const count of [0n, 1n, 5n, 2n ** 40n])
      for (const nonblock of [false, true]) {
        const fd = Number(syscall('eventfd2', 0, O_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0) | (nonblock ? 0o4000 : 0)));
        try {
          if (count) writeFd(fd, Buffer.from(new BigUint64Array([count]).buffer));
          const before = fcntl(fd, 3 /* F_GETFL */, 0);
          expect(semaphoreByProbe(fd, count, 'eventfd'), `semaphore ${semaphore}, counter ${count}`).toBe(semaphore);
          expect(readFdinfo(process.pid, fd).eventfd?.count, `counter ${count} after the probe`).toBe(count);
          expect(fcntl(fd, 3, 0)).toBe(before);
        } finally {
          close(fd);
        }
      }
});
