// Memory: the puppet's own goes, the vdso block is moved, every VMA is mapped as the plan says
// (VMAs a forked child inherited exactly are kept, copy-on-write), pages are filled, and the
// mm fields are set.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Puppet, PAGE, GADGET_PAGES } from './puppet.js';
import type { DumpImages, TaskImages } from './images.js';
import type { PlanTask, PlannedVma } from './plan.js';
import { fillPages, pagemapRuns, preadvRuns } from './pages.js';
import { findHole, TASK_TOP, MMAP_MIN, PROT, type Range } from './task.js';
import { readMaps, readSmaps, type SmapsVma } from '../proc/index.js';
import type { BatchCall } from '../ptrace/inject.js';
import type { FileCtx } from '../files/restore-ctx.js';
import { readPagemapLoose } from '../images/typed.js';
import type { VmaEntry } from '../images/index.js';
import { VMA, MAP, madvBits } from '../images/consts.js';
import { errnoName, close } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { pluginCalls } from '../hooks.js';
import { installGuards, dropInheritedGuards, guardRanges } from '../mem/guard.js';
import { restoreAioRings, plannedRings } from '../mem/aio.js';
import { HUGETLB_FLAGS, hugetlbHint } from '../mem/hugetlb.js';

/** Replace the puppet's memory with the task's: unmap, move the vdso, map every VMA, fill pages. */
export function buildMemory(p: Puppet, t: TaskImages, pt: PlanTask, img: DumpImages, files: FileCtx): void {
  const vmas = t.mm.vmas ?? [];
  faultPoint(103, 'unmap');
  const own = p.forkedChild ? readSmaps(p.pid) : readMaps(p.pid);
  const special = own.filter((v) => v.kind === 'vdso' || v.kind === 'vvar' || v.kind === 'vvar_vclock');
  // a forked child keeps the private VMAs it shares with its parent, so that their pages stay
  // shared copy-on-write as they were in the dumped tree
  const kept = p.forkedChild ? inheritedVmas(own as SmapsVma[], pt.vmas, img) : new Set<number>();
  const keep: Range[] = [
    { s: p.gadgetArea, e: p.gadgetArea + GADGET_PAGES * PAGE },
    ...special.map((v) => ({ s: v.start, e: v.end })),
    ...[...kept].map((i) => ({ s: pt.vmas[i].start, e: pt.vmas[i].end })),
  ].sort((a, b) => (a.s < b.s ? -1 : 1));
  let cur = MMAP_MIN;
  for (const k of [...keep, { s: TASK_TOP, e: TASK_TOP }]) {
    if (k.s > cur) p.inj.must('munmap', cur, k.s - cur);
    if (k.e > cur) cur = k.e;
  }
  moveVdso(p, special, vmas);

  faultPoint(104, 'mmap');
  mapVmas(p, t, pt, img, files, kept);

  faultPoint(105, 'pages');
  if (kept.size && img.tasks.some((x) => guardRanges(x.mm.vmas ?? []).length))
    dropInheritedGuards(
      p.inj,
      [...kept].map((i) => pt.vmas[i]),
    );
  fillPages(p, t, img, vmas, kept);
  const prots: BatchCall[] = [];
  for (const v of pt.vmas) {
    // a SysV segment is attached read-write or read-only, never executable
    if (v.how.how === 'sysv') prots.push({ name: 'mprotect', args: [v.start, v.end - v.start, v.prot] });
    else if (v.how.how !== 'special' && !kept.has(v.index) && v.filled && (v.prot & 3) !== 3)
      prots.push({ name: 'mprotect', args: [v.start, v.end - v.start, v.prot] });
  }
  p.inj.mustBatch(prots);
  restoreAioRings(p.inj, t.pid, plannedRings(t.pid, t.mm));
  lockVmas(p, t, pt);
  installGuards(p.inj, t.pid, pt.guards);
}

/**
 * VMAs that were locked (mlock, MAP_LOCKED: MAP_LOCKED in the image's flags, as CRIU writes it)
 * are locked again once their pages are in place; a forked child's inherited ones too (a lock
 * is not inherited across fork). The tool's CAP_IPC_LOCK lets it pass RLIMIT_MEMLOCK.
 */
function lockVmas(p: Puppet, t: TaskImages, pt: PlanTask): void {
  const vmas = t.mm.vmas ?? [];
  for (const v of pt.vmas) {
    if (v.how.how === 'special' || !(vmas[v.index].flags & MAP.LOCKED)) continue;
    const r = p.inj.call('mlock2', v.start, v.end - v.start, 0);
    if (r < 0n)
      throw new CriuError(`task ${t.pid}: cannot lock VMA ${v.start.toString(16)}-${v.end.toString(16)} (mlock): ${errnoName(Number(-r))}`, {
        task: t.pid,
        object: `VMA ${v.start.toString(16)}`,
        hint: 'locked memory needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK',
      });
  }
}

/**
 * Every VMA not kept, as the plan says: plain anonymous ones in batches (one resume for many
 * mmap and madvise calls); anything else first runs what is pending, in order.
 */
/** the MADV_* numbers of a VMA's advice bits (bit N: advice N) */
function advice(madv: bigint): number[] {
  const out: number[] = [];
  for (let bits = Number(BigInt.asUintN(32, madv)), a = 0; bits; a++, bits >>>= 1) if (bits & 1) out.push(a);
  return out;
}

function mapVmas(p: Puppet, t: TaskImages, pt: PlanTask, img: DumpImages, files: FileCtx, kept: Set<number>): void {
  const inj = p.inj;
  const who = `task ${t.pid}`;
  const pending: BatchCall[] = [];
  const checks: { k: number; v: PlannedVma }[] = [];
  const flushMaps = (): void => {
    if (!pending.length) return;
    const rs = inj.batch(pending);
    for (const c of checks) {
      const r = rs[c.k];
      if (r !== c.v.start) throw mapError(who, c.v, r, `batched mmap ${c.k + 1} of ${rs.length} calls`);
    }
    pending.length = 0;
    checks.length = 0;
  };
  for (const v of pt.vmas) {
    if (v.how.how === 'special' || kept.has(v.index)) continue;
    const status = (t.mm.vmas ?? [])[v.index].status;
    const start = v.start,
      len = v.end - v.start;
    if (v.how.how === 'anon' || v.how.how === 'aio') {
      checks.push({ k: pending.length, v });
      pending.push({ name: 'mmap', args: [start, len, v.mapProt, MAP.FIXED | v.mapFlags, -1, 0] });
      // an aio ring's advice goes to the ring that replaces the stand-in
      if (v.how.how === 'anon') for (const a of advice(v.madv)) pending.push({ name: 'madvise', args: [start, len, a] });
      if (log.level >= 4) log.debug(`${who}: mapped VMA ${start.toString(16)}-${v.end.toString(16)} prot ${v.prot} status 0x${status.toString(16)}`);
      continue;
    }
    flushMaps();
    const r = mapOne(p, who, v, status, img, files);
    log.debug(`${who}: mapped VMA ${start.toString(16)}-${v.end.toString(16)} prot ${v.prot} status 0x${status.toString(16)}`);
    if (r !== start) throw mapError(who, v, r, v.how.how);
    for (const a of advice(v.madv)) inj.call('madvise', start, len, a);
  }
  flushMaps();
}

/** One VMA other than a plain anonymous one mapped in place; gives mmap's (or mremap's) result. */
function mapOne(p: Puppet, who: string, v: PlannedVma, status: number, img: DumpImages, files: FileCtx): bigint {
  const inj = p.inj;
  const start = v.start,
    len = v.end - v.start;
  // a file-backed VMA: the tool's fd on the object goes into the task and is mapped there
  const mapOurs = (ours: number, keepOurs: boolean, pgoff = v.pgoff): bigint => {
    const fd = p.receiveFd(ours);
    if (!keepOurs) close(ours);
    const m = inj.call('mmap', start, len, v.mapProt, MAP.FIXED | v.mapFlags, fd, pgoff);
    inj.must('close', fd);
    return m;
  };
  const h = v.how;
  switch (h.how) {
    case 'memfd': {
      const f = files.file(h.fileId);
      if (!f?.memfd) throw new CriuError(`${who}: VMA ${start.toString(16)}: memfd id ${h.fileId} is not in files.img`);
      return mapOurs(files.openMapped(h.fileId, who, h.openFlags), false);
    }
    case 'file': {
      const f = img.files.get(h.fileId);
      if (!f?.reg) throw new CriuError(`${who}: VMA ${start.toString(16)}: file id ${h.fileId} is not in files.img`);
      if (status & VMA.EXT_PLUGIN) {
        // a device plugin may move the mapping's offset or lend the fd it must be made from (files-reg.c)
        const u = pluginCalls().updateVmaMap(f.reg.name, start, v.pgoff);
        if (u && u.fd >= 0) return mapOurs(u.fd, true, u.pgoff);
        if (u) return mapOurs(files.openMapped(h.fileId, who, h.openFlags), false, u.pgoff);
      }
      return mapOurs(files.openMapped(h.fileId, who, h.openFlags), false);
    }
    // a packet socket's ring, mapped from a new fd on the socket (its rings set when it was opened)
    case 'socket':
      return mapOurs(files.openMapped(h.fileId, who, 0), false);
    case 'sysv':
      return h.attach ? attachSysv(p, who, v, h.shmid, h.write) : start;
    // the object's fd stays with the tool for the other mappings of it
    case 'shmem':
      return mapOurs(shmemObject(p, h.shmid, img, files), true);
    case 'anon-moved': {
      // two separate anonymous VMAs side by side: mapped in place the kernel would merge
      // them into one; one made elsewhere and moved here keeps its own page offset, and so
      // its boundary, as in the dumped task
      // (a VMA never faulted takes its new place's offset on a move, so one page is touched first)
      const tmp = movableCopy(inj, v, start, len);
      if (tmp >= 0n) touchPage(p.pid, v.mapFlags & MAP.GROWSDOWN ? tmp + len - PAGE : tmp);
      return tmp < 0n ? tmp : inj.call('mremap', tmp, len, len, 3 /* MREMAP_MAYMOVE | MREMAP_FIXED */, start);
    }
    default:
      throw new NotSupportedError(`${who}: VMA ${start.toString(16)}-${v.end.toString(16)} with status 0x${status.toString(16)}`);
  }
}

/**
 * The mapping an anon-moved VMA is made in before mremap moves it to START: not overlapping
 * [START, START+LEN), which mremap refuses (EINVAL). The kernel may pick a free range that
 * overlaps it (a large VMA near the top of the address space, as V8's reservations on aarch64):
 * then another is taken while the first is held, up to four, and those not used are unmapped.
 */
export function movableCopy(inj: Puppet['inj'], v: PlannedVma, start: bigint, len: bigint): bigint {
  const held: bigint[] = [];
  let got = -22n; // EINVAL: no place apart from its own
  for (let i = 0; i < 4; i++) {
    const r = inj.call('mmap', 0, len, v.mapProt, v.mapFlags, -1, 0);
    if (r < 0n || r + len <= start || r >= start + len) {
      got = r;
      break;
    }
    held.push(r);
  }
  for (const h of held) inj.call('munmap', h, len);
  return got;
}

/**
 * SysV shm segment shmid attached at the VMA's address in the puppet's IPC namespace (the
 * host's, where it outlived the dumped tree, or the new one ns/ipc.ts made it in with its id).
 */
function attachSysv(p: Puppet, who: string, v: PlannedVma, shmid: number, write: boolean): bigint {
  const SHM_RDONLY = 0o10000;
  const r = p.inj.call('shmat', shmid, v.start, write ? 0 : SHM_RDONLY);
  if (r < 0n)
    throw new CriuError(`${who}: cannot attach SysV shm segment ${shmid} at ${v.start.toString(16)} (shmat): ${errnoName(Number(-r))}`, {
      task: p.pid,
      object: `SysV shm ${shmid}`,
      hint: 'a segment of the host IPC namespace must still exist (ipcs -m) with its id; EACCES: its mode no longer lets the task attach it',
    });
  return r;
}

/** The error of an mmap that failed (r < 0) or put the VMA elsewhere, with what was asked; a hugetlb one says what it needs. */
function mapError(who: string, v: PlannedVma, r: bigint, how: string): CriuError {
  const huge = v.mapFlags & MAP.HUGETLB;
  const what = `${r < 0n ? errnoName(Number(-r)) : `landed at ${r.toString(16)}`}`;
  const asked = `prot 0x${v.mapProt.toString(16)} flags 0x${(MAP.FIXED | v.mapFlags).toString(16)}, ${how}`;
  return new CriuError(`${who}: cannot map VMA ${v.start.toString(16)}-${v.end.toString(16)}${huge ? ' (hugetlb)' : ''}: ${what} (${asked})`, {
    task: Number(who.split(' ')[1]),
    object: `VMA ${v.start.toString(16)}`,
    hint: huge
      ? hugetlbHint(v.mapFlags, v.end - v.start)
      : 'the address range may be taken or the mapping flags refused by this kernel; run with -v4 and look at the mapped VMAs before it',
  });
}

/** Image VMAs (by index) that the child inherited from its parent exactly: same place, protection, backing, advice. */
function inheritedVmas(own: SmapsVma[], vmas: PlannedVma[], img: DumpImages): Set<number> {
  const byStart = new Map(own.map((o) => [o.start, o]));
  const out = new Set<number>();
  for (const v of vmas) {
    const o = byStart.get(v.start);
    if (!o || o.end !== v.end || o.prot !== v.prot || o.shared) continue;
    if (madvBits(o.vmFlags) !== v.madv) continue;
    if (o.vmFlags.includes('gd') !== v.growsdown) continue;
    if (v.cow === 'anon') {
      if (['anon', 'anon_named', 'heap', 'stack'].includes(o.kind)) out.add(v.index);
    } else if (v.cow === 'file') {
      const f = img.files.get(v.fileId);
      if (o.kind === 'file' && f?.reg?.name === o.path && o.offset === v.pgoff) out.add(v.index);
    }
  }
  return out;
}

/** Move the puppet's [vvar][vvar_vclock][vdso] block to where the image had it (DESIGN rule 10). */
function moveVdso(p: Puppet, own: { start: bigint; end: bigint }[], vmas: VmaEntry[]): void {
  const img = vmas.filter((v) => v.status & (VMA.VDSO | VMA.VVAR));
  if (!img.length || !own.length) return;
  const ps = own.reduce((a, v) => (v.start < a ? v.start : a), own[0].start);
  const pe = own.reduce((a, v) => (v.end > a ? v.end : a), own[0].end);
  const ts = img.reduce((a, v) => (BigInt(v.start) < a ? BigInt(v.start) : a), BigInt(img[0].start));
  const te = img.reduce((a, v) => (BigInt(v.end) > a ? BigInt(v.end) : a), BigInt(img[0].end));
  if (pe - ps !== te - ts) {
    throw new NotSupportedError(
      `task ${p.pid}: vdso/vvar block of ${te - ts} bytes in the image, ${pe - ps} on this kernel`,
      'restore on the kernel the dump was made on',
    );
  }
  if (ps === ts) return;
  const MREMAP_MAYMOVE = 1,
    MREMAP_FIXED = 2;
  const hops: bigint[] = [];
  if (ts < pe && ps < te) {
    const taken = [
      ...vmas.map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) })),
      { s: ps, e: pe },
      { s: p.gadgetArea, e: p.gadgetArea + GADGET_PAGES * PAGE },
    ];
    hops.push(findHole(taken, pe - ps));
  }
  hops.push(ts);
  let from = ps;
  const parts = [...own].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (const to of hops) {
    for (const v of parts) {
      const s = v.start - ps + from,
        l = v.end - v.start;
      p.inj.must('mremap', s, l, l, MREMAP_MAYMOVE | MREMAP_FIXED, s - from + to);
    }
    from = to;
  }
}

/** Fault in one page of a task (through /proc/PID/mem, whatever its protection) by writing a zero byte. */
function touchPage(pid: number, addr: bigint): void {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(1), 0, 1, Number(addr));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The tool's fd on shared anonymous object `shmid`: made the first time, in puppet p, as a
 * MAP_SHARED|MAP_ANONYMOUS area filled from pagemap-shmem-SHMID.img; every mapping of it, in
 * any task, then maps that very object.
 */
function shmemObject(p: Puppet, shmid: number, img: DumpImages, files: FileCtx): number {
  const known = files.shmem.get(shmid);
  if (known !== undefined) return known;
  const who = `task ${p.pid}: shared memory ${shmid}`;
  let size = 0n,
    huge = 0; // MAP_HUGETLB and its page size: a hugetlb object (mem/hugetlb.ts)
  for (const t of img.tasks) {
    for (const v of t.mm.vmas ?? []) {
      if (v.status & VMA.ANON_SHARED && Number(v.shmid) === shmid) {
        const end = BigInt(v.pgoff) + BigInt(v.end) - BigInt(v.start);
        if (end > size) size = end;
        huge = v.flags & HUGETLB_FLAGS;
      }
    }
  }
  const r = p.inj.call('mmap', 0, size, PROT.READ | PROT.WRITE, MAP.SHARED | MAP.ANON | huge, -1, 0);
  if (r < 0n)
    throw new CriuError(`${who}: cannot create it (${size} bytes${huge ? ', hugetlb' : ''}): ${errnoName(Number(-r))}`, {
      task: p.pid,
      object: `shared memory ${shmid}`,
      ...(huge ? { hint: hugetlbHint(huge, size) } : {}),
    });
  const pm = path.join(img.dir, `pagemap-shmem-${shmid}.img`);
  if (fs.existsSync(pm)) {
    const { head, entries } = readPagemapLoose(pm);
    const { runs, bytes } = pagemapRuns(who, entries, r, []);
    preadvRuns(p, who, path.join(img.dir, `pages-${head?.pages_id}.img`), runs, bytes);
  }
  const fd = fs.openSync(`/proc/${p.pid}/map_files/${r.toString(16)}-${(r + size).toString(16)}`, 'r+');
  p.inj.must('munmap', r, size);
  files.shmem.set(shmid, fd);
  return fd;
}

export function setMm(p: Puppet, t: TaskImages, img: DumpImages, files: FileCtx): void {
  const mm = t.mm;
  const inj = p.inj;
  const exe = img.files.get(mm.exe_file_id)?.reg;
  let exeFd = -1;
  if (exe) {
    const ours = files.openPath(mm.exe_file_id, `task ${t.pid}: exe`, 'exe');
    exeFd = p.receiveFd(ours);
    close(ours);
  }
  const auxv: bigint[] = (mm.mm_saved_auxv ?? []).map((x) => BigInt(x));
  const auxBuf = Buffer.alloc((auxv.length + 2) * 8);
  auxv.forEach((v, i) => auxBuf.writeBigUInt64LE(BigInt.asUintN(64, v), i * 8));
  const s = p.scratch;
  const map = Buffer.alloc(104);
  const fields = [
    'mm_start_code',
    'mm_end_code',
    'mm_start_data',
    'mm_end_data',
    'mm_start_brk',
    'mm_brk',
    'mm_start_stack',
    'mm_arg_start',
    'mm_arg_end',
    'mm_env_start',
    'mm_env_end',
  ] as const;
  fields.forEach((f, i) => map.writeBigUInt64LE(BigInt(mm[f]), i * 8));
  map.writeBigUInt64LE(s + 1024n, 88);
  map.writeUInt32LE(auxBuf.length, 96);
  map.writeInt32LE(exeFd, 100);
  inj.write(s + 1024n, auxBuf);
  inj.write(s, map);
  const PR_SET_MM = 35,
    PR_SET_MM_MAP = 14;
  const r = inj.call('prctl', PR_SET_MM, PR_SET_MM_MAP, s, 104, 0);
  if (r < 0n)
    throw new CriuError(`task ${t.pid}: prctl(PR_SET_MM_MAP) failed: ${errnoName(Number(-r))}`, {
      task: t.pid,
      object: 'mm_struct (PR_SET_MM_MAP)',
      hint: 'the tool needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN',
    });
  if (exeFd >= 0) inj.must('close', exeFd);
  if (mm.dumpable !== undefined) inj.call('prctl', 4 /* PR_SET_DUMPABLE */, mm.dumpable);
  if (mm.thp_disabled) inj.must('prctl', 41 /* PR_SET_THP_DISABLE */, 1);
}
