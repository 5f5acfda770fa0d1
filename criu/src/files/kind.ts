// The ops table of an fd kind, like CRIU's per-type file ops: one module per kind of file
// holds its dump and its restore next to each other, and `registry.ts` lists the kinds.
import type { FdLink, Fdinfo } from '../proc/index.js';
import type { FileTable, FileEntry } from './table.js';
import type { Injector } from '../ptrace/inject.js';

/** Entries for image files other than files.img (pipes-data.img, ghost files …), written at the end of a dump. */
/** What a kind may do in the task being restored: run syscalls there, with a scratch area for their arguments. */
export interface TaskAccess { readonly pid: number; readonly inj: Injector; readonly scratch: bigint }

export class ExtraImages {
  readonly images = new Map<string, { entries: object[]; blobs: (Buffer | undefined)[] }>();
  /** work left for the end of the dump (still frozen), in the order it was noted */
  readonly deferred = new Map<string, () => void>();
  add(file: string, entry: object, blob?: Buffer): void {
    let img = this.images.get(file);
    if (!img) { img = { entries: [], blobs: [] }; this.images.set(file, img); }
    img.entries.push(entry);
    img.blobs.push(blob);
  }
}

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
  /** a fresh pages-N.img number (memfd contents), shared with the rest of the dump */
  allocPagesId?: () => number;
}

export interface RestoreFdCtx {
  dir: string;
  /** a whole image of the dump, read once on first use (null when the file is absent) */
  image(file: string): { msg: Record<string, any>; blob?: Buffer }[] | null;
  /** a file_entry of files.img by id */
  file(id: number): FileEntry | undefined;
  who: string;
  /** per-restore state a kind keeps (created pipes by pipe_id, …) */
  state: Map<string, unknown>;
}

export interface FileKind {
  readonly name: string;
  /** fd_types value, and the file_entry field that holds this kind (reg, pipe, efd …) */
  readonly type: number;
  readonly field: string;
  match(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): boolean;
  /** the file_entry of a new open file description; `id` is already allocated */
  dump(ctx: DumpFdCtx, id: number): FileEntry;
  /** open the object in the tool, ready to send to a task; called once per file id */
  open(ctx: RestoreFdCtx, e: FileEntry): number;
  /** after every fd of the task is in place (epoll targets, …) */
  afterInstall?(ctx: RestoreFdCtx, e: FileEntry, fd: number, p: TaskAccess): void;
}
