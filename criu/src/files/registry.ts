// Every kind of fd the tool handles: adding a kind is one module and one line in FILE_KINDS.
// Which kind claims an fd or a file_entry is decided by the kinds' `priority` (the highest that
// matches), never by the order of the list: memfd and fifo outrank ghost and reg (a memfd and a
// FIFO also have path links), and ghost outranks reg (both restore REG entries: ghost those
// with a ghost remap, reg the others).
import type { AnyKind, FileHooks, DumpHookArgs, EndHookArgs, RestoreFdCtx, RestoredRunArgs } from './kind.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import type { FileEntry } from '../images/gen/types.js';
import { regKind } from './reg.js';
import { pipeKind } from './pipe.js';
import { eventfdKind } from './eventfd.js';
import { tunKind } from './tun.js';
import { epollKind } from './epoll.js';
import { signalfdKind } from './signalfd.js';
import { timerfdKind } from './timerfd.js';
import { inotifyKind } from './inotify.js';
import { memfdKind } from './memfd.js';
import { fifoKind } from './fifo.js';
import { ghostKind } from './ghost.js';
import { unixKind } from './unix.js';
import { extKind } from './ext.js';
import { inetKind } from './inet.js';
import { ttyKind } from './tty.js';
import { netlinkKind } from './netlink.js';
import { packetKind } from './packet.js';
import { pidfdKind } from './pidfd.js';
import { procfileKind } from './procfile.js';
import { fanotifyKind } from './fanotify.js';
import { mqueueKind } from './mqueue.js';
import { FileError } from './kind.js';
import { log } from '../log.js';

/** The kinds of one run, highest priority first. */
export class KindRegistry {
  readonly kinds: readonly AnyKind[];
  constructor(kinds: readonly AnyKind[]) {
    const byPrio = new Map<number, string>();
    const names = new Set<string>();
    for (const k of kinds) {
      const other = byPrio.get(k.priority);
      if (other !== undefined) throw new FileError('', `fd kinds ${other} and ${k.name} have the same priority ${k.priority}`, { object: `kind ${k.name}` });
      if (names.has(k.name)) throw new FileError('', `two fd kinds are named ${k.name}`, { object: `kind ${k.name}` });
      byPrio.set(k.priority, k.name);
      names.add(k.name);
    }
    this.kinds = [...kinds].sort((a, b) => b.priority - a.priority);
  }

  /** The kind that dumps this fd. */
  forFd(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): AnyKind | undefined {
    return this.kinds.find((k) => k.match(link, info, at));
  }
  /** The kinds of an fd_types value, highest priority first. */
  ofType(type: number): AnyKind[] {
    return this.kinds.filter((k) => k.type === type);
  }
  /** The kind that restores entry `e`. */
  forEntry(ctx: RestoreFdCtx, e: FileEntry): AnyKind | undefined {
    return this.kinds.find((k) => k.type === e.type && (k.claims ? k.claims(ctx, e) : true));
  }
  /** The first kind (by priority) that has method `m`, of fd type `type` when given. */
  withMethod<M extends keyof AnyKind>(m: M, type?: number): (AnyKind & Required<Pick<AnyKind, M>>) | undefined {
    return this.kinds.find((k): k is AnyKind & Required<Pick<AnyKind, M>> => k[m] !== undefined && (type === undefined || k.type === type));
  }

  /** Runs a hook of every kind that has it, in priority order. */
  beforeFreeze(a: DumpHookArgs): void {
    this.run('beforeFreeze', (h) => h.beforeFreeze?.(a), false);
  }
  /** After a dump or restore: on failure every hook runs and a failing one is logged, not thrown. */
  afterDump(a: EndHookArgs): void {
    this.run('afterDump', (h) => h.afterDump?.(a), !a.ok);
  }
  beforeResume(): void {
    this.run('beforeResume', (h) => h.beforeResume?.(), true);
  }
  beforeRestoredRun(a: RestoredRunArgs): void {
    this.run('beforeRestoredRun', (h) => h.beforeRestoredRun?.(a), false);
  }
  afterRestore(a: EndHookArgs): void {
    this.run('afterRestore', (h) => h.afterRestore?.(a), !a.ok);
  }
  private run(hook: keyof FileHooks, call: (h: FileHooks) => void, tolerant: boolean): void {
    for (const k of this.kinds) {
      if (!k.hooks?.[hook]) continue;
      try {
        call(k.hooks);
      } catch (e) {
        if (!tolerant) throw e;
        log.warn(`fd kind ${k.name}: ${hook} failed: ${(e as Error).message}`);
      }
    }
  }
}

/** Every fd kind; the registry orders them by priority. */
export const FILES = new KindRegistry([
  eventfdKind,
  tunKind,
  epollKind,
  signalfdKind,
  timerfdKind,
  inotifyKind,
  memfdKind,
  fifoKind,
  ghostKind,
  regKind,
  pipeKind,
  unixKind,
  extKind,
  inetKind,
  ttyKind,
  netlinkKind,
  packetKind,
  pidfdKind,
  procfileKind,
  fanotifyKind,
  mqueueKind,
]);

/** The kinds, highest priority first. */
export const FILE_KINDS = FILES.kinds;

export function kindFor(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): AnyKind | undefined {
  return FILES.forFd(link, info, at);
}
export function kindsOfType(type: number): AnyKind[] {
  return FILES.ofType(type);
}
