// `--inherit-fd fd[N]:RES` on restore (CRIU's files.c inherit_fd_*): the caller passes an fd of
// its own (a pipe, a socket, a file, a terminal it made) and names the object of the images it
// stands for; the restore gives the tasks that fd instead of making the object. RES is the
// object's name as CRIU prints it (its file_desc_ops `name`):
//   pipe:[PIPE_ID]   socket:[INODE]   tty[RDEV:DEV] (hex)   /memfd:NAME
//   path/to/file     (a regular file: its image path without the leading '/')
// `debug[N]:TEXT` writes TEXT to fd N and inherits nothing, as CRIU does (a marker in a log).
// The fds come to the tool from the caller through the launcher (both leave them open); the tool
// moves them above its other fds first, as CRIU moves them to its fdstore, so that the fd numbers
// the restore hands out can never meet them.
import * as fs from 'node:fs';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { fcntl, close } from '../sys/libc.js';

const F_DUPFD_CLOEXEC = 1030;
/** where the tool keeps the inherited fds (CRIU's fdstore sits at the top of its service fds) */
const STORE_FROM = 900;

export interface InheritSpec {
  /** the caller's fd */
  fd: number;
  /** the object it stands for (RES) */
  key: string;
}

/** One `--inherit-fd` argument: the fd and the object's key, or null for a `debug[N]:TEXT`, which is written at once. */
export function parseInheritFd(arg: string): InheritSpec | null {
  const m = /^(fd|debug)\[(\d+)\]:(.+)$/s.exec(arg);
  if (!m) throw new CriuError(`Invalid inherit fd argument: ${arg}`, { hint: 'the form is fd[N]:RES, e.g. fd[5]:pipe:[123456] or fd[0]:tty[8800:d]' });
  const fd = Number(m[2]);
  if (m[1] === 'debug') {
    const b = Buffer.from(m[3]);
    let n: number;
    try {
      n = fs.writeSync(fd, b);
    } catch {
      n = -1;
    }
    if (n !== b.length) throw new CriuError(`Can't write debug message ${m[3]} to inherit fd ${fd}`);
    return null;
  }
  return { fd, key: m[3] };
}

/** The inherited fds of one restore, by key. */
export class Inherited {
  private byKey = new Map<string, number>();
  private used = new Set<string>();

  /** Checks that every fd is open (CRIU's fstat) and moves it to the tool's store. */
  constructor(specs: readonly InheritSpec[]) {
    for (const s of specs) {
      try {
        fs.fstatSync(s.fd);
      } catch (e) {
        this.close();
        throw new CriuError(`Can't fstat inherit fd ${s.fd}: ${(e as Error).message}`, {
          object: `--inherit-fd fd[${s.fd}]:${s.key}`,
          hint: 'the caller must leave that fd open (not close-on-exec) when it runs criu',
        });
      }
      const kept = fcntl(s.fd, F_DUPFD_CLOEXEC, STORE_FROM);
      const old = this.byKey.get(s.key);
      if (old !== undefined) close(old);
      this.byKey.set(s.key, kept);
      log.info(`File ${s.key} will be restored from inherit fd ${s.fd}`);
    }
  }

  get size(): number {
    return this.byKey.size;
  }
  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** A new fd of the tool on the caller's object for `key` (the caller of this closes it), or undefined. */
  take(key: string): number | undefined {
    const fd = this.byKey.get(key);
    if (fd === undefined) return undefined;
    this.used.add(key);
    log.info(`File ${key} will be restored from inherit fd ${fd}`);
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
  }

  /** Keys given and never asked for (said at the end: a misspelt key is the usual mistake). */
  unused(): string[] {
    return [...this.byKey.keys()].filter((k) => !this.used.has(k));
  }

  close(): void {
    for (const fd of this.byKey.values()) {
      try {
        close(fd);
      } catch {
        /* closed */
      }
    }
    this.byKey.clear();
  }
}
