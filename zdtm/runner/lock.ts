// `excl` tests run alone: a reader/writer lock over the workers of one run, in files. Every
// test takes it shared, an excl test exclusively; a waiting excl test keeps new tests out.
import * as fs from 'node:fs';
import * as path from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes lock files of workers that died. */
function dropStale(dir: string): void {
  for (const f of fs.readdirSync(dir)) {
    const pid = Number(/^(?:r|w)-(\d+)-/.exec(f)?.[1] ?? /^writer-(\d+)/.exec(f)?.[1]);
    if (pid && !pidAlive(pid)) fs.rmSync(path.join(dir, f), { force: true });
  }
}

export interface Held {
  release(): void;
  waitedMs: number;
}

export async function acquire(dir: string, exclusive: boolean, id: string): Promise<Held> {
  fs.mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const writer = path.join(dir, `writer-${process.pid}`);
  const me = path.join(dir, `r-${process.pid}-${id.replace(/[^\w.-]/g, '_')}`);
  const writers = () => fs.readdirSync(dir).filter((f) => f.startsWith('writer-'));
  const readers = () => fs.readdirSync(dir).filter((f) => f.startsWith('r-'));
  if (!exclusive) {
    for (;;) {
      if (writers().length === 0) {
        fs.writeFileSync(me, '');
        if (writers().length === 0) break;
        fs.rmSync(me, { force: true });
      }
      dropStale(dir);
      await sleep(100);
    }
    return { release: () => fs.rmSync(me, { force: true }), waitedMs: Date.now() - t0 };
  }
  // one writer at a time: the writer file is created exclusively
  for (;;) {
    try {
      fs.writeFileSync(path.join(dir, 'wlock'), String(process.pid), { flag: 'wx' });
      break;
    } catch {
      // the holder may let go between the two calls: no file is no holder
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(path.join(dir, 'wlock'), 'utf8') || 0);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (holder && !pidAlive(holder)) fs.rmSync(path.join(dir, 'wlock'), { force: true });
      await sleep(100);
    }
  }
  fs.writeFileSync(writer, id);
  while (readers().length) {
    dropStale(dir);
    await sleep(100);
  }
  return {
    release: () => {
      fs.rmSync(writer, { force: true });
      fs.rmSync(path.join(dir, 'wlock'), { force: true });
    },
    waitedMs: Date.now() - t0,
  };
}

/**
 * Terminals are numbered machine-wide (the host's devpts gives the lowest free index), and a
 * restored pty must get its dumped index back: every test that dumps and restores a pty, or
 * opens ptys while another may be dumped (node-pty), holds this lock, across workers, projects
 * and runs of the same machine.
 */
export const PTY_LOCK_DIR = '/tmp/criu-ts-locks/pty';
export const ptyLock = (id: string): Promise<Held> => acquire(PTY_LOCK_DIR, true, id);
