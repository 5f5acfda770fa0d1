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
import { toolPath, statInTree } from '../sys/tree-root.js';
import { writeAll } from '../sys/io.js';
import * as path from 'node:path';
import type { FileTable } from './table.js';
import type { FileKind, DumpFdCtx, RestoreFdCtx, DumpEnv, ExtraImages } from './kind.js';
import { FileError, partOf } from './kind.js';
import { dumpReg, openReg, O } from './reg.js';
import { lseek, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FdTypes, type FileEntry, type RegFileEntry } from '../images/gen/types.js';
import { dumpFown, where, kernelDev, O_CLOEXEC } from './fdparams.js';
import { RemapType, type GhostFileEntry, type RemapFilePathEntry } from '../images/index.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { isMemfdLink } from './memfd.js';
import { dumpLinkRemap, afterDumpLinkRemaps, openLinked, closeLinked, mkParents, rmParents, type LinkedState } from './link-remap.js';
import { regDumpOptions } from './reg-opts.js';
import { mknod } from '../sys/fsops.js';
import { ids as userIds } from '../proc/idmap.js';
import { statOnce } from './fd-stat.js';

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

/** Write ghost-file-ID.img for the file open at the tool's fd `fd` (a device node: its rdev, no contents). */
function dumpGhostFile(extra: ExtraImages, gid: number, fd: number, st: fs.BigIntStats): void {
  const file = ghostImage(gid);
  const gfe: GhostFileEntry = {
    uid: userIds.toNs('uid', Number(st.uid)),
    gid: userIds.toNs('gid', Number(st.gid)),
    mode: Number(st.mode),
    dev: kernelDev(st.dev),
    ino: st.ino, // CRIU's MKKDEV(major, minor)
    atim: usOf(st.atimeNs),
    mtim: usOf(st.mtimeNs),
  };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    gfe.rdev = Number(st.rdev & 0xffffffffn); // st_rdev as CRIU stores it
    extra.add('GHOST_FILE', file, gfe, Buffer.alloc(0));
    return;
  }
  // reopen for reading: the task's own fd may be write-only (or an O_PATH one of the tool)
  const r = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | O_CLOEXEC);
  try {
    if (st.size < BigInt(GHOST_CHUNKS_THRESH)) {
      extra.add('GHOST_FILE', file, gfe, readAt(r, 0n, st.size));
      return;
    }
    gfe.chunks = true;
    gfe.size = st.size;
    extra.add('GHOST_FILE', file, gfe);
    for (const c of dataRanges(r, st.size)) extra.add('GHOST_FILE', file, { len: c.len, off: c.off }, readAt(r, c.off, c.len));
  } finally {
    fs.closeSync(r);
  }
}

const usOf = (ns: bigint): { tv_sec: bigint; tv_usec: bigint } => ({ tv_sec: ns / 1_000_000_000n, tv_usec: (ns % 1_000_000_000n) / 1000n });

function stateOf(files: FileTable): GhostDumpState {
  let s = dumpState.get(files);
  if (!s) {
    s = { next: 1, byInode: new Map() };
    dumpState.set(files, s);
  }
  return s;
}

/** Whether the file at `st` is really named `raw` (a name that ends in " (deleted)"). */
function reallyNamed(raw: string, st: fs.BigIntStats): boolean {
  try {
    const o = statInTree(raw);
    return o.ino === st.ino && o.dev === st.dev;
  } catch {
    return false;
  }
}

/**
 * The remap of file entry `id`, a file whose name `p` is gone, held by the tool at `fd` (CRIU's
 * check_path_remap): nlink 0, a ghost (its contents, or a device's rdev, in the images, up to
 * --ghost-limit); still linked elsewhere, a link remap (link-remap.ts, with --link-remap).
 */
function remapRemoved(env: DumpEnv, who: string, id: number, p: string, fd: number, st: fs.BigIntStats, ghostLimit: number): void {
  if (st.nlink > 0n) {
    dumpLinkRemap(env, who, id, p, fd);
    return;
  }
  const device = st.isCharacterDevice() || st.isBlockDevice();
  if (!st.isFile() && !device) {
    throw new NotSupportedError(`${who}: an unlinked file of mode 0${st.mode.toString(8)}`, {
      object: p,
      hint: 'only unlinked regular files and device nodes are saved (as ghost files)',
    });
  }
  const used = st.blocks * 512n;
  if (!device && used > BigInt(ghostLimit)) {
    // CRIU's message (dump_ghost_remap), with the limit and what to try
    throw new FileError(who, `Can't dump ghost file ${p} of ${used} size, increase limit (--ghost-limit is ${ghostLimit})`, {
      object: p,
      hint: `give --ghost-limit ${used} or more to save its contents in the images; its last name is gone, so it cannot be linked again (--link-remap does not apply)`,
    });
  }
  const s = stateOf(env.files);
  const key = `${st.dev}:${st.ino}`;
  let gid = s.byInode.get(key);
  if (gid === undefined) {
    gid = s.next++;
    dumpGhostFile(env.extra, gid, fd, st);
    s.byInode.set(key, gid);
  }
  const rpe: RemapFilePathEntry = { orig_id: id, remap_id: gid, remap_type: RemapType.GHOST };
  env.extra.add('REMAP_FPATH', REMAP_FPATH, rpe);
}

export function dumpGhost(ctx: DumpFdCtx, id: number): FileEntry {
  const statPath = `/proc/${ctx.pid}/fd/${ctx.fd}`;
  const st = statOnce(statPath);
  const fd = ctx.takeFd();
  // a file that is really named "… (deleted)"
  const real = st.nlink > 0n && reallyNamed(ctx.link.raw, st);
  const e = dumpReg(id, real ? ctx.link.raw : ctx.link.path!, statPath, ctx.info.flags, ctx.info.pos);
  partOf(e, 'reg', where(ctx, 'file')).fown = dumpFown(ctx, fd, 'file');
  if (!real) remapRemoved(ctx, where(ctx, ctx.link.raw), id, ctx.link.path!, fd, st, ctx.ghostLimit);
  return e;
}

/**
 * A removed file a task maps or runs (a "… (deleted)" VMA through /proc/PID/map_files, or its
 * exe): a reg_file_entry of its old path and its remap, as for an fd.
 */
export function dumpDeletedPath(env: DumpEnv, id: number, raw: string, statPath: string, who: string): FileEntry {
  const st = fs.statSync(statPath, { bigint: true });
  if (st.nlink > 0n && reallyNamed(raw, st)) return dumpReg(id, raw, statPath, 0, 0n);
  const p = raw.endsWith(DELETED) ? raw.slice(0, -DELETED.length) : raw;
  const e = dumpReg(id, p, statPath, 0, 0n);
  const fd = fs.openSync(statPath, O.PATH | O_CLOEXEC);
  try {
    remapRemoved(env, who, id, p, fd, st, regDumpOptions().ghostLimit);
  } finally {
    fs.closeSync(fd);
  }
  return e;
}
const DELETED = ' (deleted)';

// ---------------------------------------------------------------- restore

interface Ghost {
  /** the tool's name of the ghost file (sys/tree-root.ts toolPath) */
  path: string;
  users: number;
}
/** What the ghost kind keeps during a restore: the ghost files on disk and the directories it made. */
export interface GhostState {
  files: Map<number, Ghost>;
  dirs: Map<number, string>;
  /** the link_remap names of LINKED remaps used (removed when the restore succeeded) */
  linked: LinkedState;
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
  // in its old directory, or the nearest one that still exists (CRIU's trim_last_parent)
  let dir = path.dirname(reg.name);
  while (dir !== '/' && !fs.existsSync(toolPath(dir))) dir = path.dirname(dir);
  const ghostName = path.join(dir, `${path.basename(reg.name)}.cr.${remapId.toString(16)}.ghost`);
  // the tool's name of it: its directory resolved in the tree's view (sys/tree-root.ts)
  const p = toolPath(ghostName);
  const fmt = mode & 0o170000;
  if (fmt === 0o020000 || fmt === 0o060000) return makeGhostNode(ctx, remapId, p, gfe, who);
  if (fmt !== 0o100000)
    throw new NotSupportedError(`${who}: ghost ${remapId} of mode 0${mode.toString(8)} (only regular ghost files and devices are restored)`, { object: name });
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_CLOEXEC;
  let fd: number;
  try {
    fd = fs.openSync(p, flags, mode & 0o7777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new FileError(who, `cannot create ghost file ${ghostName}: ${(e as Error).message}`, {
        object: ghostName,
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
    fs.fchownSync(fd, userIds.toHost('uid', Number(gfe.uid)), userIds.toHost('gid', Number(gfe.gid)));
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

/** A ghost device node (CRIU's create_ghost_dentry: mknod with the saved rdev). */
function makeGhostNode(ctx: RestoreFdCtx, remapId: number, p: string, gfe: GhostFileEntry, who: string): Ghost {
  if (gfe.rdev === undefined)
    throw new FileError(who, `${ghostImage(remapId)}: a ghost device without its rdev`, { object: ghostImage(remapId), hint: 'the image is damaged' });
  fs.rmSync(p, { force: true }); // ours, left by an earlier failed restore
  try {
    mknod(p, Number(gfe.mode), gfe.rdev);
    fs.chownSync(p, userIds.toHost('uid', Number(gfe.uid)), userIds.toHost('gid', Number(gfe.gid)));
    fs.chmodSync(p, Number(gfe.mode) & 0o7777);
  } catch (e) {
    fs.rmSync(p, { force: true });
    throw new FileError(who, `cannot make the ghost device ${p}: ${(e as Error).message}`, { object: p, hint: 'making device nodes needs CAP_MKNOD' });
  }
  return { path: p, users: ghostUsers(ctx, remapId) };
}

/**
 * `open(at)` on the file of a remapped entry, through a name at its old path removed again at
 * once (the ghost made first; a linked remap through link-remap.ts); undefined for an entry
 * without a remap. `fdUse`: an fd's open, which counts the ghost's users down.
 */
function openRemapped(ctx: RestoreFdCtx, e: FileEntry, s: GhostState, who: string, open: (at: string) => number, fdUse: boolean): number | undefined {
  const reg = partOf(e, 'reg', who);
  const remap = remapOf(ctx, e.id);
  if (!remap) return undefined;
  if (remap.type === RemapType.LINKED) return openLinked(ctx, reg, remap.remapId, s.linked, who, open);
  if (remap.type !== RemapType.GHOST) {
    throw new NotSupportedError(`${who}: ${reg.name}: a procfs remap (a file of a dead task's /proc)`, {
      object: reg.name,
      hint: 'only ghost files and link remaps are restored',
    });
  }
  let g = s.files.get(remap.remapId);
  if (!g) {
    g = makeGhost(ctx, remap.remapId, reg, who);
    s.files.set(remap.remapId, g);
  }
  // another file has that name now (a library upgraded since): a name beside it, as CRIU's
  // open_path does ("<path>.cr_link"); the fd and the mapping then show that name
  let at = reg.name;
  // its directory may be gone too: made for the open and removed again (CRIU's make_parent_dirs_if_need)
  const made = mkParents(path.dirname(reg.name), who);
  for (;;) {
    try {
      fs.linkSync(g.path, toolPath(at));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && at === reg.name) {
        at = `${reg.name}.cr_link`;
        continue;
      }
      rmParents(made);
      throw new FileError(who, `cannot give the ghost file back its name ${at}: ${(err as Error).message}`, {
        object: reg.name,
        hint: (err as NodeJS.ErrnoException).code === 'EEXIST' ? `${reg.name} and ${at} both exist now` : undefined,
      });
    }
  }
  let fd: number;
  try {
    fd = open(at);
  } finally {
    fs.unlinkSync(toolPath(at));
    rmParents(made);
  }
  // the ghost goes once every fd on it is open; one a task maps or runs stays to the end
  if (fdUse && --g.users <= 0) {
    fs.rmSync(g.path, { force: true });
    s.files.delete(remap.remapId);
  }
  return fd;
}

export function openGhost(ctx: RestoreFdCtx, e: FileEntry, s: GhostState, who: string): number {
  const reg = partOf(e, 'reg', who);
  const fd = openRemapped(ctx, e, s, who, (at) => openReg({ ...reg, name: at }, who), true);
  if (fd === undefined) throw new FileError(who, `file id ${e.id} (${reg.name}) has no remap`, { object: REMAP_FPATH });
  if (!(reg.flags & O.APPEND)) lseek(fd, BigInt(reg.pos), 0);
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
      uid: userIds.toNs('uid', Number(st.uid)),
      gid: userIds.toNs('gid', Number(st.gid)),
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
    fs.mkdirSync(toolPath(path), { mode: Number(gfe.mode) & 0o7777 });
  } catch (e) {
    throw new FileError(who, `cannot make the removed directory ${path} again: ${(e as Error).message}`, {
      object: path,
      hint: (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'another directory now has that name' : 'its parent directory must exist',
    });
  }
  s.dirs.set(remap.remapId, path);
  fs.chownSync(toolPath(path), userIds.toHost('uid', Number(gfe.uid)), userIds.toHost('gid', Number(gfe.gid)));
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
  dumpDeletedPath,
  claims: (ctx, e) => remapOf(ctx, e.id) !== undefined,
  state: {
    create: () => ({ files: new Map(), dirs: new Map(), linked: new Set() }),
    // the directories made for a chdir, then the ghost files some fd never took (or all, on
    // failure), and the link remaps once the restore succeeded
    close: (s, failed) => {
      for (const d of s.dirs.values()) {
        try {
          fs.rmdirSync(toolPath(d));
        } catch {
          /* gone already */
        }
      }
      s.dirs.clear();
      for (const g of s.files.values()) fs.rmSync(g.path, { force: true });
      s.files.clear();
      closeLinked(s.linked, failed);
    },
  },
  open: openGhost,
  // a removed file a task maps: opened with the mapping's flags, and it may have grown since
  openMapped: (ctx, e, flags, s, who) => {
    const reg = partOf(e, 'reg', who);
    const fd = openRemapped(ctx, e, s, who, (at) => openReg({ ...reg, name: at, flags, size: undefined }, who), false);
    if (fd === undefined) throw new FileError(who, `file id ${e.id} (${reg.name}) has no remap`, { object: REMAP_FPATH });
    return fd;
  },
  openPath: (ctx, e, use, s, who) => {
    const reg = partOf(e, 'reg', who);
    if (use === 'exe') return openRemapped(ctx, e, s, who, (at) => openReg({ ...reg, name: at, flags: 0, size: undefined }, who), false);
    return makeGhostDir(ctx, s, e.id, reg.name, who) ? -1 : undefined;
  },
  hooks: { afterDump: (a) => afterDumpLinkRemaps(a.ok) },
};
