// The restore's side of the fd kinds: the objects behind file ids, opened once in the tool and
// sent to every task that has them, with what each kind keeps until the restore ends.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileEntry } from './table.js';
import type { FileKind, RestoreFdCtx } from './kind.js';
import { kindOfType } from './registry.js';
import { closeMemfds } from './memfd.js';
import { removeGhostFiles } from './ghost.js';
import { readImage } from '../images/index.js';
import { close } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';

type Loaded = NonNullable<ReturnType<RestoreFdCtx['image']>>;

/** The objects behind file ids, opened once in the tool and sent to every task that has them. */
export class FileCtx implements RestoreFdCtx {
  readonly dir: string;
  readonly state = new Map<string, unknown>();
  who = '';
  private opened = new Map<number, number>();
  private images = new Map<string, Loaded | null>();
  constructor(private img: { dir: string; files: Map<number, unknown> }) { this.dir = img.dir; }
  image(file: string): Loaded | null {
    if (!this.images.has(file)) {
      const p = path.join(this.dir, file);
      this.images.set(file, fs.existsSync(p) ? readImage(p).entries.map((e) => ({ msg: e.msg as Loaded[number]['msg'], blob: e.blob })) : null);
    }
    return this.images.get(file)!;
  }
  file(id: number): FileEntry | undefined { return this.img.files.get(id) as FileEntry | undefined; }
  open(id: number, who: string): { fd: number; kind: FileKind; e: FileEntry } {
    const e = this.file(id);
    if (!e) throw new CriuError(`${who}: file id ${id} is not in files.img`);
    const kind = kindOfType(e.type);
    if (!kind) throw new NotSupportedError(`${who}: file of type ${e.type}`);
    let fd = this.opened.get(id);
    if (fd === undefined) {
      this.who = who;
      fd = kind.open(this, e);
      this.opened.set(id, fd);
    }
    return { fd, kind, e };
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
  /** what to undo once every task is restored (removed directories made again for a chdir) */
  readonly cleanups: (() => void)[] = [];
  close(): void {
    if (this.standInFd >= 0) { fs.closeSync(this.standInFd); this.standInFd = -1; }
    for (const c of this.cleanups.splice(0)) c();
    removeGhostFiles(this);
    closeMemfds(this);
    for (const fd of this.opened.values()) { try { close(fd); } catch { /* closed */ } }
    for (const v of this.state.values()) {
      const o = v as { r?: number; w?: number; fd?: number };
      for (const fd of [o?.r, o?.w, o?.fd]) if (typeof fd === 'number') { try { close(fd); } catch { /* closed */ } }
    }
    this.opened.clear();
  }
}

