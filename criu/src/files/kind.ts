// The contract of an fd kind, like CRIU's per-type file ops: one module per kind of file holds
// its dump and its restore next to each other, and `registry.ts` lists the kinds. What a kind
// may use of an engine comes through the contexts below; the engines reach the kinds only
// through the registry, the dump's FileTable (table.ts) and the restore's FileCtx
// (restore-ctx.ts).
//
// A kind declares:
//  - `priority`: which kind claims an fd (dump) or a file_entry (restore) when several could;
//    the highest wins, whatever the order of the list;
//  - `state`: what it keeps for one restore (the pipes it made, the ghost files on disk …), made
//    on first use and closed once at the end, told whether the restore failed; that close is the
//    kind's cleanup, so whatever a kind made is undone at every point a restore can fail;
//  - `waitsFor`: staged opens, as CRIU's: the file ids whose objects must be open before this
//    one (a tty slave after its master, a connect after its peer listens); the restore's
//    scheduler (schedule.ts) opens them first and names a cycle or a missing one;
//  - `hooks`: before the freeze, after the dump, before a dumped tree runs on, before a restored
//    tree is let go and after the restore (network locks, TCP repair, plugins);
//  - optionally the opens of the engine's own files: exe, cwd/root, file-backed mappings.
import type { FdLink, Fdinfo } from '../proc/index.js';
import type { FileTable } from './table.js';
import type { Injector } from '../ptrace/inject.js';
import type { FileEntry, GhostFileEntry, GhostChunkEntry, PagemapHead, PagemapEntry } from '../images/gen/types.js';
import type { Entry, EntryOf, PlainKind, Ghost, Pagemap } from '../images/typed.js';
import { CriuError, type ErrorDetails } from '../errors.js';

/** What a kind may do in the task being restored: run syscalls there, with a scratch area for their arguments. */
export interface TaskAccess {
  readonly pid: number;
  readonly inj: Injector;
  readonly scratch: bigint;
}

/** The part of a file_entry that holds one kind (reg, pipe, efd …). */
export type Part = Exclude<keyof FileEntry, 'type' | 'id'>;

/** The task a "task N: …" label names, for an error's details. */
export function taskOf(who: string): number | undefined {
  const m = /^task (\d+)/.exec(who);
  return m ? Number(m[1]) : undefined;
}

/** An error of an fd kind or of the files layer: the task, the object, what to try. */
export class FileError extends CriuError {
  /** `who` is the "task N: fd M" label the message starts with; `object` what failed (a path, an image, an id). */
  constructor(who: string, what: string, d: Omit<ErrorDetails, 'task'> = {}) {
    super(who ? `${who}: ${what}` : what, { task: taskOf(who), object: d.object, hint: d.hint });
  }
}

/** The `field` part of `e`, which the images loader checked is there; a FileError if it is not. */
export function partOf<F extends Part>(e: FileEntry, field: F, who: string): NonNullable<FileEntry[F]> {
  const p = e[field];
  if (p === undefined || p === null) {
    throw new FileError(who, `file id ${e.id} of type ${e.type} has no ${field} part`, { object: `files.img entry ${e.id}`, hint: 'the image is damaged' });
  }
  return p;
}

// ---------------------------------------------------------------- the dump's extra images

/** Image kinds a dump writes besides files.img: plain ones, ghost files, shmem pagemaps, raw pages. */
export type ExtraKind = PlainKind | 'GHOST_FILE' | 'PAGEMAP' | 'RAW';
/** The messages of an extra image of kind K. */
export type ExtraMsg<K extends ExtraKind> = K extends PlainKind
  ? EntryOf<K>
  : K extends 'GHOST_FILE'
    ? GhostFileEntry | GhostChunkEntry
    : K extends 'PAGEMAP'
      ? PagemapHead | PagemapEntry
      : Record<string, never>;
export interface ExtraImage {
  readonly kind: ExtraKind;
  readonly entries: ExtraMsg<ExtraKind>[];
  readonly blobs: (Buffer | undefined)[];
}

/** Entries for image files other than files.img (pipes-data.img, ghost files …), written at the end of a dump. */
export class ExtraImages {
  readonly images = new Map<string, ExtraImage>();
  /** work left for the end of the dump (still frozen), in the order it was noted */
  readonly deferred = new Map<string, () => void>();
  add<K extends ExtraKind>(kind: K, file: string, entry: ExtraMsg<K>, blob?: Buffer): void {
    let img = this.images.get(file);
    if (!img) {
      img = { kind, entries: [], blobs: [] };
      this.images.set(file, img);
    }
    if (img.kind !== kind) throw new FileError('', `${file} is written as ${img.kind} and as ${kind}`, { object: file });
    img.entries.push(entry as ExtraMsg<ExtraKind>);
    img.blobs.push(blob);
  }
}

// ---------------------------------------------------------------- contexts

export interface DumpFdCtx {
  pid: number;
  fd: number;
  link: FdLink;
  info: Fdinfo;
  files: FileTable;
  extra: ExtraImages;
  /** the tool's own copy of the task's fd (pidfd_getfd); the caller closes it */
  takeFd(): number;
  ghostLimit: number;
  /** the command line's TCP options and the tool's network namespace id (inet sockets) */
  inet?: { tcpEstablished: boolean; skipInFlight: boolean; netNsId: number; tcpClose?: boolean };
  /** a fresh pages-N.img number (memfd contents), shared with the rest of the dump */
  allocPagesId?: () => number;
}

/** Where a dump's extra entries go, and how pages ids are handed out (for mapped objects). */
export interface DumpEnv {
  files: FileTable;
  extra: ExtraImages;
  allocPagesId?: () => number;
}

export interface RestoreFdCtx {
  readonly dir: string;
  /** a plain image of the dump of kind K, read once on first use (null when the file is absent) */
  image<K extends PlainKind>(name: string, kind: K): Entry<K>[] | null;
  /** a ghost-file-N.img (null when absent) */
  ghost(name: string): Ghost | null;
  /** a pagemap image (pagemap-shmem-N.img …; null when absent) */
  pagemap(name: string): Pagemap | null;
  /** a file_entry of files.img by id */
  file(id: number): FileEntry | undefined;
  /** every file_entry of files.img (a unix socket finds its peer by inode) */
  entries(): Iterable<FileEntry>;
  /** the restore's --tcp-established and --tcp-close */
  readonly tcp?: { established: boolean; close: boolean };
  /** -j/--shell-job: a terminal whose master is outside the tree is the restoring criu's own (tty.ts) */
  readonly shellJob?: boolean;
  /** the tool's fd on the object of file `id`, opened once as for a task (the files a queue carries in SCM_RIGHTS) */
  openFile(id: number, who: string): number;
}

/** What a kind keeps for one restore: made on first use, closed once when the restore ends. */
export interface KindState<S> {
  create(): S;
  /** the kind's cleanup: close what it holds, remove what it made; `failed` when the restore failed */
  close(s: S, failed: boolean): void;
}

/** The engine's own places of a task: opened by path, not held as fds. */
export type PathUse = 'exe' | 'cwd' | 'root';

export interface DumpHookArgs {
  pid: number;
  imagesDir: string;
  /** TCP connections and the network lock: --tcp-established, --tcp-close, --network-lock, the dump's run id */
  net?: { tcpEstablished: boolean; tcpClose: boolean; lockMethod: 'iptables' | 'nftables' | 'skip'; runId: string };
}
export interface RestoredRunArgs {
  imagesDir: string;
  /** files.img's entries as the restore read them (a hook need not read the image again) */
  files?: () => Iterable<FileEntry>;
}
export interface EndHookArgs extends RestoredRunArgs {
  ok: boolean;
}

/** Calls at the edges of a dump or restore (all optional; in priority order, see registry.ts). */
export interface FileHooks {
  /** before the tree is frozen (a failure stops the dump before anything is touched) */
  beforeFreeze?(a: DumpHookArgs): void;
  /** once the dump is over, written (ok) or undone (!ok) */
  afterDump?(a: EndHookArgs): void;
  /** a dumped tree is about to run on (-R, or a failed dump): whatever was held for the dump is let go first */
  beforeResume?(): void;
  /** a restored tree is about to be let go (the restore succeeded so far): TCP repair off, network unlocked */
  beforeRestoredRun?(a: RestoredRunArgs): void;
  /** once the restore is over, the tree running (ok) or killed (!ok) */
  afterRestore?(a: EndHookArgs): void;
}

/**
 * An fd kind. `S` is the type of what it keeps during a restore (see `state`); the methods take
 * it as an argument, so a kind never looks its state up by name.
 */
export interface FileKind<S = unknown> {
  /** for messages and logs */
  readonly name: string;
  /** fd_types value (FdTypes), and the file_entry part that holds this kind */
  readonly type: number;
  readonly field: Part;
  /** which kind claims an fd or a file_entry when several could: the highest */
  readonly priority: number;

  // dump
  match(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): boolean;
  /** the file_entry of a new open file description; `id` is already allocated */
  dump(ctx: DumpFdCtx, id: number): FileEntry;
  /** the entry of a path the engine opens itself (exe, mapped files, cwd, root), seen through statPath */
  dumpPath?(id: number, path: string, statPath: string): FileEntry;
  /** a removed directory still used as a task's cwd: its remap, for the entry `id` of dumpPath */
  dumpRemovedDir?(env: DumpEnv, id: number, path: string, statPath: string): void;
  /** the entry of a removed file a task maps or runs ("… (deleted)"), seen through statPath, with its remap */
  dumpDeletedPath?(env: DumpEnv, id: number, raw: string, statPath: string, who: string): FileEntry;
  /** the entry of an object a task maps (a memfd VMA), read through /proc/PID/map_files */
  dumpMapped?(env: DumpEnv, id: number, m: MappedObject): FileEntry;

  // restore
  /** whether this kind restores `e` (default: every entry of its type) */
  claims?(ctx: RestoreFdCtx, e: FileEntry): boolean;
  readonly state?: KindState<S>;
  /** staged opens: the file ids that must be opened before `e` */
  waitsFor?(ctx: RestoreFdCtx, e: FileEntry): number[];
  /** open the object in the tool, ready to send to a task; called once per file id */
  open(ctx: RestoreFdCtx, e: FileEntry, s: S, who: string): number;
  /**
   * the object's name for `--inherit-fd` (CRIU's file_desc_ops `name`: `pipe:[ID]`,
   * `socket:[INO]` …): when the caller passed an fd for it, that fd is used and `open` (and
   * what the object waits for) is skipped
   */
  inheritKey?(ctx: RestoreFdCtx, e: FileEntry): string | undefined;
  /** the tool's fd for `e` from the caller's `fd` (default: `fd` as it is); a pipe reopens it with the entry's flags */
  openInherited?(ctx: RestoreFdCtx, e: FileEntry, fd: number, who: string): number;
  /** after every fd of the task is in place (epoll targets, …) */
  afterInstall?(ctx: RestoreFdCtx, e: FileEntry, fd: number, task: TaskAccess, s: S, who: string): void;
  /** a new fd of the tool on the object of `e`, to map it with `flags` (vma_entry.fdflags) */
  openMapped?(ctx: RestoreFdCtx, e: FileEntry, flags: number, s: S, who: string): number;
  /**
   * the exe, cwd or root of a task: an fd of the tool on it (exe), or -1 once its path is ready
   * to use (cwd, root); undefined when this kind leaves `e` to the next one
   */
  openPath?(ctx: RestoreFdCtx, e: FileEntry, use: PathUse, s: S, who: string): number | undefined;

  readonly hooks?: FileHooks;
}

/** A kind whatever its state type (the methods are bivariant in S). */
export type AnyKind = FileKind<unknown>;

/** A mapping of a task whose object is a file of some kind. */
export interface MappedObject {
  pid: number;
  start: bigint;
  end: bigint;
  name: string;
  flags: number;
}
