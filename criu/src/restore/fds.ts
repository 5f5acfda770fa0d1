// File descriptors: each fd table is installed by the first task that has it, in the batches
// the plan says, then the task's file locks (--file-locks); then its cwd, root and umask.
import type { Puppet } from './puppet.js';
import type { DumpImages, TaskImages } from './images.js';
import type { RestorePlan, PlannedFd } from './plan.js';
import type { FileCtx } from '../files/restore-ctx.js';
import type { AnyKind as FileKind } from '../files/kind.js';
import type { FileEntry } from '../images/gen/types.js';
import { restoreLocks } from '../files/locks.js';
import { errnoName } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

type After = { kind: FileKind; e: FileEntry; fd: number }[];

/** The task's fd table: installed by the first task that has it, shared (CLONE_FILES) by the others. */
export function installFds(p: Puppet, t: TaskImages, plan: RestorePlan, files: FileCtx): void {
  const inj = p.inj;
  const who = `task ${t.pid}`;
  const tableDone = files.tables.has(t.ids.files_id);
  files.tables.add(t.ids.files_id);
  // a forked task holds its parent's fds (the transport excepted): it starts from none
  if (t.pstree.ppid && !tableDone) {
    if (p.transportFd > 0) inj.must('close_range', 0, p.transportFd - 1, 0);
    inj.must('close_range', p.transportFd + 1, 0xffffffff, 0);
  }
  const after: After = [];
  const holes: number[] = []; // stand-ins keep the gaps filled until every fd is in place
  const steps = tableDone ? [] : (plan.fdTables.get(t.ids.files_id)?.steps ?? []);
  for (const step of steps) {
    if ('single' in step) {
      const fi = step.single;
      const o = files.open(fi.id, `${who}: fd ${fi.fd}`);
      if (o.kind.afterInstall) after.push({ kind: o.kind, e: o.e, fd: fi.fd });
      p.installFd(o.fd, fi.fd, fi.cloexec);
      continue;
    }
    installBatch(p, who, step.batch, files, after, holes);
  }
  for (const h of holes) inj.must('close', h);
  for (const a of after) files.afterInstall(a.kind, a.e, a.fd, p, `${who}: fd ${a.fd}`);
  // the task's file locks, on its fds now in place (before anything can run or close them)
  restoreLocks(files, p, t.fdinfo, files.fileLocks);
}

/** One batch: the objects are opened (stand-ins fill the gaps), passed at once, checked in place. */
function installBatch(p: Puppet, who: string, batch: (PlannedFd | null)[], files: FileCtx, after: After, holes: number[]): void {
  const fds = batch.map((b) => (b ? -1 : files.standIn()));
  batch.forEach((b, k) => {
    if (!b) return;
    const o = files.open(b.id, `${who}: fd ${b.fd}`);
    fds[k] = o.fd;
    if (o.kind.afterInstall) after.push({ kind: o.kind, e: o.e, fd: b.fd });
    log.debug(`${who}: fd ${b.fd} <- ${o.kind.name} file id ${b.id}`);
  });
  const got = p.receiveFds(fds);
  got.forEach((g, k) => {
    const fi = batch[k];
    if (!fi) {
      holes.push(g);
      return;
    }
    if (g !== fi.fd) throw new CriuError(`${who}: fd ${fi.fd} arrived as ${g}`);
    if (fi.cloexec) p.inj.must('fcntl', g, 2 /* F_SETFD */, 1);
  });
}

/** The task's root (only / for now), cwd (made again if it was removed) and umask. */
export function restoreFs(p: Puppet, t: TaskImages, img: DumpImages, files: FileCtx): void {
  const inj = p.inj;
  const who = `task ${t.pid}`;
  const fsImg = t.fs;
  const cwd = img.files.get(fsImg.cwd_id)?.reg?.name;
  const rootDir = img.files.get(fsImg.root_id)?.reg?.name;
  if (rootDir && rootDir !== '/') throw new NotSupportedError(`${who}: root directory ${rootDir}`);
  if (cwd) {
    files.openPath(fsImg.cwd_id, who, 'cwd');
    const r = inj.call('chdir', inj.str(cwd));
    if (r < 0n) throw new CriuError(`${who}: cannot chdir to ${cwd}: ${errnoName(Number(-r))}`, 'the directory must exist as at dump time');
  }
  if (fsImg.umask !== undefined) inj.must('umask', fsImg.umask);
}
