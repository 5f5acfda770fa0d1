// Every kind of fd the tool handles: adding a kind is one module and one line here.
// Order matters where two kinds could claim one fd or one file_entry type: memfd and fifo come
// before ghost and reg (a memfd and a FIFO also have path links), and ghost comes before reg
// because it restores every REG entry (ghost files are REG entries with a remap) and hands the
// others to regKind.
import type { FileKind } from './kind.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { regKind } from './reg.js';
import { pipeKind } from './pipe.js';
import { eventfdKind } from './eventfd.js';
import { epollKind } from './epoll.js';
import { signalfdKind } from './signalfd.js';
import { timerfdKind } from './timerfd.js';
import { inotifyKind } from './inotify.js';
import { memfdKind } from './memfd.js';
import { fifoKind } from './fifo.js';
import { ghostKind } from './ghost.js';
import { unixKind } from './unix.js';

export const FILE_KINDS: FileKind[] = [
  eventfdKind, epollKind, signalfdKind, timerfdKind, inotifyKind, memfdKind, fifoKind, ghostKind,
  regKind, pipeKind, unixKind,
];

export function kindFor(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): FileKind | undefined {
  return FILE_KINDS.find((k) => k.match(link, info, at));
}
export function kindOfType(type: number): FileKind | undefined {
  return FILE_KINDS.find((k) => k.type === type);
}
