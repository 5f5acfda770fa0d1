// The file table of a dump: one file_entry per open file description, ids handed out in the
// order CRIU uses (the exe first, then fds by number, then cwd and root), shared descriptions
// found by kcmp(KCMP_FILE) so that fds 0-2 on one /dev/null are one entry. The engine's own
// files (exe, mapped files, cwd, root) are dumped here too, by the kinds that handle them.
import * as fs from 'node:fs';
import { kcmp, KCMP } from '../sys/libc.js';
import type { FileEntry } from '../images/gen/types.js';
import type { DumpEnv, ExtraImages, MappedObject } from './kind.js';
import { FileError } from './kind.js';
import { FILES } from './registry.js';

export class FileTable {
  readonly entries: FileEntry[] = [];
  private byPath = new Map<string, number>();
  private byFd = new Map<number, { pid: number; fd: number; id: number }[]>();
  private nextId = 1;
  /** objects whose extra data is already dumped (a pipe's buffer once per pipe, …) */
  readonly seen = new Set<string>();
  /** the pids of the dumped tree (a pidfd must name one of them) */
  tree: ReadonlySet<number> = new Set();

  allocId(): number {
    return this.nextId++;
  }
  add(e: FileEntry): number {
    this.entries.push(e);
    return e.id;
  }

  /** An id for a path opened by the tool's own rules (exe, mapped files, cwd, root). */
  pathId(path: string, make: (id: number) => FileEntry): number {
    const known = this.byPath.get(path);
    if (known !== undefined) return known;
    const id = this.allocId();
    this.byPath.set(path, id);
    this.add(make(id));
    return id;
  }

  /** The id of the exe or a mapped file at `path` (seen through `statPath`), one per path. */
  dumpPath(path: string, statPath: string): number {
    const k = FILES.withMethod('dumpPath');
    if (!k) throw new FileError('', `no fd kind dumps paths (${path})`, { object: path });
    return this.pathId(path, (id) => k.dumpPath(id, path, statPath));
  }

  /**
   * The id of a removed file a task maps or runs (`raw` ends in " (deleted)"), one per inode,
   * dumped with its remap (a ghost or a link remap) by the kind that has dumpDeletedPath.
   */
  dumpDeleted(extra: ExtraImages, raw: string, statPath: string, who: string): number {
    const k = FILES.withMethod('dumpDeletedPath');
    if (!k) throw new FileError(who, `no fd kind dumps removed files (${raw})`, { object: raw });
    const st = fs.statSync(statPath, { bigint: true });
    return this.pathId(`\0deleted:${st.dev}:${st.ino}`, (id) => k.dumpDeletedPath(this.envOf(extra), id, raw, statPath, who));
  }
  private envOf(extra: ExtraImages): DumpEnv {
    return { files: this, extra };
  }

  /**
   * A new id for a task's cwd or root, `link` as /proc shows it (a cwd whose directory was
   * removed ends in " (deleted)" and is remapped to a ghost directory).
   */
  dumpPlace(extra: ExtraImages, use: 'cwd' | 'root', link: string, statPath: string): number {
    const k = FILES.withMethod('dumpPath');
    if (!k) throw new FileError('', `no fd kind dumps paths (${link})`, { object: link });
    const id = this.allocId();
    const gone = use === 'cwd' && link.endsWith(' (deleted)');
    const p = gone ? link.slice(0, -' (deleted)'.length) : link;
    this.add(k.dumpPath(id, p, statPath));
    if (gone) {
      const g = FILES.withMethod('dumpRemovedDir');
      if (!g) throw new FileError('', `no fd kind dumps removed directories (${p})`, { object: p });
      g.dumpRemovedDir({ files: this, extra }, id, p, statPath);
    }
    return id;
  }

  /** A new id for the object a task maps at m.start-m.end (a memfd), dumped by its kind. */
  dumpMapped(env: Omit<DumpEnv, 'files'>, m: MappedObject): number {
    const k = FILES.withMethod('dumpMapped');
    if (!k) throw new FileError(`task ${m.pid}`, `no fd kind dumps mapped objects (${m.name})`, { object: m.name });
    const id = this.allocId();
    this.add(k.dumpMapped({ ...env, files: this }, id, m));
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
      } catch {
        /* the other task or fd is gone: not the same */
      }
    }
    return undefined;
  }
  /** The file id of an fd on inode `ino` already dumped (a packet socket a ring maps), if any. */
  idOfIno(ino: number): number | undefined {
    return this.byFd.get(ino)?.[0]?.id;
  }
  noteFd(pid: number, fd: number, ino: number, id: number): void {
    let g = this.byFd.get(ino);
    if (!g) {
      g = [];
      this.byFd.set(ino, g);
    }
    g.push({ pid, fd, id });
  }
}

export function fstatPath(path: string): fs.Stats | null {
  try {
    return fs.statSync(path);
  } catch {
    return null;
  }
}
