// The end of a dump's terminals (CRIU's tty_post_actions and the session checks of its
// dump_pstree / dump_verify_tty_sids): once every fd is seen, the tree's sessions and ptys are
// checked and the data queued in each pty whose both ends the tree holds is read.
import type { FileTable } from './table.js';
import type { DumpFdCtx } from './kind.js';
import { dumpedTtys, forgetTtys, ttyRpc, type DumpedTty } from './tty.js';
import { TIOC, getInt } from './tty-ioctl.js';
import { O_NONBLOCK, F_GETFL, F_SETFL } from './fdparams.js';
import { close, fcntl, readFd, writeFd } from '../sys/libc.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';

/**
 * Reads what is queued on an end (non-blocking for the read only); CRIU's 16 KiB limit. A master
 * in packet mode starts each read with a status byte: it is not data (CRIU keeps it, and its
 * restore then queues it as data).
 */
function readQueued(t: DumpedTty, packet: boolean): Buffer | undefined {
  const cur = fcntl(t.lfd, F_GETFL, 0);
  if ((cur & O_NONBLOCK) === 0) fcntl(t.lfd, F_SETFL, cur | O_NONBLOCK);
  const size = 16384;
  const buf = Buffer.alloc(size);
  let off = 0;
  try {
    while (off < size) {
      let n: number;
      try {
        n = readFd(t.lfd, buf.subarray(off), size - off);
      } catch {
        break; // EAGAIN: nothing more (or EIO: hung up)
      }
      if (n <= 0) break;
      if (packet) {
        buf.copy(buf, off, off + 1, off + n);
        n--;
      }
      off += n;
    }
  } finally {
    if ((cur & O_NONBLOCK) === 0) fcntl(t.lfd, F_SETFL, cur);
  }
  if (off >= size) log.warn(`tty: the queued data of tty ${t.infoId} (${t.path}) overflows CRIU's ${size} bytes limit`);
  return off ? Buffer.from(buf.subarray(0, off)) : undefined;
}

/** Once every fd is seen: the data queued in each pty whose both ends the tree holds (CRIU's tty_dump_queued_data). */
function dumpQueuedData(files: FileTable, extra: DumpFdCtx['extra']): void {
  const list = dumpedTtys(files);
  for (const m of list) {
    if (m.driver !== 'ptmx' || m.hung) continue;
    const s = list.find((x) => x.driver === 'pts' && x.index === m.index && !x.hung);
    if (!s) continue;
    const packet = getInt(m.lfd, TIOC.TIOCGPKT) === 1;
    for (const end of [m, s]) {
      end.data = readQueued(end, end === m && packet);
      if (end.data) {
        extra.add('TTY_DATA', 'tty-data.img', { tty_id: end.infoId, data: end.data });
        log.debug(`tty: ${end.data.length} bytes queued on ${end.path} (tty ${end.infoId})`);
      }
    }
  }
}

/** A task of the dumped tree as the session checks see it. */
export interface TreeTask {
  pid: number;
  sid: number;
}

/**
 * Once every fd of the tree is seen (CRIU's dump_pstree session check, dump_verify_tty_sids,
 * tty_verify_active_pairs and tty_dump_queued_data): without -j the root must lead its session,
 * every terminal's session must be led by a task of the tree and every pty slave must have its
 * master in the tree; with -j one slave may be the shell's terminal. Then the queued data of
 * each pty is read, and written back at once when the tree lives on (-R, -s).
 */
export function finishTtyDump(files: FileTable, extra: DumpFdCtx['extra'], tree: TreeTask[], o: { shellJob: boolean; treeLivesOn: boolean }): void {
  const list = dumpedTtys(files);
  try {
    const root = tree[0];
    if (root && root.sid !== root.pid && !o.shellJob) {
      throw new CriuError(`The root process ${root.pid} is not a session leader. Consider using --shell-job option`, {
        task: root.pid,
        hint: 'a job started from an interactive shell is dumped and restored with -j/--shell-job',
      });
    }
    for (const t of list) {
      if (!t.sid || o.shellJob) continue;
      if (!tree.some((x) => x.pid === t.sid && x.sid === t.sid)) {
        throw new CriuError(`Found dangling tty with sid ${t.sid} pgid ${t.pgrp} (${t.driver}) on peer fd ${t.fd}.`, {
          task: t.pid,
          object: t.path,
          hint: 'Task attached to shell terminal. Consider using --shell-job option. More details on http://criu.org/Simple_loop',
        });
      }
    }
    let unpaired = 0;
    for (const t of list) {
      if (t.driver !== 'pts' || t.hung) continue;
      if (list.some((x) => x.driver === 'ptmx' && x.index === t.index)) continue;
      if (!o.shellJob && !ttyRpc.orphanPtsMaster) {
        throw new CriuError(`Found slave peer index ${t.index} without correspond master peer`, {
          task: t.pid,
          object: t.path,
          hint: "the pty's master is outside the tree: a shell job's terminal is dumped with -j/--shell-job",
        });
      }
      if (++unpaired > 1) throw new CriuError(`Only one slave external peer is allowed (index ${t.index})`, { task: t.pid, object: t.path });
    }
    dumpQueuedData(files, extra);
    if (o.treeLivesOn) writeBack(list);
  } finally {
    for (const t of list) if (t.lfd >= 0) close(t.lfd);
    forgetTtys(files);
  }
}

/** The queued data goes back to the end it was read from (through its peer), for a tree that runs on. */
function writeBack(list: DumpedTty[]): void {
  for (const t of list) {
    if (!t.data) continue;
    const peer = list.find((x) => x !== t && x.index === t.index && (x.driver === 'ptmx' || x.driver === 'pts') && x.lfd >= 0);
    try {
      if (peer) writeFd(peer.lfd, t.data);
    } catch (e) {
      log.warn(`tty: cannot write the queued data of ${t.path} back: ${(e as Error).message}`);
    }
  }
}
