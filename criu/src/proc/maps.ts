// /proc/PID/maps and /proc/PID/smaps: one entry per VMA, with the kind of mapping the path says.
import { readProcText, ProcParseError } from './util.js';

export const PROT_READ = 1,
  PROT_WRITE = 2,
  PROT_EXEC = 4;

/**
 * What a VMA maps, from its path field:
 * - file: a regular file path; deleted: a file path ending in " (deleted)";
 * - memfd: "/memfd:NAME (deleted)"; shmem: shared anonymous memory, "/dev/zero (deleted)" or
 *   "[anon_shmem:NAME]"; sysv: "/SYSV%08x (deleted)" (a SysV shm segment);
 * - anon: no path; anon_named: "[anon:NAME]" (PR_SET_VMA_ANON_NAME);
 * - heap, stack, vdso, vvar, vvar_vclock, vsyscall: the kernel's bracketed names;
 * - special: any other bracketed name (e.g. "[uprobes]").
 */
export type VmaKind =
  'file' | 'deleted' | 'memfd' | 'shmem' | 'sysv' | 'anon' | 'anon_named' | 'heap' | 'stack' | 'vdso' | 'vvar' | 'vvar_vclock' | 'vsyscall' | 'special';

export interface Vma {
  start: bigint;
  end: bigint;
  /** PROT_READ | PROT_WRITE | PROT_EXEC */
  prot: number;
  /** MAP_SHARED ('s') vs MAP_PRIVATE ('p') */
  shared: boolean;
  offset: bigint;
  major: number;
  minor: number;
  inode: number;
  /** The path field exactly as shown ('' for anonymous memory). */
  name: string;
  /** The path without a trailing " (deleted)"; '' for anonymous and bracketed mappings. */
  path: string;
  deleted: boolean;
  kind: VmaKind;
  /** NAME of "[anon:NAME]", "[anon_shmem:NAME]" or "/memfd:NAME (deleted)". */
  label?: string;
  /** Key of a SysV shm segment ("/SYSV0000002a" → 0x2a). */
  sysvKey?: number;
}

export interface SmapsVma extends Vma {
  /** Every "Key: N kB" line in kB (Size, Rss, Pss, Anonymous, Swap, Locked …), and unit-less
   *  numeric ones (THPeligible, ProtectionKey) as is. */
  kb: Record<string, number>;
  size: number;
  rss: number;
  pss: number;
  anonymous: number;
  swap: number;
  sharedClean: number;
  sharedDirty: number;
  privateClean: number;
  privateDirty: number;
  locked: number;
  /** Two-letter VmFlags mnemonics, in kernel order (rd wr ex sh mr mw me ms gd …). */
  vmFlags: string[];
}

const BRACKETED: Record<string, VmaKind> = {
  '[heap]': 'heap',
  '[stack]': 'stack',
  '[vdso]': 'vdso',
  '[vvar]': 'vvar',
  '[vvar_vclock]': 'vvar_vclock',
  '[vsyscall]': 'vsyscall',
};
const DELETED = ' (deleted)';

/** Classify a maps path field (the text after the inode). */
export function classifyPath(name: string, shared: boolean): Pick<Vma, 'path' | 'deleted' | 'kind' | 'label' | 'sysvKey'> {
  if (name === '') return { path: '', deleted: false, kind: 'anon' };
  if (name.charCodeAt(0) === 91 /* [ */) {
    const k = BRACKETED[name];
    if (k) return { path: '', deleted: false, kind: k };
    if (name.startsWith('[anon:') && name.endsWith(']')) return { path: '', deleted: false, kind: 'anon_named', label: name.slice(6, -1) };
    if (name.startsWith('[anon_shmem:') && name.endsWith(']')) return { path: '', deleted: false, kind: 'shmem', label: name.slice(12, -1) };
    return { path: '', deleted: false, kind: 'special' };
  }
  const deleted = name.endsWith(DELETED);
  const path = deleted ? name.slice(0, -DELETED.length) : name;
  if (deleted) {
    if (path.startsWith('/memfd:')) return { path, deleted, kind: 'memfd', label: path.slice(7) };
    if (path === '/dev/zero' && shared) return { path, deleted, kind: 'shmem' };
    if (path.startsWith('/SYSV') && /^\/SYSV[0-9a-f]{8}$/.test(path)) return { path, deleted, kind: 'sysv', sysvKey: parseInt(path.slice(5), 16) | 0 };
    return { path, deleted, kind: 'deleted' };
  }
  return { path, deleted, kind: 'file' };
}

const hexNum = (s: string, a: number, b: number): number => parseInt(s.slice(a, b), 16);

/** Parse one maps line ("start-end perms offset maj:min inode   path"). */
export function parseMapsLine(line: string, file = 'maps', lineNo = 0): Vma {
  const dash = line.indexOf('-');
  const s1 = line.indexOf(' ', dash + 1);
  const s2 = line.indexOf(' ', s1 + 1);
  const s3 = line.indexOf(' ', s2 + 1);
  const s4 = line.indexOf(' ', s3 + 1);
  let s5 = line.indexOf(' ', s4 + 1);
  if (dash <= 0 || s1 < 0 || s2 < 0 || s3 < 0 || s4 < 0) throw new ProcParseError(file, lineNo, line, 'not a VMA line');
  if (s5 < 0) s5 = line.length;
  const perms = line.slice(s1 + 1, s2);
  if (perms.length !== 4) throw new ProcParseError(file, lineNo, line, 'bad permissions');
  const colon = line.indexOf(':', s3);
  if (colon < 0 || colon > s4) throw new ProcParseError(file, lineNo, line, 'bad device');
  let p = s5;
  while (p < line.length && line.charCodeAt(p) === 32) p++;
  const name = line.slice(p);
  const shared = perms[3] === 's';
  const inode = Number(line.slice(s4 + 1, s5));
  const start = BigInt('0x' + line.slice(0, dash));
  const end = BigInt('0x' + line.slice(dash + 1, s1));
  const major = hexNum(line, s3 + 1, colon),
    minor = hexNum(line, colon + 1, s4);
  if (Number.isNaN(major) || Number.isNaN(minor) || Number.isNaN(inode)) throw new ProcParseError(file, lineNo, line, 'bad device or inode');
  return {
    start,
    end,
    prot: (perms[0] === 'r' ? PROT_READ : 0) | (perms[1] === 'w' ? PROT_WRITE : 0) | (perms[2] === 'x' ? PROT_EXEC : 0),
    shared,
    offset: BigInt('0x' + line.slice(s2 + 1, s3)),
    major,
    minor,
    inode,
    name,
    ...classifyPath(name, shared),
  };
}

/** Parse the text of /proc/PID/maps. */
export function parseMaps(text: string, file = 'maps'): Vma[] {
  const out: Vma[] = [];
  let pos = 0,
    lineNo = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    lineNo++;
    if (nl > pos) {
      try {
        out.push(parseMapsLine(text.slice(pos, nl), file, lineNo));
      } catch (e) {
        if (e instanceof ProcParseError) throw e;
        throw new ProcParseError(file, lineNo, text.slice(pos, nl), String(e));
      }
    }
    pos = nl + 1;
  }
  return out;
}

export function readMaps(pid: number): Vma[] {
  return parseMaps(readProcText(pid, 'maps'), `/proc/${pid}/maps`);
}

function smapsVma(v: Vma): SmapsVma {
  const o = v as SmapsVma;
  o.kb = {};
  o.size = 0;
  o.rss = 0;
  o.pss = 0;
  o.anonymous = 0;
  o.swap = 0;
  o.sharedClean = 0;
  o.sharedDirty = 0;
  o.privateClean = 0;
  o.privateDirty = 0;
  o.locked = 0;
  o.vmFlags = [];
  return o;
}

/** Parse the text of /proc/PID/smaps. */
export function parseSmaps(text: string, file = 'smaps'): SmapsVma[] {
  const out: SmapsVma[] = [];
  let cur: SmapsVma | null = null;
  let pos = 0,
    lineNo = 0;
  const n = text.length;
  while (pos < n) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    lineNo++;
    const c = text.charCodeAt(pos);
    if (nl === pos) {
      pos = nl + 1;
      continue;
    }
    if (c >= 65 && c <= 90 /* A-Z: a "Key:" line; VMA headers start with a lower-case hex digit */) {
      const colon = text.indexOf(':', pos);
      if (!cur || colon < 0 || colon > nl) {
        throw new ProcParseError(file, lineNo, text.slice(pos, nl), cur ? 'no colon' : 'field before the first VMA');
      }
      const key = text.slice(pos, colon);
      let p = colon + 1;
      while (p < nl && text.charCodeAt(p) === 32) p++;
      if (key === 'VmFlags') {
        const fl = text.slice(p, nl).split(' ');
        for (const f of fl) if (f !== '') cur.vmFlags.push(f);
      } else {
        let v = 0,
          digits = 0;
        for (let d = text.charCodeAt(p); d >= 48 && d <= 57; d = text.charCodeAt(++p)) {
          v = v * 10 + (d - 48);
          digits++;
        }
        if (!digits) throw new ProcParseError(file, lineNo, text.slice(pos, nl), `bad value of ${key}`);
        cur.kb[key] = v;
      }
    } else {
      cur = smapsVma(parseMapsLine(text.slice(pos, nl), file, lineNo));
      out.push(cur);
    }
    pos = nl + 1;
  }
  for (const v of out) {
    const k = v.kb;
    v.size = k.Size ?? 0;
    v.rss = k.Rss ?? 0;
    v.pss = k.Pss ?? 0;
    v.anonymous = k.Anonymous ?? 0;
    v.swap = k.Swap ?? 0;
    v.sharedClean = k.Shared_Clean ?? 0;
    v.sharedDirty = k.Shared_Dirty ?? 0;
    v.privateClean = k.Private_Clean ?? 0;
    v.privateDirty = k.Private_Dirty ?? 0;
    v.locked = k.Locked ?? 0;
  }
  return out;
}

export function readSmaps(pid: number): SmapsVma[] {
  return parseSmaps(readProcText(pid, 'smaps'), `/proc/${pid}/smaps`);
}

/** VmFlags mnemonics CRIU cares about (fs/proc/task_mmu.c show_smap_vma_flags). */
export const VMFLAG = {
  READ: 'rd',
  WRITE: 'wr',
  EXEC: 'ex',
  SHARED: 'sh',
  MAYREAD: 'mr',
  MAYWRITE: 'mw',
  MAYEXEC: 'me',
  MAYSHARE: 'ms',
  GROWSDOWN: 'gd',
  PFNMAP: 'pf',
  LOCKED: 'lo',
  IO: 'io',
  SEQ_READ: 'sr',
  RAND_READ: 'rr',
  DONTCOPY: 'dc',
  DONTEXPAND: 'de',
  LOCKONFAULT: 'lf',
  ACCOUNT: 'ac',
  NORESERVE: 'nr',
  HUGETLB: 'ht',
  SYNC: 'sf',
  ARCH_1: 'ar',
  WIPEONFORK: 'wf',
  DONTDUMP: 'dd',
  SOFTDIRTY: 'sd',
  MIXEDMAP: 'mm',
  HUGEPAGE: 'hg',
  NOHUGEPAGE: 'nh',
  MERGEABLE: 'mg',
  UFFD_MISSING: 'um',
  UFFD_WP: 'uw',
  UFFD_MINOR: 'ui',
  SHADOW_STACK: 'ss',
  SEALED: 'sl',
  GUARD: 'gu',
} as const;
