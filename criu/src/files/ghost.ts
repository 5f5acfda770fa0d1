// Ghost files: regular files a task holds open after their last name was removed ("… (deleted)"
// links, nlink 0). As CRIU does, the file keeps its reg_file_entry (path without " (deleted)",
// flags, position), remap-fpath.img maps it to a ghost id (remap_type GHOST), and
// ghost-file-<id in hex>.img holds a ghost_file_entry with the owner, mode, times and the
// contents: whole after the entry for small files, as (off, len) chunks of data for files of
// 3 pages and more, so holes stay holes. One ghost per inode, however many fds hold it.
//
// On restore the ghost is made once as "<path>.cr.<id>.ghost" in the same directory; each file
// description is opened through a link at the original path, which is removed again at once, so
// the task's fd shows "<path> (deleted)" as before. The ghost goes when its last user is open.
//
// The entry is a REG file_entry: this kind outranks regKind (its priority) and claims the REG
// entries that have a ghost remap; regKind restores the others.
import * as fs from 'node:fs';
import { writeAll } from '../sys/io.js';
import * as path from 'node:path';
import type { FileTable } from './table.js';
import type { FileKind, DumpFdCtx, RestoreFdCtx, DumpEnv } from './kind.js';
import { FileError, partOf } from './kind.js';
import { dumpReg, openReg, O } from './reg.js';
import { lseek, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FdTypes, type FileEntry, type RegFileEntry } from '../images/gen/types.js';
import { dumpFown, where, kernelDev, O_CLOEXEC } from './fdparams.js';
import { RemapType, type GhostFileEntry, type RemapFilePathEntry } from '../images/index.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { isMemfdLink } from './memfd.js';

export const REMAP_FPATH = 'remap-fpath.img';
export const ghostImage = (id: number): string => `ghost-file-${id.toString(16)}.img`;
/** Files of this size and more are saved as chunks of data (CRIU's GHOST_CHUNKS_THRESH). */
export const GHOST_CHUNKS_THRESH = 3 * 4096;
/** remap_id bit of images older than remap_type */
const REMAP_GHOST_BIT = 0x80000000;
const SEEK_DATA = 3,
  SEEK_HOLE = 4;

interface GhostDumpState {
  next: number;
  byInode: Map<string, number>;
}
const dumpState = new WeakMap<FileTable, GhostDumpState>();

/** The (off, len) data ranges of a file, by SEEK_DATA/SEEK_HOLE (one range if the fs cannot tell). */
function dataRanges(fd: number, size: bigint): { off: bigint; len: bigint }[] {
  const out: { off: bigint; len: bigint }[] = [];
  let hole = 0n;
  while (hole < size) {
    let data: bigint;
    try {
      data = lseek(fd, hole, SEEK_DATA);
    } catch (e) {
      if (e instanceof SysError && e.errno === E.ENXIO) break;
      if (hole === 0n) return [{ off: 0n, len: size }];
      throw e;
    }
    hole = lseek(fd, data, SEEK_HOLE);
    if (hole > size) hole = size;
    if (hole > data) out.push({ off: data, len: hole - data });
  }
  return out;
}

function readAt(fd: number, off: bigint, len: bigint): Buffer {
  const b = Buffer.alloc(Number(len));
  let got = 0;
  while (got < b.length) {
    const n = fs.readSync(fd, b, got, b.length - got, Number(off) + got);
    if (n === 0)
      throw new FileError('', `ghost file shrank while it was saved (${got} of ${len} bytes at ${off})`, {
        hint: 'a task outside the frozen tree writes to it',
      });
    got += n;
  }
  return b;
}

/** Write ghost-file-ID.img for the file open at the tool's fd `fd`. */
function dumpGhostFile(ctx: DumpFdCtx, gid: number, fd: number, st: fs.BigIntStats): void {
  const file = ghostImage(gid);
  const us = (ns: bigint): { tv_sec: bigint; tv_usec: bigint } => ({ tv_sec: ns / 1_000_000_000n, tv_usec: (ns % 1_000_000_000n) / 1000n });
  const gfe: GhostFileEntry = {
    uid: Number(st.uid),
    gid: Number(st.gid),
    mode: Number(st.mode),
    dev: kernelDev(st.dev),
    ino: st.ino, // CRIU's MKKDEV(major, minor)
    atim: us(st.atimeNs),
    mtim: us(st.mtimeNs),
  };
  // reopen for reading: the task's own fd may be write-only
  const r = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | O_CLOEXEC);
  try {
    if (st.size < BigInt(GHOST_CHUNKS_THRESH)) {
      ctx.extra.add('GHOST_FILE', file, gfe, readAt(r, 0n, st.size));
      return;
    }
    gfe.chunks = true;
    gfe.size = st.size;
    ctx.extra.add('GHOST_FILE', file, gfe);
    for (const c of dataRanges(r, st.size)) ctx.extra.add('GHOST_FILE', file, { len: c.len, off: c.off }, readAt(r, c.off, c.len));
  } finally {
    fs.closeSync(r);
  }
}

export function dumpGhost(ctx: DumpFdCtx, id: number): FileEntry {
  const statPath = `/proc/${ctx.pid}/fd/${ctx.fd}`;
  const st = fs.statSync(statPath, { bigint: true });
  const fd = ctx.takeFd();
  if (st.nlink > 0n) {
    // a file that is really named "… (deleted)"
    try {
      const o = fs.statSync(ctx.link.raw, { bigint: true });
      if (o.ino === st.ino && o.dev === st.dev) {
        const e = dumpReg(id, ctx.link.raw, statPath, ctx.info.flags, ctx.info.pos);
        partOf(e, 'reg', where(ctx, 'file')).fown = dumpFown(ctx, fd, 'file');
        return e;
      }
    } catch {
      /* not there */
    }
    throw new NotSupportedError(
      `${where(ctx, ctx.link.raw)}: the name was removed but the file has ${st.nlink} other link(s) (a linked remap)`,
      'files removed from one directory but still linked elsewhere cannot be checkpointed yet',
    );
  }
  if (!st.isFile()) {
    throw new NotSupportedError(
      `${where(ctx, ctx.link.raw)}: an unlinked file of mode 0${st.mode.toString(8)}`,
      'only unlinked regular files are saved (as ghost files)',
    );
  }
  const used = st.blocks * 512n;
  if (used > BigInt(ctx.ghostLimit)) {
    throw new NotSupportedError(
      `${where(ctx, ctx.link.raw)}: an unlinked file of ${used} bytes on disk, above the ghost limit of ${ctx.ghostLimit}`,
      'raise --ghost-limit to save it in the images',
    );
  }
  const e = dumpReg(id, ctx.link.path!, statPath, ctx.info.flags, ctx.info.pos);
  partOf(e, 'reg', where(ctx, 'ghost file')).fown = dumpFown(ctx, fd, 'ghost file');
  let s = dumpState.get(ctx.files);
  if (!s) {
    s = { next: 1, byInode: new Map() };
    dumpState.set(ctx.files, s);
  }
  const key = `${st.dev}:${st.ino}`;
  let gid = s.byInode.get(key);
  if (gid === undefined) {
    gid = s.next++;
    dumpGhostFile(ctx, gid, fd, st);
    s.byInode.set(key, gid);
  }
  const rpe: RemapFilePathEntry = { orig_id: id, remap_id: gid, remap_type: RemapType.GHOST };
  ctx.extra.add('REMAP_FPATH', REMAP_FPATH, rpe);
  return e;
}

// ---------------------------------------------------------------- restore

interface Ghost {
  path: string;
  users: number;
}
/** What the ghost kind keeps during a restore: the ghost files on disk and the directories it made. */
export interface GhostState {
  files: Map<number, Ghost>;
  dirs: Map<number, string>;
}

const remapTypeOf = (m: RemapFilePathEntry): number => m.remap_type ?? ((m.remap_id >>> 0) & REMAP_GHOST_BIT ? RemapType.GHOST : RemapType.LINKED);

function remapOf(ctx: RestoreFdCtx, id: number): { remapId: number; type: number } | undefined {
  for (const r of ctx.image(REMAP_FPATH, 'REMAP_FPATH') ?? []) {
    const m = r.msg;
    if (m.orig_id !== id) continue;
    let remapId = m.remap_id >>> 0;
    const type = remapTypeOf(m);
    if (m.remap_type === undefined) remapId = (remapId & ~REMAP_GHOST_BIT) >>> 0;
    return { remapId, type };
  }
  return undefined;
}

function ghostUsers(ctx: RestoreFdCtx, remapId: number): number {
  let n = 0;
  for (const r of ctx.image(REMAP_FPATH, 'REMAP_FPATH') ?? []) {
    const m = r.msg;
    if (remapTypeOf(m) === RemapType.GHOST && (m.remap_id & ~REMAP_GHOST_BIT) >>> 0 === remapId) n++;
  }
  return n;
}

/** Create the ghost file of `remapId` next to `reg`'s path, with its contents and metadata. */
function makeGhost(ctx: RestoreFdCtx, remapId: number, reg: RegFileEntry, who: string): Ghost {
  const name = ghostImage(remapId);
  const img = ctx.ghost(name);
  if (!img) throw new FileError(who, `${name} is missing for ${reg.name}`, { object: name, hint: 'the images are incomplete' });
  const gfe = img.head;
  const mode = Number(gfe.mode);
  if ((mode & 0o170000) !== 0o100000)
    throw new NotSupportedError(`${who}: ghost ${remapId} of mode 0${mode.toString(8)} (only regular ghost files are restored)`, { object: name });
  const p = `${reg.name}.cr.${remapId.toString(16)}.ghost`;
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_CLOEXEC;
  let fd: number;
  try {
    fd = fs.openSync(p, flags, mode & 0o7777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new FileError(who, `cannot create ghost file ${p}: ${(e as Error).message}`, {
        object: p,
        hint: `the directory ${path.dirname(reg.name)} must exist and be writable`,
      });
    }
    fs.unlinkSync(p); // ours, left by an earlier failed restore
    fd = fs.openSync(p, flags, mode & 0o7777);
  }
  try {
    const write = (b: Buffer, at: number): void => writeAll(fd, b, b.length, at);
    if (gfe.chunks) {
      if (gfe.size === undefined) throw new FileError(who, `${name}: chunked ghost without a size`, { object: name, hint: 'the image is damaged' });
      fs.ftruncateSync(fd, Number(gfe.size));
      for (const c of img.chunks) {
        const data = c.blob ?? Buffer.alloc(0);
        if (BigInt(data.length) !== BigInt(c.msg.len))
          throw new FileError(who, `${name}: chunk at ${c.msg.off} holds ${data.length} bytes, not ${c.msg.len}`, {
            object: name,
            hint: 'the image is damaged',
          });
        write(data, Number(c.msg.off));
      }
    } else {
      write(img.blob ?? Buffer.alloc(0), 0);
    }
    fs.fchownSync(fd, Number(gfe.uid), Number(gfe.gid));
    fs.fchmodSync(fd, mode & 0o7777);
    if (gfe.atim && gfe.mtim) {
      const t = (v: { tv_sec: bigint | number; tv_usec: bigint | number }): number => Number(v.tv_sec) + Number(v.tv_usec) / 1e6;
      fs.futimesSync(fd, t(gfe.atim), t(gfe.mtim));
    }
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(p, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return { path: p, users: ghostUsers(ctx, remapId) };
}

export function openGhost(ctx: RestoreFdCtx, e: FileEntry, s: GhostState, who: string): number {
  const reg = partOf(e, 'reg', who);
  const remap = remapOf(ctx, e.id);
  if (!remap) throw new FileError(who, `file id ${e.id} (${reg.name}) has no remap`, { object: REMAP_FPATH });
  if (remap.type !== RemapType.GHOST) {
    throw new NotSupportedError(`${who}: ${reg.name}: a ${remap.type === RemapType.LINKED ? 'linked' : 'procfs'} remap`, {
      object: reg.name,
      hint: 'only ghost files (unlinked files saved in the images) are restored',
    });
  }
  let g = s.files.get(remap.remapId);
  if (!g) {
    g = makeGhost(ctx, remap.remapId, reg, who);
    s.files.set(remap.remapId, g);
  }
  try {
    fs.linkSync(g.path, reg.name);
  } catch (err) {
    throw new FileError(who, `cannot give the ghost file back its name ${reg.name}: ${(err as Error).message}`, {
      object: reg.name,
      hint: (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'another file now has that name' : undefined,
    });
  }
  let fd: number;
  try {
    fd = openReg(reg, who);
  } finally {
    fs.unlinkSync(reg.name);
  }
  if (!(reg.flags & O.APPEND)) lseek(fd, BigInt(reg.pos), 0);
  if (--g.users <= 0) {
    fs.rmSync(g.path, { force: true });
    s.files.delete(remap.remapId);
  }
  return fd;
}

/** Deleted paths that are neither memfds nor ghosts of another kind. */
export function isGhostLink(link: FdLink, info: Fdinfo): boolean {
  return link.kind === 'path' && link.deleted && !isMemfdLink(link, info);
}

// ---------------------------------------------------------------- removed directories

/**
 * A removed directory still held as a task's cwd or root: saved as CRIU does, a reg_file_entry
 * of its old path remapped to a ghost_file_entry of directory mode (no contents).
 */
export function dumpGhostDir(env: DumpEnv, id: number, st: fs.BigIntStats): void {
  let s = dumpState.get(env.files);
  if (!s) {
    s = { next: 1, byInode: new Map() };
    dumpState.set(env.files, s);
  }
  const key = `${st.dev}:${st.ino}`;
  let gid = s.byInode.get(key);
  if (gid === undefined) {
    gid = s.next++;
    s.byInode.set(key, gid);
    const us = (ns: bigint): { tv_sec: bigint; tv_usec: bigint } => ({ tv_sec: ns / 1_000_000_000n, tv_usec: (ns % 1_000_000_000n) / 1000n });
    const gfe: GhostFileEntry = {
      uid: Number(st.uid),
      gid: Number(st.gid),
      mode: Number(st.mode),
      dev: kernelDev(st.dev),
      ino: st.ino,
      atim: us(st.atimeNs),
      mtim: us(st.mtimeNs),
    };
    env.extra.add('GHOST_FILE', ghostImage(gid), gfe, Buffer.alloc(0));
  }
  const rpe: RemapFilePathEntry = { orig_id: id, remap_id: gid, remap_type: RemapType.GHOST };
  env.extra.add('REMAP_FPATH', REMAP_FPATH, rpe);
}

/**
 * A ghost directory of the image, made again at its old path for a task to chdir into; removed
 * when the restore ends (GhostState.dirs). false when the entry is no ghost.
 */
function makeGhostDir(ctx: RestoreFdCtx, s: GhostState, id: number, path: string, who: string): boolean {
  const remap = remapOf(ctx, id);
  if (!remap || remap.type !== RemapType.GHOST) return false;
  if (s.dirs.has(remap.remapId)) return true;
  const name = ghostImage(remap.remapId);
  const gfe = ctx.ghost(name)?.head;
  if (!gfe) throw new FileError(who, `${name} is missing`, { object: name, hint: 'the images are incomplete' });
  if ((Number(gfe.mode) & 0o170000) !== 0o040000) throw new NotSupportedError(`${who}: ${path}: a removed cwd or root that is no directory`, { object: path });
  try {
    fs.mkdirSync(path, { mode: Number(gfe.mode) & 0o7777 });
  } catch (e) {
    throw new FileError(who, `cannot make the removed directory ${path} again: ${(e as Error).message}`, {
      object: path,
      hint: (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'another directory now has that name' : 'its parent directory must exist',
    });
  }
  s.dirs.set(remap.remapId, path);
  fs.chownSync(path, Number(gfe.uid), Number(gfe.gid));
  return true;
}

export const ghostKind: FileKind<GhostState> = {
  name: 'ghost',
  type: FdTypes.REG,
  field: 'reg',
  priority: 700,
  match: isGhostLink,
  dump: dumpGhost,
  dumpRemovedDir: (env, id, _path, statPath) => dumpGhostDir(env, id, fs.statSync(statPath, { bigint: true })),
  claims: (ctx, e) => remapOf(ctx, e.id) !== undefined,
  state: {
    create: () => ({ files: new Map(), dirs: new Map() }),
    // the directories made for a chdir, then the ghost files some fd never took (or all, on failure)
    close: (s) => {
      for (const d of s.dirs.values()) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* gone already */
        }
      }
      s.dirs.clear();
      for (const g of s.files.values()) fs.rmSync(g.path, { force: true });
      s.files.clear();
    },
  },
  open: openGhost,
  openPath: (ctx, e, use, s, who) => {
    if (use === 'exe') return undefined;
    return makeGhostDir(ctx, s, e.id, partOf(e, 'reg', who).name, who) ? -1 : undefined;
  },
};
