// The file table of a dump: one file_entry per open file description, ids handed out in the
// order CRIU uses (the exe first, then fds by number, then cwd and root), shared descriptions
// found by kcmp(KCMP_FILE) so that fds 0-2 on one /dev/null are one entry.
import * as fs from 'node:fs';
import { kcmp, KCMP } from '../sys/libc.js';

export const FD_TYPES = {
  UND: 0, REG: 1, PIPE: 2, FIFO: 3, INETSK: 4, UNIXSK: 5, EVENTFD: 6, EVENTPOLL: 7, INOTIFY: 8,
  SIGNALFD: 9, PACKETSK: 10, TTY: 11, FANOTIFY: 12, NETLINKSK: 13, NS: 14, TUNF: 15, EXT: 16,
  TIMERFD: 17, MEMFD: 18, BPFMAP: 19, PIDFD: 20,
} as const;

export type FileEntry = { type: number; id: number; [kind: string]: unknown };

export class FileTable {
  readonly entries: FileEntry[] = [];
  private byPath = new Map<string, number>();
  private byFd = new Map<number, { pid: number; fd: number; id: number }[]>();
  private nextId = 1;
  /** objects whose extra data is already dumped (a pipe's buffer once per pipe, …) */
  readonly seen = new Set<string>();

  allocId(): number { return this.nextId++; }
  add(e: FileEntry): number { this.entries.push(e); return e.id; }

  /** An id for a path opened by the tool's own rules (exe, mapped files, cwd, root). */
  pathId(path: string, make: (id: number) => FileEntry): number {
    const known = this.byPath.get(path);
    if (known !== undefined) return known;
    const id = this.allocId();
    this.byPath.set(path, id);
    this.add(make(id));
    return id;
  }

  /**
   * The id of a file description already seen in an fd of this or another task. Only fds on the
   * same inode can share a description, so kcmp runs within that group alone (a task with
   * thousands of fds would otherwise cost a kcmp per pair).
   */
  sameAs(pid: number, fd: number, ino: number): number | undefined {
    for (const k of this.byFd.get(ino) ?? []) {
      try {
        if (kcmp(pid, k.pid, KCMP.FILE, fd, k.fd) === 0) return k.id;
      } catch { /* the other task or fd is gone: not the same */ }
    }
    return undefined;
  }
  noteFd(pid: number, fd: number, ino: number, id: number): void {
    let g = this.byFd.get(ino);
    if (!g) { g = []; this.byFd.set(ino, g); }
    g.push({ pid, fd, id });
  }
}

export function fstatPath(path: string): fs.Stats | null {
  try { return fs.statSync(path); } catch { return null; }
}
