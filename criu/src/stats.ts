// --display-stats: what stats-dump and stats-restore hold, printed as CRIU prints them.
import { writeAll } from './sys/io.js';

type Num = number | bigint;
const n = (v: Num | undefined): string => `${BigInt(v ?? 0)} (0x${BigInt(v ?? 0).toString(16)})`;

export interface DumpStats {
  freezing_time: Num;
  frozen_time: Num;
  memdump_time: Num;
  memwrite_time: Num;
  irmap_resolve?: Num;
  pages_scanned: Num;
  pages_skipped_parent: Num;
  pages_written: Num;
  pages_lazy?: Num;
  page_pipes?: Num;
  page_pipe_bufs?: Num;
  shpages_scanned?: Num;
  shpages_skipped_parent?: Num;
  shpages_written?: Num;
}
export interface RestoreStats {
  pages_compared: Num;
  pages_skipped_cow: Num;
  pages_restored?: Num;
  restore_time: Num;
  forking_time: Num;
}

export function formatDumpStats(d: DumpStats): string {
  return (
    'Displaying dump stats:\n' +
    `Freezing time: ${d.freezing_time} us\n` +
    `Frozen time: ${d.frozen_time} us\n` +
    `Memory dump time: ${d.memdump_time} us\n` +
    `Memory write time: ${d.memwrite_time} us\n` +
    (d.irmap_resolve !== undefined ? `IRMAP resolve time: ${d.irmap_resolve} us\n` : '') +
    `Memory pages scanned: ${n(d.pages_scanned)}\n` +
    `Memory pages skipped from parent: ${n(d.pages_skipped_parent)}\n` +
    `Memory pages written: ${n(d.pages_written)}\n` +
    `Lazy memory pages: ${n(d.pages_lazy)}\n`
  );
}

export function formatRestoreStats(r: RestoreStats): string {
  return (
    'Displaying restore stats:\n' +
    `Pages compared: ${n(r.pages_compared)}\n` +
    `Pages skipped COW: ${n(r.pages_skipped_cow)}\n` +
    (r.pages_restored !== undefined ? `Pages restored: ${n(r.pages_restored)}\n` : '') +
    `Restore time: ${r.restore_time} us\n` +
    `Forking time: ${r.forking_time} us\n`
  );
}

/** On stdout, as CRIU's messages are (written directly: no stream needed for one line). */
export function display(text: string): void {
  writeAll(1, Buffer.from(text));
}
