// What `crit x DIR html` shows, as plain data: the tasks of a dump with their threads, memory
// (VMAs cut into dumped runs and holes), fds and what they point to, the objects several tasks
// share (pipes, sockets, shared memory, mapped files) and the size of every file of the folder.
// The images are read and checked by restore/images.ts's loadImages, as `crit x DIR plan` does.
import fs from 'node:fs';
import path from 'node:path';
import { VMA, PE } from '../images/consts.js';
import { enumInfo, kindForFileName, type FileEntry, type PagemapEntry, type VmaEntry } from '../images/index.js';
import { readOptional } from '../images/typed.js';
import { loadImages, type TaskImages } from '../restore/images.js';

/** A run of dumped pages inside one VMA. */
export interface PageRun {
  start: bigint;
  pages: bigint;
  /** PE_* flags: PRESENT, LAZY, PARENT */
  flags: number;
}

export interface VmaView {
  vma: VmaEntry;
  /** what the VMA maps, in a few words ("anon private", "[vdso]", a file's path …) */
  what: string;
  /** a short label for the drawing */
  label: string;
  /** the class of colour: anon, file, shmem, stack, heap, kernel, other */
  cls: string;
  runs: PageRun[];
  /** the key of the shared object it maps (shmem:ID, file:ID), when it maps one */
  object?: string;
}

export interface FdView {
  fd: number;
  type: string;
  fileId: number;
  what: string;
  /** the key of an object that can join tasks (pipe:ID, fifo:ID, unix:INO-INO) */
  link?: string;
}

export interface TaskView {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  state: string;
  threads: { tid: number; comm: string }[];
  filesId: number;
  fdTableShared: number[];
  vmas: VmaView[];
  fds: FdView[];
  cwd: string;
  root: string;
  exe: string;
  zombie: boolean;
}

/** An object seen from more than one task: a pipe, a socket pair, shared memory, a mapped file. */
export interface SharedObject {
  key: string;
  what: string;
  /** pid → how that task holds it ("fd 4", "VMA 7f00…") */
  holders: Map<number, string[]>;
}

export interface FileSize {
  name: string;
  kind: string;
  bytes: number;
}

export interface DumpView {
  dir: string;
  tasks: TaskView[];
  /** joins between tasks through fds (pipes, fifos, sockets) */
  links: SharedObject[];
  /** memory several tasks map (shared anon by shmid, files) */
  memObjects: SharedObject[];
  sizes: FileSize[];
}

const TASK_STATES: Record<number, string> = { 1: 'alive', 2: 'dead (zombie)', 3: 'stopped' };

function typeName(t: number): string {
  return enumInfo('fd_types').byValue.get(t) ?? `type ${t}`;
}

/** The access mode and a few flags of an open file, as open(2) spells them. */
export function openFlags(flags: number): string {
  const acc = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'][flags & 3];
  const more = [
    [0o2000, 'O_APPEND'],
    [0o4000, 'O_NONBLOCK'],
    [0o2000000, 'O_CLOEXEC'],
    [0o40000, 'O_DIRECT'],
    [0o200000, 'O_DIRECTORY'],
  ] as const;
  return [acc, ...more.filter(([b]) => flags & b).map(([, n]) => n)].join('|');
}

/** A unix socket's name as ss prints it (an abstract name starts with @). */
function unixName(name: Buffer | undefined): string {
  if (!name || !name.length) return '';
  return name[0] === 0 ? '@' + name.subarray(1).toString('latin1') : name.toString('latin1').replace(/\0+$/, '');
}

const UNIX_TYPES: Record<number, string> = { 1: 'stream', 2: 'dgram', 5: 'seqpacket' };

function ipText(a: number[] | undefined): string {
  if (!a || !a.length) return '*';
  if (a.length === 1) return [0, 8, 16, 24].map((s) => (a[0] >>> s) & 255).join('.');
  return a.map((w) => w.toString(16)).join(':');
}

/** What an open file description is, in a line, and the key joining it to other tasks. */
export function describeFile(f: FileEntry | undefined, pipeBytes: Map<number, number>): { what: string; link?: string } {
  if (!f) return { what: 'not in files.img' };
  if (f.reg) return { what: `${f.reg.name} pos ${f.reg.pos} ${openFlags(f.reg.flags)}${f.reg.size !== undefined ? ` size ${f.reg.size}` : ''}` };
  if (f.pipe) {
    const q = pipeBytes.get(f.pipe.pipe_id);
    const end = (f.pipe.flags & 3) === 1 ? 'write end' : 'read end';
    return { what: `pipe:[${f.pipe.pipe_id}] ${end}${q ? `, ${q} bytes queued` : ''}`, link: `pipe:${f.pipe.pipe_id}` };
  }
  if (f.fifo) return { what: `fifo pipe:[${f.fifo.pipe_id}]`, link: `fifo:${f.fifo.pipe_id}` };
  if (f.usk) {
    const u = f.usk;
    const name = unixName(u.name);
    const pair = u.peer ? `unix:${Math.min(u.ino, u.peer)}-${Math.max(u.ino, u.peer)}` : undefined;
    return {
      what: `unix ${UNIX_TYPES[u.type] ?? `type ${u.type}`} socket:[${u.ino}]${u.peer ? ` peer socket:[${u.peer}]` : ''}${name ? ` ${name}` : ''}`,
      link: pair,
    };
  }
  if (f.isk) {
    const s = f.isk;
    return {
      what: `inet${s.family === 10 ? '6' : ''} proto ${s.proto} socket:[${s.ino}] ${ipText(s.src_addr)}:${s.src_port} → ${ipText(s.dst_addr)}:${s.dst_port}`,
    };
  }
  if (f.efd) return { what: `eventfd counter ${f.efd.counter}` };
  if (f.epfd) return { what: `epoll watching ${(f.epfd.tfd ?? []).map((t) => `fd ${t.tfd}`).join(', ') || 'nothing'}` };
  if (f.sgfd) return { what: `signalfd mask 0x${f.sgfd.sigmask.toString(16)}` };
  if (f.tfd)
    return {
      what: `timerfd clock ${f.tfd.clockid} value ${f.tfd.vsec}.${String(f.tfd.vnsec).padStart(9, '0')} s interval ${f.tfd.isec}.${String(f.tfd.insec).padStart(9, '0')} s`,
    };
  if (f.ify) return { what: `inotify with ${(f.ify.wd ?? []).length} watches` };
  if (f.memfd) return { what: `memfd inode ${f.memfd.inode_id} pos ${f.memfd.pos}` };
  if (f.tty) return { what: `tty (info ${f.tty.tty_info_id})` };
  return { what: `${typeName(f.type)} id ${f.id}` };
}

/** The dumped runs of `entries` (sorted) that fall inside the VMA, cut at its ends. */
function runsIn(v: VmaEntry, entries: PagemapEntry[]): PageRun[] {
  const out: PageRun[] = [];
  for (const e of entries) {
    const n = e.nr_pages ?? BigInt(e.compat_nr_pages);
    const s = e.vaddr > v.start ? e.vaddr : v.start;
    const end = e.vaddr + n * 4096n < v.end ? e.vaddr + n * 4096n : v.end;
    if (end <= s) continue;
    const flags = e.flags ?? (e.in_parent ? PE.PARENT : PE.PRESENT);
    out.push({ start: s, pages: (end - s) / 4096n, flags });
  }
  return out;
}

function regName(files: Map<number, FileEntry>, id: number): string {
  const f = files.get(id);
  return f?.reg?.name ?? (f?.memfd ? `memfd inode ${f.memfd.inode_id}` : `file id ${id}`);
}

/** What a VMA maps: its words, its label, its colour class and the object several may share. */
function vmaKind(v: VmaEntry, files: Map<number, FileEntry>): Omit<VmaView, 'vma' | 'runs'> {
  const st = v.status;
  const id = v.shmid;
  if (st & VMA.VDSO) return { what: '[vdso]', label: 'vdso', cls: 'kernel' };
  if (st & VMA.VVAR) return { what: '[vvar]', label: 'vvar', cls: 'kernel' };
  if (st & VMA.VSYSCALL) return { what: '[vsyscall]', label: 'vsyscall', cls: 'kernel' };
  if (st & VMA.SYSVIPC) return { what: `SysV shm ${id}`, label: `shm ${id}`, cls: 'shmem', object: `shmem:${id}` };
  if (st & VMA.ANON_SHARED) return { what: `shared anon shmid ${id}`, label: `shmem ${id}`, cls: 'shmem', object: `shmem:${id}` };
  if (st & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
    const name = regName(files, Number(id));
    const how = st & VMA.FILE_SHARED ? 'shared' : 'private';
    return { what: `${name} (${how}) pgoff 0x${v.pgoff.toString(16)}`, label: path.basename(name), cls: 'file', object: `file:${id}` };
  }
  if (st & VMA.HEAP) return { what: '[heap] anon private', label: 'heap', cls: 'heap' };
  if (st & VMA.STACK || v.flags & 0x100) return { what: '[stack] anon private', label: 'stack', cls: 'stack' };
  if (st & VMA.SOCKET) return { what: `packet socket ring ${id}`, label: 'socket', cls: 'other' };
  if (st & VMA.AIORING) return { what: 'AIO ring', label: 'aio', cls: 'other' };
  if (st & VMA.GUARD) return { what: 'guard region (MADV_GUARD_INSTALL)', label: 'guard', cls: 'other' };
  return { what: 'anon private', label: 'anon', cls: 'anon' };
}

function stateName(t: TaskImages): string {
  const s = t.core.tc?.task_state ?? 0;
  return TASK_STATES[s] ?? `state ${s}`;
}

function taskView(t: TaskImages, files: Map<number, FileEntry>, pipeBytes: Map<number, number>): TaskView {
  const main = { tid: t.pid, comm: t.core.thread_core?.comm ?? t.core.tc?.comm ?? '' };
  const vmas = (t.mm.vmas ?? []).map((vma) => ({ vma, ...vmaKind(vma, files), runs: runsIn(vma, t.pagemap.entries) }));
  const fds = t.fdinfo.map((fd) => ({ fd: fd.fd, type: typeName(fd.type), fileId: fd.id, ...describeFile(files.get(fd.id), pipeBytes) }));
  return {
    pid: t.pid,
    ppid: t.pstree.ppid,
    pgid: t.pstree.pgid,
    sid: t.pstree.sid,
    comm: t.core.tc?.comm ?? '',
    state: stateName(t),
    threads: [main, ...t.threads.map((th) => ({ tid: th.tid, comm: th.core.thread_core?.comm ?? '' }))],
    filesId: t.ids.files_id,
    fdTableShared: [],
    vmas,
    fds,
    cwd: t.zombie ? '' : regName(files, t.fs.cwd_id),
    root: t.zombie ? '' : regName(files, t.fs.root_id),
    exe: t.zombie ? '' : regName(files, t.mm.exe_file_id),
    zombie: !!t.zombie,
  };
}

function addHolder(objs: Map<string, SharedObject>, key: string, what: string, pid: number, how: string): void {
  let o = objs.get(key);
  if (!o) objs.set(key, (o = { key, what, holders: new Map() }));
  const list = o.holders.get(pid) ?? [];
  if (!list.includes(how)) list.push(how);
  o.holders.set(pid, list);
}

/** The objects held by two tasks or more. */
function sharedObjects(tasks: TaskView[]): { links: SharedObject[]; memObjects: SharedObject[] } {
  const links = new Map<string, SharedObject>();
  const mem = new Map<string, SharedObject>();
  for (const t of tasks) {
    for (const fd of t.fds)
      if (fd.link)
        addHolder(
          links,
          fd.link,
          fd.link.startsWith('unix:') ? `unix socket pair ${fd.link.slice(5)}` : fd.what.replace(/ (read|write) end.*/, ''),
          t.pid,
          `fd ${fd.fd}`,
        );
    for (const v of t.vmas) if (v.object) addHolder(mem, v.object, v.what.replace(/ pgoff .*/, ''), t.pid, `0x${v.vma.start.toString(16)}`);
  }
  const many = (m: Map<string, SharedObject>): SharedObject[] => [...m.values()].filter((o) => o.holders.size > 1);
  return { links: many(links), memObjects: many(mem) };
}

/** The kind of an image file, by its name (as crit's magic table names them), or what else it is. */
function fileKind(name: string): string {
  const k = kindForFileName(name);
  if (k) return k.name;
  if (name.endsWith('.log')) return 'log';
  return 'other';
}

function folderSizes(dir: string): FileSize[] {
  const out: FileSize[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const st = fs.statSync(path.join(dir, name));
    if (st.isFile()) out.push({ name, kind: fileKind(name), bytes: st.size });
  }
  return out;
}

/** The queued bytes of each pipe, from pipes-data.img. */
function pipeData(dir: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readOptional(dir, 'pipes-data.img', 'PIPES_DATA') ?? []) m.set(e.msg.pipe_id, e.msg.bytes);
  return m;
}

/** Reads the images of `dir` into what the page shows. */
export function buildDumpView(dir: string): DumpView {
  const img = loadImages(dir);
  const pipeBytes = pipeData(dir);
  const tasks = img.tasks.map((t) => taskView(t, img.files, pipeBytes));
  for (const t of tasks) t.fdTableShared = tasks.filter((o) => o !== t && !o.zombie && o.filesId === t.filesId).map((o) => o.pid);
  return { dir, tasks, ...sharedObjects(tasks), sizes: folderSizes(dir) };
}
