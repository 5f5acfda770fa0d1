// The images of a dump, read and checked before anything is created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSingle, readMessages, ImageError } from '../images/index.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { onlineCpus, cpuWordsToList, formatCpuList } from '../proc/index.js';

type M = Record<string, any>;

export interface TaskImages {
  pid: number;
  pstree: M;
  core: M;
  mm: M;
  pagemap: M[];     // [head, ...entries]
  ids: M;
  fs: M;
  fdinfo: M[];
  threads: { tid: number; core: M }[]; // the other threads
  /** a dead task (TASK_DEAD) its parent has not reaped: only its exit status is kept */
  zombie?: boolean;
}

export interface DumpImages {
  dir: string;
  inventory: M;
  files: Map<number, M>;
  tasks: TaskImages[];
}

function need(dir: string, name: string): string {
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) throw new CriuError(`image ${name} is missing in ${dir}`, 'was the dump complete? inventory.img is written last');
  return p;
}

export function loadImages(dir: string): DumpImages {
  try {
    const inventory = readSingle<M>(need(dir, 'inventory.img'));
    if (inventory.img_version !== 2) throw new CriuError(`inventory.img: image version ${inventory.img_version}, only version 2 is known`);
    const pstree = readMessages<M>(need(dir, 'pstree.img'));
    if (!pstree.length) throw new CriuError('pstree.img has no task');
    const files = new Map<number, M>();
    if (fs.existsSync(path.join(dir, 'files.img'))) for (const f of readMessages<M>(path.join(dir, 'files.img'))) files.set(f.id, f);
    const tasks: TaskImages[] = pstree.map((p) => {
      const pid = p.pid;
      const core = readSingle<M>(need(dir, `core-${pid}.img`));
      if (core.tc && core.tc.task_state === 2) {
        return { pid, pstree: p, core, mm: {}, pagemap: [], ids: {}, fs: {}, fdinfo: [], threads: [], zombie: true };
      }
      const ids = readSingle<M>(need(dir, `ids-${pid}.img`));
      const fdName = `fdinfo-${ids.files_id}.img`;
      return {
        pid, pstree: p,
        core,
        mm: readSingle<M>(need(dir, `mm-${pid}.img`)),
        pagemap: readMessages<M>(need(dir, `pagemap-${pid}.img`)),
        ids,
        fs: readSingle<M>(need(dir, `fs-${pid}.img`)),
        fdinfo: fs.existsSync(path.join(dir, fdName)) ? readMessages<M>(path.join(dir, fdName)) : [],
        threads: (p.threads as number[]).filter((t) => t !== pid).map((t) => ({ tid: t, core: readSingle<M>(need(dir, `core-${t}.img`)) })),
      };
    });
    return { dir, inventory, files, tasks };
  } catch (e) {
    if (e instanceof ImageError) throw new CriuError(`bad image: ${e.message}`, 'the images are damaged or not CRIU images');
    throw e;
  }
}

/** Refuse what this restore cannot do yet, before any process is created. */
export function checkSupported(img: DumpImages): void {
  for (const t of img.tasks) {
    const tc = t.core.tc;
    if (t.zombie) continue;
    if (tc && tc.task_state !== 1 && tc.task_state !== 3) throw new NotSupportedError(`task ${t.pid}: task state ${tc.task_state} (zombie/stopped/dead)`);
    for (const core of [t.core, ...t.threads.map((x) => x.core)]) {
      const m = core.thread_core?.seccomp_mode;
      if (m && m !== 2) throw new NotSupportedError(`task ${t.pid}: seccomp mode ${m}`);
    }
    if (t.core.mtype !== 1) throw new NotSupportedError(`task ${t.pid}: core of architecture ${t.core.mtype}`);
    for (const th of [{ tid: t.pid, core: t.core }, ...t.threads]) {
      const cpus = allowedCpus(th.core);
      if (cpus && !cpus.some((c) => onlineCpus().includes(c))) {
        throw new CriuError(`task ${t.pid}: thread ${th.tid}: CPU affinity ${formatCpuList(cpus)} names no CPU online here (online: ${formatCpuList(onlineCpus())})`,
          'restore on a machine with one of those CPUs online, or bring one online');
      }
    }
  }
}

/** The CPUs a thread was pinned to, or null when it could run on every CPU (no field). */
export function allowedCpus(core: M): number[] | null {
  const a = core.thread_core?.allowed_cpus;
  return a?.has_cpumask ? cpuWordsToList(a.cpumask ?? []) : null;
}
