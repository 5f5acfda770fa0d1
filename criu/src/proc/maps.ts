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

/** the "Key: N kB" lines of one VMA of smaps text, [from, to), as numbers */
function parseKb(text: string, from: number, to: number, file: string): Record<string, number> {
  const kb: Record<string, number> = {};
  for (let pos = from; pos < to;) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0 || nl > to) nl = to;
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > nl) throw new ProcParseError(file, lineAt(text, pos), text.slice(pos, nl), 'no colon');
    let p = colon + 1;
    while (p < nl && text.charCodeAt(p) === 32) p++;
    let v = 0,
      digits = 0;
    for (let d = text.charCodeAt(p); d >= 48 && d <= 57 && p < nl; d = text.charCodeAt(++p)) {
      v = v * 10 + (d - 48);
      digits++;
    }
    if (!digits) throw new ProcParseError(file, lineAt(text, pos), text.slice(pos, nl), `bad value of ${text.slice(pos, colon)}`);
    kb[text.slice(pos, colon)] = v;
    pos = nl + 1;
  }
  return kb;
}

/**
 * One VMA of smaps: its maps line and VmFlags parsed at once, its "Key: N kB" lines only when
 * asked for (the dump wants VmFlags of every VMA and the numbers of a few: 2000 VMAs are 48,000
 * such lines).
 */
class SmapsEntry {
  #kb: Record<string, number> | undefined;
  constructor(
    v: Vma,
    readonly vmFlags: string[],
    private readonly text: string,
    private readonly from: number,
    private readonly to: number,
    private readonly file: string,
  ) {
    Object.assign(this, v);
  }
  get kb(): Record<string, number> {
    return (this.#kb ??= parseKb(this.text, this.from, this.to, this.file));
  }
}

/** SmapsVma's numbers, each the "Key: N kB" line it is read from (0 where the kernel has none) */
const KB_FIELDS = {
  size: 'Size',
  rss: 'Rss',
  pss: 'Pss',
  anonymous: 'Anonymous',
  swap: 'Swap',
  sharedClean: 'Shared_Clean',
  sharedDirty: 'Shared_Dirty',
  privateClean: 'Private_Clean',
  privateDirty: 'Private_Dirty',
  locked: 'Locked',
} as const satisfies Partial<Record<keyof SmapsVma, string>>;
for (const [prop, key] of Object.entries(KB_FIELDS))
  Object.defineProperty(SmapsEntry.prototype, prop, {
    get(this: SmapsEntry): number {
      return this.kb[key] ?? 0;
    },
  });

const VMFLAGS = '\nVmFlags:';

/** the line number of text[pos], for an error */
function lineAt(text: string, pos: number): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Parse the text of /proc/PID/smaps: each VMA's header, then straight to its VmFlags line (the last of its block). */
export function parseSmaps(text: string, file = 'smaps'): SmapsVma[] {
  const out: SmapsVma[] = [];
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    if (text.charCodeAt(pos) === 10) {
      pos++;
      continue;
    }
    const nl = text.indexOf('\n', pos);
    const c = text.charCodeAt(pos);
    if (c >= 65 && c <= 90 /* A-Z: a "Key:" line out of place (VMA headers start with a hex digit) */)
      throw new ProcParseError(file, lineAt(text, pos), text.slice(pos, nl < 0 ? n : nl), 'field before the first VMA');
    if (nl < 0) throw new ProcParseError(file, lineAt(text, pos), text.slice(pos), 'a VMA without its fields');
    let v: Vma;
    try {
      v = parseMapsLine(text.slice(pos, nl), file);
    } catch (e) {
      throw new ProcParseError(file, lineAt(text, pos), text.slice(pos, nl), e instanceof ProcParseError ? e.reason : String(e));
    }
    const f = text.indexOf(VMFLAGS, nl);
    if (f < 0 && nl + 1 >= n) {
      // a VMA with no fields at all (a smaps text made by hand)
      out.push(new SmapsEntry(v, [], text, nl + 1, nl + 1, file) as unknown as SmapsVma);
      break;
    }
    if (f < 0) throw new ProcParseError(file, lineAt(text, pos), text.slice(pos, nl), 'no VmFlags line for this VMA (a kernel before 3.8?)');
    let fe = text.indexOf('\n', f + 1);
    if (fe < 0) fe = n;
    const flags: string[] = [];
    for (const x of text.slice(f + VMFLAGS.length, fe).split(' ')) if (x !== '') flags.push(x);
    out.push(new SmapsEntry(v, flags, text, nl + 1, f + 1, file) as unknown as SmapsVma);
    pos = fe + 1;
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
