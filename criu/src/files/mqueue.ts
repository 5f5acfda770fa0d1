// POSIX message queues (mq_open): an fd on a file of the mqueue filesystem of an IPC namespace.
// CRIU 4.2 knows that filesystem only as a mount type, so the image is our own (mqueue.proto):
// a file_entry of type MQUEUE (1001) with the open file description's flags and fown, the
// queue's name (and whether it was unlinked), owner, mode, mq_maxmsg and mq_msgsize, and its
// messages with their priorities in the order they are received (in the first entry of each
// queue; the entries of one queue share its inode number). CRIU 4.2 refuses such a restore
// ("Unknown file type 1001").
//
// Dump: the tool opens the queue itself through /proc/PID/fd/N (read-write, non-blocking: a
// description of its own, whatever the task's access mode), receives every message and sends
// them back in the same order, the tree being frozen, so the queue is left as it was. A
// registered notification (mq_notify, NOTIFY_PID in the queue's status) is refused by name.
// Restore: the queue is made once per inode in the IPC namespace of the task (the tool's main
// thread steps into it), with its attributes, owner and mode, and its messages sent in order;
// an unlinked one is made under a name of ours and unlinked at once. A queue of that name that
// exists already (the host's IPC namespace keeps queues after the dumped tree is gone) is
// taken if it holds what the image says, and refused otherwise. Each task's fd is a reopen of
// the queue with the dumped access mode and flags.
import * as fs from 'node:fs';
import { CriuError, NotSupportedError } from '../errors.js';
import { FdTypes, type FileEntry, type MqueueFileEntry, type MqueueMsg } from '../images/gen/types.js';
import { syscall, addrOf, close, pread, SysError, E } from '../sys/libc.js';
import { inNamespaceOf } from '../sys/setns.js';
import { treePids } from '../proc/nspid.js';
import { log } from '../log.js';
import { ids as userIds, asNsRoot } from '../proc/idmap.js';
import { FileError, partOf, taskOf, type FileKind, type RestoreFdCtx } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, O_CLOEXEC, O_NONBLOCK } from './fdparams.js';
import type { FileTable } from './table.js';
import { statfsOnce } from './fd-stat.js';

const MQUEUE_MAGIC = 0x19800202;
const O_ACCMODE = 3,
  O_RDWR = 2,
  O_CREAT = 0o100,
  O_EXCL = 0o200;

interface Attr {
  flags: bigint;
  maxmsg: bigint;
  msgsize: bigint;
  curmsgs: bigint;
}

function getAttr(fd: number): Attr {
  const b = Buffer.alloc(64);
  syscall('mq_getsetattr', fd, 0, addrOf(b));
  return { flags: b.readBigInt64LE(0), maxmsg: b.readBigInt64LE(8), msgsize: b.readBigInt64LE(16), curmsgs: b.readBigInt64LE(24) };
}

/** every message of the queue, taken out in the order the kernel gives them (priority, then age) */
function receiveAll(fd: number, msgsize: number): MqueueMsg[] {
  const buf = Buffer.alloc(Math.max(1, msgsize));
  const prio = Buffer.alloc(4);
  const out: MqueueMsg[] = [];
  for (;;) {
    let n: bigint;
    try {
      n = syscall('mq_timedreceive', fd, addrOf(buf), buf.length, addrOf(prio), 0);
    } catch (e) {
      if (e instanceof SysError && e.errno === E.EAGAIN) return out;
      throw e;
    }
    out.push({ prio: prio.readUInt32LE(0), data: Buffer.from(buf.subarray(0, Number(n))) });
  }
}

function sendAll(fd: number, msgs: MqueueMsg[], what: string): void {
  msgs.forEach((m, i) => {
    const data = Buffer.from(m.data);
    try {
      syscall('mq_timedsend', fd, addrOf(data), data.length, m.prio, 0);
    } catch (e) {
      throw new CriuError(`${what}: message ${i} of ${msgs.length} (priority ${m.prio}, ${data.length} bytes) cannot be sent back: ${(e as Error).message}`, {
        object: what,
        hint: 'the queue lost the messages from that one on',
      });
    }
  });
}

/** the messages of a queue, read without consuming them: received, then sent back in the same order */
function copyMessages(fd: number, msgsize: number, what: string): MqueueMsg[] {
  const msgs = receiveAll(fd, msgsize);
  sendAll(fd, msgs, what);
  return msgs;
}

/** the queue's status line (QSIZE, NOTIFY, SIGNO, NOTIFY_PID), as read(2) of an mqueue file gives it */
function status(fd: number): Record<string, number> {
  const b = Buffer.alloc(256);
  const n = pread(fd, b, b.length, 0);
  const out: Record<string, number> = {};
  for (const m of b
    .subarray(0, n)
    .toString()
    .matchAll(/([A-Z_]+):\s*(-?\d+)/g))
    out[m[1]] = Number(m[2]);
  return out;
}

/** the queues whose messages a dump already wrote (one FileTable per dump) */
const dumped = new WeakMap<FileTable, Set<number>>();

interface MqState {
  /** the tool's read-write fd on each queue made or taken, by the inode of the dump */
  queues: Map<number, number>;
  /**
   * each entry's own description, by file id, opened with mq_open when its queue was made (a
   * reopen through /proc would add O_LARGEFILE, which mq_open does not set and F_SETFL cannot
   * clear; an unlinked queue has a name only until all of its descriptions are open)
   */
  opened: Map<number, number>;
  /** queues this restore created by name in the tool's own IPC namespace (removed if it fails) */
  made: string[];
}

const mqName = (name: string): Buffer => Buffer.from(`${name.replace(/^\/+/, '')}\0`);

function mqOpen(name: string, flags: number, mode: number, attr?: { maxmsg: bigint; msgsize: bigint }): number {
  const n = mqName(name);
  const a = Buffer.alloc(64);
  if (attr) {
    a.writeBigInt64LE(attr.maxmsg, 8);
    a.writeBigInt64LE(attr.msgsize, 16);
  }
  return Number(syscall('mq_open', addrOf(n), flags | O_CLOEXEC, mode, attr ? addrOf(a) : 0));
}
const mqUnlink = (name: string): void => {
  syscall('mq_unlink', addrOf(mqName(name)));
};

/** the entries of queue `ino` */
const entriesOf = (ctx: RestoreFdCtx, ino: number): MqueueFileEntry[] =>
  [...ctx.entries()].flatMap((e) => (e.type === FdTypes.MQUEUE && e.mqueue?.ino === ino ? [e.mqueue] : []));

const same = (a: MqueueMsg[], b: MqueueMsg[]): boolean =>
  a.length === b.length && a.every((m, i) => m.prio === b[i].prio && Buffer.compare(Buffer.from(m.data), Buffer.from(b[i].data)) === 0);

/** make (or take) the queue of `m` in the IPC namespace the tool's thread is in, and open it for each of `all` (its entries); its read-write fd */
function makeQueue(m: MqueueFileEntry, all: MqueueFileEntry[], who: string, ours: boolean, s: MqState): number {
  const { fd, name } = makeOrTake(m, all.find((o) => o.msgs?.length)?.msgs ?? [], who, ours, s);
  try {
    for (const o of all) s.opened.set(o.id, mqOpen(name, o.flags & (O_ACCMODE | O_NONBLOCK), 0));
  } finally {
    if (m.unlinked) mqUnlink(name);
  }
  return fd;
}

const tmpName = (m: MqueueFileEntry): string => `/criu-ts-mq-${m.ino}-${process.pid}`;

/** the queue and the name it has until every description is open (an unlinked one its own when free, else one of ours) */
function makeOrTake(m: MqueueFileEntry, msgs: MqueueMsg[], who: string, ours: boolean, s: MqState): { fd: number; name: string } {
  const what = `POSIX message queue ${m.name}${m.unlinked ? ' (deleted)' : ''}`;
  const attr = { maxmsg: BigInt(m.maxmsg), msgsize: BigInt(m.msgsize) };
  let name = m.name;
  let fd: number;
  try {
    try {
      fd = mqOpen(name, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL, m.mode & 0o777, attr);
    } catch (e) {
      if (!m.unlinked || !(e instanceof SysError) || e.errno !== E.EEXIST) throw e;
      name = tmpName(m);
      fd = mqOpen(name, O_RDWR | O_NONBLOCK | O_CREAT | O_EXCL, m.mode & 0o777, attr);
    }
  } catch (e) {
    if (!(e instanceof SysError) || e.errno !== E.EEXIST || m.unlinked) {
      throw new FileError(who, `cannot create ${what} (mq_maxmsg ${m.maxmsg}, mq_msgsize ${m.msgsize}): ${(e as Error).message}`, {
        object: what,
        hint: 'EINVAL or EMFILE: the attributes pass fs/mqueue/msg_max, msgsize_max or queues_max of the namespace (raising them needs CAP_SYS_RESOURCE)',
      });
    }
    // a queue of that name outlived the dumped tree: it is taken only if it holds what was dumped
    fd = mqOpen(name, O_RDWR | O_NONBLOCK, 0);
    const a = getAttr(fd);
    const now = copyMessages(fd, Number(a.msgsize), what);
    if (a.maxmsg !== attr.maxmsg || a.msgsize !== attr.msgsize || !same(now, msgs)) {
      close(fd);
      throw new FileError(
        who,
        `${what} exists with other contents (${now.length} messages, mq_maxmsg ${a.maxmsg}, mq_msgsize ${a.msgsize}; the image: ${msgs.length}, ${m.maxmsg}, ${m.msgsize})`,
        {
          object: what,
          hint: 'the queue changed after the dump: remove it (mq_unlink) to restore the dumped one',
        },
      );
    }
    log.debug(`${who}: ${what} exists with the dumped messages: taken`);
    return { fd, name };
  }
  if (ours && !m.unlinked) s.made.push(name);
  fs.fchmodSync(fd, m.mode & 0o7777);
  fs.fchownSync(fd, userIds.toHost('uid', m.uid), userIds.toHost('gid', m.gid));
  sendAll(fd, msgs, what);
  log.debug(`${who}: ${what} made with ${msgs.length} messages`);
  return { fd, name };
}

export const mqueueKind: FileKind<MqState> = {
  name: 'mqueue',
  type: FdTypes.MQUEUE,
  field: 'mqueue',
  priority: 950,
  match(link, _info, at) {
    if (!at || link.kind !== 'path') return false;
    try {
      return statfsOnce(`/proc/${at.pid}/fd/${at.fd}`).type === MQUEUE_MAGIC;
    } catch {
      return false;
    }
  },
  dump(ctx, id): FileEntry {
    const where = `task ${ctx.pid}: fd ${ctx.fd}: a POSIX message queue (${ctx.link.raw})`;
    const link = ctx.link;
    if (link.kind !== 'path') throw new NotSupportedError(where);
    const at = `/proc/${ctx.pid}/fd/${ctx.fd}`;
    const st = fs.statSync(at);
    const fd = fs.openSync(at, O_RDWR | O_NONBLOCK);
    try {
      const stat = status(fd);
      if (stat.NOTIFY_PID) {
        throw new NotSupportedError(`${where} with a notification registered (mq_notify by pid ${stat.NOTIFY_PID}, signal ${stat.SIGNO})`, {
          task: ctx.pid,
          hint: 'mq_notify registrations are not dumped',
        });
      }
      const a = getAttr(fd);
      let seen = dumped.get(ctx.files);
      if (!seen) dumped.set(ctx.files, (seen = new Set()));
      const msgs = seen.has(st.ino) ? [] : copyMessages(fd, Number(a.msgsize), where);
      if (msgs.length !== Number(a.curmsgs) && !seen.has(st.ino))
        throw new CriuError(`${where}: ${msgs.length} messages read, the queue says ${a.curmsgs}`, {
          task: ctx.pid,
          hint: 'is a task outside the tree using the queue?',
        });
      seen.add(st.ino);
      const mqueue: MqueueFileEntry = {
        id,
        flags: fileFlags(ctx),
        name: link.path ?? link.raw,
        ino: st.ino,
        mode: st.mode & 0o7777,
        uid: userIds.toNs('uid', st.uid),
        gid: userIds.toNs('gid', st.gid),
        maxmsg: a.maxmsg,
        msgsize: a.msgsize,
        fown: dumpFown(ctx, ctx.takeFd(), 'mqueue'),
        msgs,
      };
      if (link.deleted) mqueue.unlinked = true;
      return { type: FdTypes.MQUEUE, id, mqueue };
    } finally {
      fs.closeSync(fd);
    }
  },
  state: {
    create: () => ({ queues: new Map(), opened: new Map(), made: [] }),
    close(s, failed) {
      for (const fd of [...s.queues.values(), ...s.opened.values()]) close(fd);
      s.queues.clear();
      s.opened.clear();
      if (failed) {
        for (const name of s.made) {
          try {
            mqUnlink(name);
          } catch {
            /* gone already */
          }
        }
      }
    },
  },
  open(ctx, e, s, who) {
    const m = partOf(e, 'mqueue', who);
    let q = s.queues.get(m.ino);
    if (q === undefined) {
      const all = entriesOf(ctx, m.ino);
      const img = taskOf(who);
      const pid = img === undefined ? undefined : treePids.host(img); // the task as the tool sees it
      const theirs = pid === undefined ? undefined : fs.readlinkSync(`/proc/${pid}/ns/ipc`);
      const ours = theirs === undefined || theirs === fs.readlinkSync('/proc/self/ns/ipc');
      // in an IPC namespace of the tree's user namespace the mqueue superblock maps only the
      // namespace's ids: the queue is made with the fsuid of the namespace's root (the host's
      // root has no id there: EOVERFLOW), capabilities kept
      q = ours ? makeQueue(m, all, who, true, s) : inNamespaceOf(pid!, 'ipc', () => asNsRoot(() => makeQueue(m, all, who, false, s)));
      s.queues.set(m.ino, q);
    }
    const fd = s.opened.get(e.id);
    if (fd === undefined)
      throw new FileError(who, `POSIX message queue ${m.name}: file id ${e.id} was not opened with its queue`, { object: `files.img entry ${e.id}` });
    s.opened.delete(e.id);
    restoreFileParams(fd, m.flags, m.fown);
    return fd;
  },
};
