// `criu dump`: freeze the tree, collect every task, write the images, then kill the tree (or
// let it run with --leave-running). Any failure releases every task exactly as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Tracee, TaskGoneError } from '../ptrace/tracee.js';
import { Injector, findSyscallInsn } from '../ptrace/inject.js';
import { listTids, collectTree, readFdinfo, listFds, readFdLink, type SmapsVma } from '../proc/index.js';
import { collectThread, collectProcessInside, collectProcessOutside, type TaskState } from './collect.js';
import { toVmaRecs, type VmaRec } from './vmas.js';
import { dumpMemory, type MemStats } from './memory.js';
import { FileTable, FD_TYPES } from '../files/table.js';
import { dumpReg } from '../files/reg.js';
import { buildCore, buildMm, buildPstree, buildIds, buildInventory, nsIds } from './entries.js';
import { writeImage } from '../images/index.js';
import { tryKill, waitpid, decodeWait, WNOHANG, __WALL } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';

export interface DumpOptions {
  pid: number;
  imagesDir: string;
  leaveRunning: boolean;
  leaveStopped: boolean;
}

interface Frozen { pid: number; tracees: Tracee[] }

/** Seize and stop every thread of every task of the tree. */
function freeze(rootPid: number): Frozen[] {
  const frozen: Frozen[] = [];
  try {
    const tree = collectTree(rootPid);
    for (const node of tree.all) {
      if (node.pid !== rootPid) throw new NotSupportedError(`task ${node.pid}: child of ${node.ppid} (process trees)`, 'dump a single process for now');
    }
    const f: Frozen = { pid: rootPid, tracees: [] };
    frozen.push(f);
    const seen = new Set<number>();
    for (let round = 0; round < 16; round++) {
      const fresh = listTids(rootPid).filter((t) => !seen.has(t));
      if (!fresh.length) break;
      for (const tid of fresh) {
        seen.add(tid);
        const t = Tracee.seize(tid);
        f.tracees.push(t);
        log.debug(`\tSeizing ${rootPid}'s ${tid} thread`);
        const s = t.stop();
        if (s.kind === 'group-stop') throw new NotSupportedError(`task ${tid}: stopped (group stop)`, 'resume it with SIGCONT before the dump');
      }
    }
    return frozen;
  } catch (e) {
    release(frozen, false);
    if (e instanceof TaskGoneError || (e as { code?: string }).code === 'ESRCH') {
      throw new CriuError(`task ${rootPid}: cannot freeze: ${(e as Error).message}`, 'is the PID right and the process alive?');
    }
    throw e;
  }
}

function release(frozen: Frozen[], kill: boolean): void {
  for (const f of frozen) {
    if (kill) tryKill(f.pid, 9);
    for (const t of f.tracees) {
      try { t.detach(0); } catch { /* gone */ }
    }
  }
}

export function dump(opts: DumpOptions): void {
  const t0 = process.hrtime.bigint();
  const dir = opts.imagesDir;
  fs.mkdirSync(dir, { recursive: true });
  log.info(`Dumping processes (pid: ${opts.pid})`);
  faultPoint(1, 'freeze');
  const frozen = freeze(opts.pid);
  const tFrozen = process.hrtime.bigint();
  let injectors: Injector[] = [];
  const memStats: MemStats = { pagesScanned: 0n, pagesWritten: 0n, pagesLazy: 0n };
  const written: string[] = [];
  let memdumpUs = 0;
  try {
    const f = frozen[0];
    const pid = f.pid;
    const main = f.tracees[0];

    faultPoint(2, 'collect');
    const outside = collectProcessOutside(pid);
    log.info(`Collected task ${pid} (${outside.stat.comm}): ${outside.vmas.length} VMAs`);
    const gadget = findSyscallInsn(pid);
    const inj = new Injector(main, gadget);
    injectors.push(inj);
    inj.begin();
    const scratch = inj.mapScratch();
    faultPoint(7, 'inject');
    const inside = collectProcessInside(inj, scratch);
    const threads = [collectThread(pid, main, inj, scratch)];
    for (const t of f.tracees.slice(1)) {
      const ti = new Injector(t, gadget);
      injectors.push(ti);
      ti.begin();
      threads.push(collectThread(pid, t, ti, scratch));
      ti.end();
      injectors.pop();
    }
    inj.unmapScratch();
    inj.end();
    injectors = [];
    const task: TaskState = { ...outside, ...inside, threads, sharedPending: main.peekSiginfo(true), gadget };
    const thread = threads[0];

    // files: exe, mapped files, fds, cwd/root
    faultPoint(3, 'files');
    const files = new FileTable();
    const exeId = files.pathId(task.exe, (id) => dumpReg(id, task.exe, `/proc/${pid}/exe`, 0, 0n));
    const vmaRecs: VmaRec[] = toVmaRecs(pid, task.vmas, (v: SmapsVma) =>
      files.pathId(v.path, (id) => dumpReg(id, v.path, `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`, 0, 0n)));
    const fdinfos = dumpFds(pid, files);
    const cwdId = files.allocId();
    files.add(dumpReg(cwdId, task.cwd, `/proc/${pid}/cwd`, 0, 0n));
    const rootId = files.allocId();
    files.add(dumpReg(rootId, task.root, `/proc/${pid}/root`, 0, 0n));

    // memory
    faultPoint(4, 'memory');
    const tm = process.hrtime.bigint();
    const pagesName = 'pages-1.img';
    const pagesFd = fs.openSync(path.join(dir, pagesName), 'w', 0o600);
    written.push(pagesName);
    let pagemap;
    try {
      pagemap = dumpMemory(pid, vmaRecs, pagesFd, memStats);
    } finally {
      fs.closeSync(pagesFd);
    }
    memdumpUs = Number((process.hrtime.bigint() - tm) / 1000n);
    log.info(`Dumped ${memStats.pagesWritten} pages of ${memStats.pagesScanned} scanned in ${pagemap.length} pagemap entries (${memdumpUs} us)`);

    // images
    faultPoint(5, 'images');
    const ns = nsIds(pid);
    const ids = buildIds(ns);
    const put = (name: string, entries: object[]): void => {
      writeImage(dir, name, entries);
      written.push(name);
      log.debug(`Wrote ${name} (${entries.length} entries)`);
    };
    for (const th of threads) put(`core-${th.tid}.img`, [buildCore(task, th, th === thread)]);
    put(`mm-${pid}.img`, [buildMm(task, vmaRecs, exeId)]);
    put(`pagemap-${pid}.img`, [{ pages_id: 1 }, ...pagemap.map((p) => ({ vaddr: p.vaddr, compat_nr_pages: 0, flags: p.flags, nr_pages: p.nr_pages }))]);
    put(`ids-${pid}.img`, [ids]);
    put(`fs-${pid}.img`, [{ cwd_id: cwdId, root_id: rootId, umask: task.status.umask ?? 0o22 }]);
    put(`fdinfo-${ids.files_id}.img`, fdinfos);
    put('files.img', files.entries);
    put('pstree.img', [buildPstree(task)]);
    put('seccomp.img', [{}]);
    put('timens-0.img', [timens()]);
    const frozenUs = Number((process.hrtime.bigint() - tFrozen) / 1000n);
    put('stats-dump', [{ dump: {
      freezing_time: Number((tFrozen - t0) / 1000n), frozen_time: frozenUs, memdump_time: memdumpUs, memwrite_time: memdumpUs,
      pages_scanned: memStats.pagesScanned, pages_skipped_parent: 0n, pages_written: memStats.pagesWritten,
      irmap_resolve: 0, pages_lazy: 0n, page_pipes: 0n, page_pipe_bufs: 0n,
      shpages_scanned: 0n, shpages_skipped_parent: 0n, shpages_written: 0n,
    } }]);
    faultPoint(6, 'inventory');
    put('inventory.img', [buildInventory(ns, randomUUID())]);
  } catch (e) {
    // undo what the injections left in the task: the scratch mapping, then registers and mask
    for (const inj of injectors.reverse()) {
      try { inj.unmapScratch(); } catch { /* the task is gone */ }
      try { inj.end(); } catch { /* the task is gone */ }
    }
    release(frozen, false);
    for (const name of written) fs.rmSync(path.join(dir, name), { force: true });
    throw e;
  }
  if (opts.leaveRunning) {
    release(frozen, false);
    log.info('Dumping finished successfully (tree left running)');
  } else {
    release(frozen, true);
    log.info('Dumping finished successfully');
  }
}

function dumpFds(pid: number, files: FileTable): object[] {
  const out: object[] = [];
  for (const fd of listFds(pid)) {
    const link = readFdLink(pid, fd);
    const info = readFdinfo(pid, fd);
    const cloexec = (info.flags & 0o2000000) !== 0 ? 1 : 0;
    let id = files.sameAs(pid, fd);
    if (id === undefined) {
      if (link.kind !== 'path' || link.deleted) {
        throw new NotSupportedError(`task ${pid}: fd ${fd} (${link.raw})`, 'only regular files, directories and devices by path are dumped yet');
      }
      id = files.allocId();
      files.add(dumpReg(id, link.path!, `/proc/${pid}/fd/${fd}`, info.flags, info.pos));
      log.debug(`fd ${fd}: ${link.path} flags 0${info.flags.toString(8)} pos ${info.pos} -> file id ${id}`);
      files.noteFd(pid, fd, id);
    }
    out.push({ id, flags: cloexec, type: FD_TYPES.REG, fd });
  }
  return out;
}

/** CLOCK_MONOTONIC and CLOCK_BOOTTIME now, as CRIU records them in timens-0.img. */
function timens(): object {
  const [mono, boot] = [process.hrtime.bigint(), bootNs()];
  return {
    monotonic: { tv_sec: mono / 1_000_000_000n, tv_nsec: mono % 1_000_000_000n },
    boottime: { tv_sec: boot / 1_000_000_000n, tv_nsec: boot % 1_000_000_000n },
  };
}
function bootNs(): bigint {
  const up = fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0];
  const [s, frac] = up.split('.');
  return BigInt(s) * 1_000_000_000n + BigInt((frac ?? '0').padEnd(9, '0'));
}

export { waitpid, decodeWait, WNOHANG, __WALL };
