// The images of a dump, built from what was collected and written (0600, the typed writers'
// default) into the images directory; every file written is noted so that a failing dump
// leaves none behind. inventory.img goes last: its presence says the dump is complete.
import { writeCgroupImage } from '../cgroup/dump.js';
import { CriuError } from '../errors.js';
import { clockNs, CLOCK } from '../sys/libc.js';
import { timensOffsets } from '../proc/index.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeMessages, writePagemap, FdTypes, type EntryOf, type FileEntry, type Pagemap, type PlainKind } from '../images/index.js';
import { writeExtraImages } from '../files/extra.js';
import { writeNsImages, pstreeImage } from '../ns/index.js';
import { treePids } from '../proc/nspid.js';
import { log } from '../log.js';
import type { Frozen } from './freeze.js';
import type { TaskState } from './collect.js';
import type { TaskFiles, TreeFiles } from './task-files.js';
import type { TreePages } from './memory.js';
import { buildCore, buildMm, buildFs, buildPagemap, buildPstreeEntry, buildTimens, buildZombieCore, SeccompImage } from './entries.js';

const vpid = (host: number): number => treePids.image(host);

/** The images directory of a dump and the files written into it so far. */
export class ImageDir {
  readonly written: string[] = [];
  constructor(readonly dir: string) {}

  put<K extends PlainKind>(name: string, kind: K, msgs: EntryOf<K>[]): void {
    writeMessages(this.dir, name, kind, msgs);
    this.noted(name, msgs.length);
  }

  pagemap(name: string, pm: Pagemap): void {
    writePagemap(this.dir, name, pm);
    this.noted(name, 1 + pm.entries.length);
  }

  private noted(name: string, entries: number): void {
    this.written.push(name);
    log.debug(`Wrote ${name} (${entries} entries)`);
  }

  /** a failed dump: every file it wrote goes */
  removeAll(): void {
    for (const name of this.written) fs.rmSync(path.join(this.dir, name), { force: true });
  }
}

/** Every image but stats-dump and inventory.img: per task, then the shared ones. */
export function writeImages(out: ImageDir, frozen: Frozen[], tasks: TaskState[], tf: TreeFiles, pages: TreePages): void {
  const seccomp = new SeccompImage();
  writeTaskImages(out, tf.perTask, pages, seccomp);
  // a tun file: its REG entry, then its TUNF one of the same id (CRIU's dump_tunfile)
  const split = (e: FileEntry): FileEntry[] =>
    e.type === FdTypes.TUNF && e.reg
      ? [
          { type: FdTypes.REG, id: e.id, reg: e.reg },
          { type: FdTypes.TUNF, id: e.id, tunf: e.tunf },
        ]
      : [e];
  out.put('files.img', 'FILES', tf.files.entries.flatMap(split));
  for (const name of writeExtraImages(out.dir, tf.extra)) {
    out.written.push(name);
    log.debug(`Wrote ${name}`);
  }
  // zombies: a core with the exit status and nothing else, as CRIU writes them
  for (const f of frozen) {
    if (f.zombie) out.put(`core-${vpid(f.pid)}.img`, 'CORE', [buildZombieCore(f.zombie)]);
  }
  const taskOf = new Map(tasks.map((t) => [t.pid, t]));
  out.put(
    'pstree.img',
    'PSTREE',
    frozen.map((f, i) => pstreeImage(buildPstreeEntry(f.pid, i === 0 ? 0 : f.ppid, taskOf.get(f.pid), f.zombie), !!f.zombie)),
  );
  out.put('seccomp.img', 'SECCOMP', [{ seccomp_filters: seccomp.filters }]);
  // the clocks of the tree: the host's (timens-0.img), or those of its own time namespace, and
  // of the namespaces below it (offsets from /proc of a task whose children get it, else measured)
  // (one reading of the host's clocks for all, so that they keep their distances)
  const nss = tf.namespaces.timeNamespaces((pid) => frozen.find((f) => f.pid === pid)?.ppid);
  const offs = nss.map((n) => {
    const off = n.giver !== undefined ? timensOffsets(n.giver) : taskOf.get(n.pid)?.timeOffsets;
    if (off === undefined) throw new CriuError(`task ${n.pid}: the offsets of its time namespace ${n.id} were not measured`, { task: n.pid });
    return off;
  });
  const now = { monotonic: clockNs(CLOCK.MONOTONIC), boottime: clockNs(CLOCK.BOOTTIME) };
  if (!tf.namespaces.time) out.put('timens-0.img', 'TIMENS', [buildTimens(undefined, now)]);
  nss.forEach((n, i) => out.put(`timens-${n.id}.img`, 'TIMENS', [buildTimens(offs[i], now)]));
  // the root's own UTS and IPC namespaces (ns/)
  const firstPagesId = Math.max(tf.lastPagesId, ...pages.shmemMaps.map((m) => m.pagesId)) + 1;
  for (const name of writeNsImages(out.dir, tf.namespaces, firstPagesId)) out.written.push(name);
  out.written.push(...writeCgroupImage(out.dir)); // after the cgroup namespace's view is noted
}

/** Per task its threads' cores, mm, pagemap, ids, fs and (once per fd table) fdinfo; then the shared memory's pagemaps. */
function writeTaskImages(out: ImageDir, perTask: TaskFiles[], pages: TreePages, seccomp: SeccompImage): void {
  const fdinfoDone = new Set<number>();
  perTask.forEach((t, i) => {
    const { task } = t;
    const pid = vpid(task.pid); // the images name tasks by their pids in the root's pid namespace
    for (const th of task.threads) out.put(`core-${vpid(th.tid)}.img`, 'CORE', [buildCore(task, th, th.tid === task.pid, seccomp.add(th))]);
    out.put(`mm-${pid}.img`, 'MM', [buildMm(task, t.vmas, t.exeId)]);
    out.pagemap(`pagemap-${pid}.img`, { head: { pages_id: i + 1 }, entries: buildPagemap(pages.pagemaps[i]) });
    out.put(`ids-${pid}.img`, 'IDS', [t.ids]);
    out.put(`fs-${pid}.img`, 'FS', [buildFs(task, t.cwdId, t.rootId)]);
    if (!fdinfoDone.has(t.ids.files_id)) {
      fdinfoDone.add(t.ids.files_id);
      out.put(`fdinfo-${t.ids.files_id}.img`, 'FDINFO', t.fdinfos);
    }
  });
  for (const m of pages.shmemMaps) {
    out.pagemap(`pagemap-shmem-${m.shmid}.img`, { head: { pages_id: m.pagesId }, entries: buildPagemap(m.entries) });
  }
}

/** A random (version 4) UUID from /dev/urandom: loading node:crypto for it costs ~25 ms. */
export function uuid4(): string {
  const b = Buffer.alloc(16);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, b, 0, 16, null);
  } finally {
    fs.closeSync(fd);
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
