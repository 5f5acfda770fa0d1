// The restore's side of the fd kinds: the objects behind file ids, opened once in the tool and
// sent to every task that has them, in the order the kinds' staged opens ask for, with what each
// kind keeps (its typed state) until the restore ends, when every kind that made something
// cleans it up, once.
import * as fs from 'node:fs';
import type { FileEntry } from '../images/gen/types.js';
import type { AnyKind, RestoreFdCtx, TaskAccess, PathUse } from './kind.js';
import { FileError } from './kind.js';
import { FILES, type KindRegistry } from './registry.js';
import { stagedOrder } from './schedule.js';
import { readOptional, readGhost, readPagemap, type Entry, type Ghost, type Pagemap, type PlainKind } from '../images/typed.js';
import { close } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import type { Inherited } from './inherit.js';
import * as path from 'node:path';

/** The objects behind file ids, opened once in the tool and sent to every task that has them. */
export class FileCtx implements RestoreFdCtx {
  readonly dir: string;
  private opened = new Map<number, { fd: number; kind: AnyKind }>();
  private states = new Map<AnyKind, unknown>();
  private images = new Map<string, unknown>();
  private failed = false;
  constructor(
    private img: { dir: string; files: Map<number, unknown> },
    private kinds: KindRegistry = FILES,
  ) {
    this.dir = img.dir;
  }

  private cached<T>(name: string, read: () => T): T {
    if (!this.images.has(name)) this.images.set(name, read());
    return this.images.get(name) as T;
  }
  image<K extends PlainKind>(name: string, kind: K): Entry<K>[] | null {
    return this.cached(`${kind}:${name}`, () => readOptional(this.dir, name, kind));
  }
  ghost(name: string): Ghost | null {
    const p = path.join(this.dir, name);
    return this.cached(`GHOST_FILE:${name}`, () => (fs.existsSync(p) ? readGhost(p, { name }) : null));
  }
  pagemap(name: string): Pagemap | null {
    const p = path.join(this.dir, name);
    return this.cached(`PAGEMAP:${name}`, () => (fs.existsSync(p) ? readPagemap(p, { name }) : null));
  }
  file(id: number): FileEntry | undefined {
    return this.img.files.get(id) as FileEntry | undefined;
  }
  entries(): Iterable<FileEntry> {
    return this.img.files.values() as Iterable<FileEntry>;
  }

  openFile(id: number, who: string): number {
    return this.open(id, who).fd;
  }

  /** The state of `kind` for this restore, made on first use. */
  stateOf<S>(kind: AnyKind & { state?: { create(): S } }): S {
    if (!kind.state) return undefined as S;
    if (!this.states.has(kind)) this.states.set(kind, kind.state.create());
    return this.states.get(kind) as S;
  }

  private entry(id: number, who: string): { e: FileEntry; kind: AnyKind } {
    const e = this.file(id);
    if (!e) throw new FileError(who, `file id ${id} is not in files.img`, { object: `file id ${id}`, hint: 'the image is damaged or incomplete' });
    const kind = this.kinds.forEntry(this, e);
    if (!kind) throw new NotSupportedError(`${who}: file of type ${e.type}`, { object: `file id ${id}` });
    return { e, kind };
  }

  /** The tool's fd on the object of file `id` (opened once), after whatever its open waits for. */
  open(id: number, who: string): { fd: number; kind: AnyKind; e: FileEntry } {
    const known = this.opened.get(id);
    if (known) return { ...known, e: this.file(id)! };
    const order = stagedOrder(
      [id],
      {
        waitsFor: (x) => {
          const { e, kind } = this.entry(x, who);
          if (this.inheritedKey(kind, e) !== undefined) return [];
          return kind.waitsFor?.(this, e) ?? [];
        },
        has: (x) => this.file(x) !== undefined,
        done: (x) => this.opened.has(x),
        describe: (x) => {
          const e = this.file(x);
          const k = e && this.kinds.forEntry(this, e);
          return `file id ${x}${k ? ` (${k.name})` : ''}`;
        },
      },
      who,
    );
    for (const x of order) {
      const { e, kind } = this.entry(x, who);
      const by = x === id ? who : `${who}: file id ${x}, wanted first by file id ${id}`;
      const key = this.inheritedKey(kind, e);
      const fd = key !== undefined ? this.openInherited(kind, e, key, by) : kind.open(this, e, this.stateOf(kind), by);
      this.opened.set(x, { fd, kind });
    }
    const o = this.opened.get(id)!;
    return { ...o, e: this.file(id)! };
  }

  /** --inherit-fd: the caller's fds, by the name of the object each stands for */
  inherit?: Inherited;

  /** The key of `e` when the caller passed an fd for it. */
  private inheritedKey(kind: AnyKind, e: FileEntry): string | undefined {
    if (!this.inherit?.size || !kind.inheritKey) return undefined;
    const key = kind.inheritKey(this, e);
    return key !== undefined && this.inherit.has(key) ? key : undefined;
  }

  private openInherited(kind: AnyKind, e: FileEntry, key: string, who: string): number {
    const fd = this.inherit!.take(key)!;
    log.info(`${who}: file id ${e.id} (${kind.name}) is the caller's inherited fd for ${key}`);
    if (!kind.openInherited) return fd;
    try {
      return kind.openInherited(this, e, fd, who);
    } finally {
      close(fd);
    }
  }

  /** The kind's work once every fd of the task is in place (epoll targets …). */
  afterInstall(kind: AnyKind, e: FileEntry, fd: number, task: TaskAccess, who: string): void {
    kind.afterInstall?.(this, e, fd, task, this.stateOf(kind), who);
  }

  /** A new fd of the tool on the object of file `id`, to map (the caller closes it). */
  openMapped(id: number, who: string, flags: number): number {
    const e = this.file(id);
    if (!e) throw new FileError(who, `file id ${id} is not in files.img`, { object: `file id ${id}` });
    const kind = this.kinds.ofType(e.type).find((k) => k.openMapped && (k.claims?.(this, e) ?? true));
    if (!kind?.openMapped) throw new NotSupportedError(`${who}: a mapping of a file of type ${e.type}`, { object: `file id ${id}` });
    return kind.openMapped(this, e, flags, this.stateOf(kind), who);
  }

  /** The exe (an fd of the tool, which the caller closes), or a cwd/root made ready (-1). */
  openPath(id: number, who: string, use: PathUse): number {
    const e = this.file(id);
    if (!e) throw new FileError(who, `file id ${id} (${use}) is not in files.img`, { object: `file id ${id}` });
    for (const kind of this.kinds.ofType(e.type)) {
      const r = kind.openPath?.(this, e, use, this.stateOf(kind), who);
      if (r !== undefined) return r;
    }
    if (use === 'exe') throw new NotSupportedError(`${who}: an exe of file type ${e.type}`, { object: `file id ${id}` });
    return -1;
  }

  private standInFd = -1;
  /** an fd of ours to fill gaps between fd numbers while fds are passed in batches */
  standIn(): number {
    if (this.standInFd < 0) this.standInFd = fs.openSync('/dev/null', 'r');
    return this.standInFd;
  }
  /** fd tables (files_id) already filled, and those whose transport fd is closed */
  readonly tables = new Set<number>();
  readonly transportClosed = new Set<number>();
  /** --file-locks: the locks of filelocks.img are taken again (CRIU ignores the image without it) */
  fileLocks = false;
  /** --tcp-established / --tcp-close of the restore */
  tcp = { established: false, close: false };
  /** the tree is about to be let go: the kinds' last word (TCP repair off, network unlocked) */
  beforeRun(): void {
    this.kinds.beforeRestoredRun({ imagesDir: this.dir, files: () => this.entries() });
  }
  /** -j/--shell-job (the tty kind hands out criu's own terminal for the shell's) */
  shellJob = false;
  /** the tool's fds on shared anonymous memory objects, by shmid (made by the restore engine) */
  readonly shmem = new Map<number, number>();

  /** The restore failed: the kinds' cleanups and hooks are told so. */
  markFailed(): void {
    this.failed = true;
  }

  /** Ends the restore: every kind's state is closed (its cleanup), then the fds of the tool. */
  close(): void {
    if (this.standInFd >= 0) {
      fs.closeSync(this.standInFd);
      this.standInFd = -1;
    }
    for (const kind of this.kinds.kinds) {
      if (!this.states.has(kind)) continue;
      const s = this.states.get(kind);
      this.states.delete(kind);
      try {
        kind.state!.close(s, this.failed);
      } catch (e) {
        log.warn(`fd kind ${kind.name}: cleanup failed: ${(e as Error).message}`);
      }
    }
    for (const o of this.opened.values()) {
      try {
        close(o.fd);
      } catch {
        /* closed */
      }
    }
    this.opened.clear();
    for (const fd of this.shmem.values()) {
      try {
        close(fd);
      } catch {
        /* closed */
      }
    }
    this.shmem.clear();
    if (this.inherit) {
      for (const k of this.inherit.unused()) log.warn(`--inherit-fd: no file of the images is ${k}; that fd was not used`);
      this.inherit.close();
    }
    this.kinds.afterRestore({ imagesDir: this.dir, ok: !this.failed, files: () => this.entries() });
  }
}
