// What each task has open or mapped, and what it shares: per task the exe, mapped files, fds,
// cwd and root (ids in CRIU's order), its kernel-object ids and its namespaces. The tree is
// still frozen; nothing is written yet.
import type { SmapsVma } from '../proc/index.js';
import type { TaskState } from './collect.js';
import { toVmaRecs, type VmaRec } from './vmas.js';
import { refuseInheritedRings } from '../mem/aio.js';
import { packetRingMaps } from '../files/packet.js';
import { FileTable } from '../files/table.js';
import { ExtraImages } from '../files/kind.js';
import { dumpFds } from '../files/dump-fds.js';
import { finishTtyDump } from '../files/tty-dump.js';
import { buildIds, Namespaces } from './entries.js';
import { kcmp, KCMP } from '../sys/libc.js';
import type { FdinfoEntry, TaskKobjIdsEntry } from '../images/index.js';

/** CRIU's kernel-object ids: one counter per kind, the tool itself has 1, sharing found by kcmp. */
class ObjIds {
  private seen: Record<string, { pid: number; id: number }[]> = { VM: [], FILES: [], FS: [], SIGHAND: [] };
  private next: Record<string, number> = { VM: 2, FILES: 2, FS: 2, SIGHAND: 2 };
  id(kind: 'VM' | 'FILES' | 'FS' | 'SIGHAND', pid: number): number {
    for (const s of this.seen[kind]) {
      try {
        if (kcmp(pid, s.pid, KCMP[kind]) === 0) return s.id;
      } catch {
        /* not comparable: different */
      }
    }
    const id = this.next[kind]++;
    this.seen[kind].push({ pid, id });
    return id;
  }
}

/** One task with the ids of what it has open, mapped and shares. */
export interface TaskFiles {
  task: TaskState;
  exeId: number;
  vmas: VmaRec[];
  ids: TaskKobjIdsEntry;
  fdinfos: FdinfoEntry[];
  cwdId: number;
  rootId: number;
}

/** The files of the whole tree. */
export interface TreeFiles {
  perTask: TaskFiles[];
  files: FileTable;
  extra: ExtraImages;
  namespaces: Namespaces;
  /** the last pages-N.img id taken: one per task first (pages-1..N), then memfd contents */
  lastPagesId: number;
}

/** --tcp-established, --skip-in-flight and --file-locks */
export interface FileOpts {
  tcpEstablished: boolean;
  skipInFlight: boolean;
  fileLocks: boolean;
  tcpClose?: boolean;
  /** -j/--shell-job, and whether the tree runs on after the dump (queued tty data written back) */
  shellJob?: boolean;
  treeLivesOn?: boolean;
}

/** Walks the files of every task, in pstree order; ghostLimit: --ghost-limit. */
export function collectFiles(
  tasks: TaskState[],
  ghostLimit: number,
  o: FileOpts = { tcpEstablished: false, skipInFlight: false, fileLocks: false },
): TreeFiles {
  const files = new FileTable();
  files.tree = new Set(tasks.map((t) => t.pid));
  const extra = new ExtraImages();
  const objIds = new ObjIds();
  const namespaces = new Namespaces();
  // pages files: one per task first (pages-1..N), then memfd and shared-memory contents
  let lastPagesId = tasks.length;
  const allocPagesId = (): number => ++lastPagesId;
  const perTask = tasks.map((task): TaskFiles => {
    const pid = task.pid;
    const ns = namespaces.of(pid); // the tool's namespaces, or a time namespace of the tree's own
    // a removed exe or mapped file (" (deleted)") is dumped with its remap (files/ghost.ts)
    const exeId = task.exe.endsWith(' (deleted)')
      ? files.dumpDeleted(extra, task.exe, `/proc/${pid}/exe`, `task ${pid}: exe`)
      : files.dumpPath(task.exe, `/proc/${pid}/exe`);
    const mapFile = (v: SmapsVma): string => `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
    const vmas: VmaRec[] = toVmaRecs(
      pid,
      task.vmas,
      (v: SmapsVma) =>
        v.deleted
          ? files.dumpDeleted(extra, v.name, mapFile(v), `task ${pid}: VMA ${v.start.toString(16)}-${v.end.toString(16)} ${v.name}`)
          : files.dumpPath(v.path, mapFile(v)),
      (v: SmapsVma, flags: number) => files.dumpMapped({ extra, allocPagesId }, { pid, start: v.start, end: v.end, name: v.name, flags }),
    );
    const ids: TaskKobjIdsEntry = {
      ...buildIds(ns),
      vm_id: objIds.id('VM', pid),
      files_id: objIds.id('FILES', pid),
      fs_id: objIds.id('FS', pid),
      sighand_id: objIds.id('SIGHAND', pid),
    };
    const fdinfos = dumpFds(
      pid,
      files,
      extra,
      ghostLimit,
      allocPagesId,
      { tcpEstablished: o.tcpEstablished, skipInFlight: o.skipInFlight, netNsId: ns.net, tcpClose: o.tcpClose },
      o.fileLocks,
    );
    packetRingMaps(pid, vmas, files);
    const cwdId = files.dumpPlace(extra, 'cwd', task.cwd, `/proc/${pid}/cwd`);
    const rootId = files.dumpPlace(extra, 'root', task.root, `/proc/${pid}/root`);
    return { task, exeId, vmas, ids, fdinfos, cwdId, rootId };
  });

  refuseInheritedRings(perTask.map((t) => ({ pid: t.task.pid, vmas: t.vmas })));
  for (const finish of extra.deferred.values()) finish();
  finishTtyDump(
    files,
    extra,
    tasks.map((t) => ({ pid: t.pid, sid: t.stat.session })),
    { shellJob: o.shellJob ?? false, treeLivesOn: o.treeLivesOn ?? false },
  );
  return { perTask, files, extra, namespaces, lastPagesId };
}
