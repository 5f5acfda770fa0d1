// The IPC namespace of a tree (CRIU's ipc_ns.c): ipcns-var-ID.img holds its sysctls (CRIU's
// IpcVarEntry), ipcns-shm-ID.img its SysV shared memory segments (each entry followed by the
// contents, in_pagemaps false, which CRIU 4.2 reads as well), ipcns-sem-ID.img its semaphore
// sets (each followed by the values, u16, padded to 8 bytes), ipcns-msg-ID.img its message
// queues (each followed by its messages: a length-prefixed ipc_msg and the text padded to 8).
// The restore recreates every object with its id (kernel/{shm,sem,msg}_next_id written before
// each create), owner and mode, then its contents, values and messages in order.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IpcDescEntry, IpcMsg, IpcMsgEntry, IpcShmEntry, IpcVarEntry } from '../images/index.js';
import { decodeMessage, encodeMessage } from '../images/index.js';
import { readEntries, readMessagesOf, readPagemap, writeEntries, writeMessages, writePagemap, type Entry } from '../images/typed.js';
import { PE } from '../images/consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import * as S from './sysv.js';
import { badImage, type NsKind } from './kind.js';

export interface IpcDump {
  vars: IpcVarEntry;
  shm: Entry<'IPCNS_SHM'>[];
  sem: Entry<'IPCNS_SEM'>[];
  msg: Entry<'IPCNS_MSG'>[];
}

const u32 = (name: string): number | undefined => {
  const v = S.sysctlRead(name);
  return v === undefined ? undefined : Number(v) >>> 0;
};
const must = (name: string): number => {
  const v = u32(name);
  if (v === undefined) throw new CriuError(`the IPC namespace has no /proc/sys/${name}`, 'this kernel lacks a SysV IPC sysctl CRIU dumps');
  return v;
};
const nextId = (name: string): number | undefined => {
  const v = S.sysctlRead(name);
  return v === undefined || Number(v) < 0 ? undefined : Number(v);
};

function readVars(): IpcVarEntry {
  const mq = S.sysctlRead('fs/mqueue/queues_max') !== undefined;
  const e: IpcVarEntry = {
    sem_ctls: (S.sysctlRead('kernel/sem') ?? '').split(/\s+/).filter(Boolean).map(Number),
    msg_ctlmax: must('kernel/msgmax'),
    msg_ctlmnb: must('kernel/msgmnb'),
    msg_ctlmni: must('kernel/msgmni'),
    auto_msgmni: u32('kernel/auto_msgmni') ?? 0,
    shm_ctlmax: BigInt(S.sysctlRead('kernel/shmmax') ?? '0'),
    shm_ctlall: BigInt(S.sysctlRead('kernel/shmall') ?? '0'),
    shm_ctlmni: must('kernel/shmmni'),
    shm_rmid_forced: must('kernel/shm_rmid_forced'),
    mq_queues_max: mq ? must('fs/mqueue/queues_max') : 0,
    mq_msg_max: mq ? must('fs/mqueue/msg_max') : 0,
    mq_msgsize_max: mq ? must('fs/mqueue/msgsize_max') : 0,
  };
  const opt = { mq_msg_default: u32('fs/mqueue/msg_default'), mq_msgsize_default: u32('fs/mqueue/msgsize_default') };
  if (opt.mq_msg_default !== undefined && opt.mq_msgsize_default !== undefined) Object.assign(e, opt);
  const ids = { msg_next_id: nextId('kernel/msg_next_id'), sem_next_id: nextId('kernel/sem_next_id'), shm_next_id: nextId('kernel/shm_next_id') };
  for (const [k, v] of Object.entries(ids)) if (v !== undefined) Object.assign(e, { [k]: v });
  return e;
}

const desc = (o: S.Perm & { id: number }): IpcDescEntry => ({ key: o.key, uid: o.uid, gid: o.gid, cuid: o.cuid, cgid: o.cgid, mode: o.mode, id: o.id });
const pad8 = (n: number): number => Math.ceil(n / 8) * 8;
const pad4 = (n: number): number => Math.ceil(n / 4) * 4;

function padded(b: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  b.copy(out);
  return out;
}

function dumpIpc(): IpcDump {
  const vars = readVars();
  const shm = S.listShm().map((s): Entry<'IPCNS_SHM'> => {
    const msg: IpcShmEntry = { desc: desc(s), size: s.size, in_pagemaps: false };
    return { msg, blob: padded(S.shmRead(s.id, Number(s.size)), pad4(Number(s.size))) };
  });
  const sem = S.listSem().map((s): Entry<'IPCNS_SEM'> => {
    const vals = S.semValues(s.id, s.nsems);
    const b = Buffer.alloc(pad8(2 * s.nsems));
    vals.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
    return { msg: { desc: desc(s), nsems: s.nsems }, blob: b };
  });
  const msg = S.listMsg().map((q): Entry<'IPCNS_MSG'> => {
    const msgs = S.msgCopyAll(q.id, q.qnum, vars.msg_ctlmax);
    const parts = msgs.flatMap((m) => {
      const head = encodeMessage('ipc_msg', { mtype: m.mtype, msize: m.text.length } satisfies IpcMsg);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(head.length, 0);
      return [len, head, padded(m.text, pad8(m.text.length))];
    });
    const e: IpcMsgEntry = { desc: desc(q), qbytes: q.qbytes, qnum: msgs.length };
    return { msg: e, blob: Buffer.concat(parts) };
  });
  return { vars, shm, sem, msg };
}

const PAGE = 4096;

/** a segment's contents from pagemap-shmem-ID.img and its pages file (absent pages read as zeroes) */
function shmPages(dir: string, e: IpcShmEntry): Buffer {
  const size = Number(e.size);
  const out = Buffer.alloc(size);
  const pmName = `pagemap-shmem-${e.desc.id}.img`;
  if (!fs.existsSync(path.join(dir, pmName))) {
    if (size === 0) return out;
    throw new CriuError(`SysV shm segment ${e.desc.id}: ${pmName} is missing`, { object: pmName, hint: 'the images are incomplete' });
  }
  const pm = readPagemap(path.join(dir, pmName));
  const pagesFile = path.join(dir, `pages-${pm.head.pages_id}.img`);
  const fd = fs.openSync(pagesFile, 'r');
  try {
    let off = 0;
    for (const pe of pm.entries) {
      const flags = pe.flags ?? PE.PRESENT;
      const n = Number(pe.nr_pages ?? pe.compat_nr_pages);
      if (flags & PE.PARENT) throw new NotSupportedError(`${pmName}: SysV shm segment ${e.desc.id}: pages in a parent images dir`, { object: pmName });
      if (!(flags & PE.PRESENT)) continue;
      const b = Buffer.alloc(n * PAGE);
      if (fs.readSync(fd, b, 0, b.length, off) !== b.length) throw badImage(pagesFile, `segment ${e.desc.id}:`, 'ends early');
      off += b.length;
      const at = Number(pe.vaddr);
      b.copy(out, at, 0, Math.max(0, Math.min(b.length, size - at)));
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

const names = (id: number) => ({ vars: `ipcns-var-${id}.img`, shm: `ipcns-shm-${id}.img`, sem: `ipcns-sem-${id}.img`, msg: `ipcns-msg-${id}.img` });

/** the messages that follow a queue's entry */
function messagesOf(e: Entry<'IPCNS_MSG'>, file: string): { mtype: bigint; text: Buffer }[] {
  const b = e.blob ?? Buffer.alloc(0);
  const out: { mtype: bigint; text: Buffer }[] = [];
  let o = 0;
  for (let i = 0; i < e.msg.qnum; i++) {
    if (o + 4 > b.length) throw badImage(file, `queue ${e.msg.desc.id}:`, `message ${i} is cut short`);
    const l = b.readUInt32LE(o);
    const m = decodeMessage('ipc_msg', b.subarray(o + 4, o + 4 + l)) as unknown as IpcMsg;
    o += 4 + l;
    out.push({ mtype: BigInt(m.mtype), text: Buffer.from(b.subarray(o, o + m.msize)) });
    o += pad8(m.msize);
  }
  return out;
}

/** create an object with the dumped id: the kind's next_id is written first, the id checked after */
function withId(kind: 'shm' | 'sem' | 'msg', want: number, create: () => number): number {
  S.sysctlWrite(`kernel/${kind}_next_id`, String(want));
  const got = create();
  if (got !== want)
    throw new CriuError(`SysV ${kind} ${want} was recreated as ${got}`, 'this kernel ignores kernel/' + kind + '_next_id (CONFIG_CHECKPOINT_RESTORE)');
  return got;
}

function restoreIpc(d: IpcDump): void {
  const v = d.vars;
  const w = (name: string, val: number | bigint | undefined): void => {
    if (val !== undefined) S.sysctlWrite(name, String(val));
  };
  if (v.sem_ctls?.length) S.sysctlWrite('kernel/sem', v.sem_ctls.join(' '));
  w('kernel/msgmax', v.msg_ctlmax);
  w('kernel/msgmnb', v.msg_ctlmnb);
  w('kernel/msgmni', v.msg_ctlmni);
  w('kernel/shmmax', v.shm_ctlmax);
  w('kernel/shmall', v.shm_ctlall);
  w('kernel/shmmni', v.shm_ctlmni);
  w('kernel/shm_rmid_forced', v.shm_rmid_forced);
  if (S.sysctlRead('fs/mqueue/queues_max') !== undefined) {
    w('fs/mqueue/queues_max', v.mq_queues_max);
    w('fs/mqueue/msg_max', v.mq_msg_max);
    w('fs/mqueue/msgsize_max', v.mq_msgsize_max);
    w('fs/mqueue/msg_default', v.mq_msg_default);
    w('fs/mqueue/msgsize_default', v.mq_msgsize_default);
  }
  for (const { msg: e, blob } of d.shm) {
    const id = withId('shm', e.desc.id, () => S.shmGet(e.desc.key, e.size, e.desc.mode | S.IPC.CREAT | S.IPC.EXCL | (e.hugetlb_flag ?? 0)));
    S.shmWrite(id, (blob ?? Buffer.alloc(0)).subarray(0, Number(e.size)));
    S.ipcSet('shm', id, e.desc);
    log.debug(`ipc: shm ${id} (key 0x${(e.desc.key >>> 0).toString(16)}, ${e.size} bytes) recreated`);
  }
  for (const { msg: e, blob } of d.sem) {
    const id = withId('sem', e.desc.id, () => S.semGet(e.desc.key, e.nsems, e.desc.mode | S.IPC.CREAT | S.IPC.EXCL));
    const b = blob ?? Buffer.alloc(2 * e.nsems);
    S.semSetAll(
      id,
      Array.from({ length: e.nsems }, (_, i) => b.readUInt16LE(2 * i)),
    );
    S.ipcSet('sem', id, e.desc);
    log.debug(`ipc: semaphore set ${id} (${e.nsems} semaphores) recreated`);
  }
  for (const e of d.msg) {
    const id = withId('msg', e.msg.desc.id, () => S.msgGet(e.msg.desc.key, e.msg.desc.mode | S.IPC.CREAT | S.IPC.EXCL));
    // qbytes first: a queue holding more than the default limit takes its messages only then
    S.ipcSet('msg', id, e.msg.desc, e.msg.qbytes);
    const msgs = messagesOf(e, 'ipcns-msg');
    for (const m of msgs) S.msgSend(id, m.mtype, m.text);
    log.debug(`ipc: message queue ${id} (${msgs.length} messages) recreated`);
  }
  w('kernel/msg_next_id', v.msg_next_id);
  w('kernel/sem_next_id', v.sem_next_id);
  w('kernel/shm_next_id', v.shm_next_id);
}

export const ipc: NsKind<IpcDump> = {
  name: 'ipc',
  cloneFlag: S.CLONE_NEWIPC,
  dump: dumpIpc,
  write(dir, id, d, pagesIdOf) {
    const n = names(id);
    writeMessages(dir, n.vars, 'IPC_VAR', [d.vars]);
    const written: string[] = [];
    const shm = d.shm.map((s): Entry<'IPCNS_SHM'> => {
      if (!s.blob || s.msg.in_pagemaps !== false) return s;
      const data = s.blob.subarray(0, Number(s.msg.size));
      const pagesId = pagesIdOf();
      const nr = Math.ceil(data.length / PAGE);
      const pagesName = `pages-${pagesId}.img`;
      const pm = `pagemap-shmem-${s.msg.desc.id}.img`;
      fs.writeFileSync(path.join(dir, pagesName), padded(data, nr * PAGE), { mode: 0o600 });
      writePagemap(dir, pm, { head: { pages_id: pagesId }, entries: nr ? [{ vaddr: 0n, compat_nr_pages: 0, flags: PE.PRESENT, nr_pages: BigInt(nr) }] : [] });
      written.push(pm, pagesName);
      return { msg: { ...s.msg, in_pagemaps: true } };
    });
    writeEntries(dir, n.shm, 'IPCNS_SHM', shm);
    writeEntries(dir, n.sem, 'IPCNS_SEM', d.sem);
    writeEntries(dir, n.msg, 'IPCNS_MSG', d.msg);
    return [n.vars, n.shm, n.sem, n.msg, ...written];
  },
  load(dir, id) {
    const n = names(id);
    const vars = readMessagesOf(path.join(dir, n.vars), 'IPC_VAR');
    if (vars.length !== 1) throw badImage(n.vars, 'entries:', `${vars.length}, one expected`);
    const d: IpcDump = {
      vars: vars[0],
      shm: readEntries(path.join(dir, n.shm), 'IPCNS_SHM'),
      sem: readEntries(path.join(dir, n.sem), 'IPCNS_SEM'),
      msg: readEntries(path.join(dir, n.msg), 'IPCNS_MSG'),
    };
    d.shm = d.shm.map((s) => (s.msg.in_pagemaps ? { msg: s.msg, blob: shmPages(dir, s.msg) } : s));
    for (const q of d.msg) messagesOf(q, n.msg);
    return d;
  },
  restore: restoreIpc,
  describe: (d) => `${d.shm.length} shm segments, ${d.sem.length} semaphore sets, ${d.msg.length} message queues`,
};
