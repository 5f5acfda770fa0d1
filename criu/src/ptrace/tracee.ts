// One traced thread: seize, stop, registers, signal state. All ptrace calls are made from the
// one thread that seized (rule 2 of DESIGN.md); nothing here is async.
import { arch } from '../sys/arch.js';
import { ptrace, ptraceRaw, waitpid, decodeWait, iovecs, addrOf, SysError, E, koffi, __WALL, big } from '../sys/libc.js';
import { PTRACE, PTRACE_EVENT, PTRACE_PEEKSIGINFO_SHARED, NT, SIG, SIGINFO_SIZE } from './consts.js';
import { CriuError, details, type ErrorDetails } from '../errors.js';

export class TaskGoneError extends CriuError {
  constructor(
    readonly tid: number,
    what: string,
    where?: ErrorDetails,
  ) {
    super(`task ${tid}: ${what}`, details({ task: tid }, where));
  }
}

export type StopKind = 'interrupt' | 'group-stop' | 'signal' | 'trap' | 'event';
export interface Stop {
  kind: StopKind;
  sig: number;
  event: number;
}

/** Wait for the next stop of tid; an exit or death becomes TaskGoneError. */
export function waitStop(tid: number): Stop {
  const { status } = waitpid(tid, __WALL);
  const d = decodeWait(status);
  if (d.kind === 'exited') throw new TaskGoneError(tid, `exited with status ${d.code} while traced`);
  if (d.kind === 'signaled') throw new TaskGoneError(tid, `killed by signal ${d.sig} while traced`);
  if (d.kind !== 'stopped') throw new TaskGoneError(tid, `unexpected wait status 0x${status.toString(16)}`);
  if (d.event === PTRACE_EVENT.STOP) {
    const groupStop = d.sig === SIG.STOP || d.sig === SIG.TSTP || d.sig === SIG.TTIN || d.sig === SIG.TTOU;
    return { kind: groupStop ? 'group-stop' : 'interrupt', sig: d.sig, event: d.event };
  }
  if (d.event) return { kind: 'event', sig: d.sig, event: d.event };
  if (d.sig === SIG.TRAP || d.sig === (SIG.TRAP | 0x80)) return { kind: 'trap', sig: d.sig, event: 0 };
  return { kind: 'signal', sig: d.sig, event: 0 };
}

/** A general-register set with named access. */
export class Regs {
  constructor(readonly buf: Buffer = Buffer.alloc(arch.regsSize)) {}
  private off(name: string): number {
    const i = arch.regNames.indexOf(name);
    if (i < 0) throw new CriuError(`no register ${name} on ${arch.name}`, { object: `register ${name}` });
    return i * 8;
  }
  get(name: string): bigint {
    return this.buf.readBigUInt64LE(this.off(name));
  }
  set(name: string, v: bigint | number): void {
    this.buf.writeBigUInt64LE(BigInt.asUintN(64, big(v)), this.off(name));
  }
  clone(): Regs {
    return new Regs(Buffer.from(this.buf));
  }
  get pc(): bigint {
    return this.get(arch.abi.pc);
  }
  get sp(): bigint {
    return this.get(arch.abi.sp);
  }
}

export interface RseqConf {
  rseq_abi_pointer: bigint;
  rseq_abi_size: number;
  signature: number;
  flags: number;
}

/** this CPU has no XSAVE (NT_X86_XSTATE answered ENODEV once): the FPU state goes through NT_PRFPREG */
let fxsaveOnly = false;

export class Tracee {
  constructor(readonly tid: number) {}

  static seize(tid: number, options = 0): Tracee {
    try {
      ptrace(PTRACE.SEIZE, tid, null, options, 'PTRACE_SEIZE');
    } catch (e) {
      if (e instanceof SysError && e.errno === E.ESRCH) throw new TaskGoneError(tid, 'gone before it could be seized');
      throw e;
    }
    return new Tracee(tid);
  }

  interrupt(): void {
    ptrace(PTRACE.INTERRUPT, this.tid, null, null, 'PTRACE_INTERRUPT');
  }
  setOptions(opts: number): void {
    ptrace(PTRACE.SETOPTIONS, this.tid, null, opts, 'PTRACE_SETOPTIONS');
  }
  cont(sig = 0): void {
    ptrace(PTRACE.CONT, this.tid, null, sig, 'PTRACE_CONT');
  }
  singlestep(sig = 0): void {
    ptrace(PTRACE.SINGLESTEP, this.tid, null, sig, 'PTRACE_SINGLESTEP');
  }
  detach(sig = 0): void {
    ptrace(PTRACE.DETACH, this.tid, null, sig, 'PTRACE_DETACH');
  }
  listen(): void {
    ptrace(PTRACE.LISTEN, this.tid, null, null, 'PTRACE_LISTEN');
  }
  eventMsg(): bigint {
    const b = Buffer.alloc(8);
    ptrace(PTRACE.GETEVENTMSG, this.tid, null, b, 'PTRACE_GETEVENTMSG');
    return b.readBigUInt64LE(0);
  }

  /**
   * Interrupt and wait for the interrupt stop. Signals delivered meanwhile are handed back to
   * the task (the pending interrupt makes it trap again right after).
   */
  stop(): Stop {
    this.interrupt();
    for (;;) {
      const s = waitStop(this.tid);
      if (s.kind === 'interrupt' || s.kind === 'group-stop') return s;
      if (s.kind === 'signal') {
        this.cont(s.sig);
        continue;
      }
      this.cont(0);
    }
  }

  getRegset(nt: number, buf: Buffer): number {
    const iov = iovecs([{ base: addrOf(buf), len: buf.length }]);
    ptrace(PTRACE.GETREGSET, this.tid, nt, iov, `PTRACE_GETREGSET(${nt})`);
    return Number(iov.readBigUInt64LE(8));
  }
  setRegset(nt: number, buf: Buffer): void {
    const iov = iovecs([{ base: addrOf(buf), len: buf.length }]);
    ptrace(PTRACE.SETREGSET, this.tid, nt, iov, `PTRACE_SETREGSET(${nt})`);
  }
  getRegs(): Regs {
    const r = new Regs();
    this.getRegset(NT.PRSTATUS, r.buf);
    return r;
  }
  setRegs(r: Regs): void {
    this.setRegset(NT.PRSTATUS, r.buf);
  }
  /**
   * The full FPU/vector state (xsave area on x86_64), trimmed to what the kernel filled. A CPU
   * without XSAVE has no NT_X86_XSTATE (ENODEV): its 512-byte FXSAVE area (NT_PRFPREG) then.
   */
  getFpState(): Buffer {
    const b = Buffer.alloc(arch.name === 'x86_64' ? 16384 : 1024);
    return Buffer.from(
      b.subarray(
        0,
        this.fpRegset((nt) => this.getRegset(nt, b)),
      ),
    );
  }
  /** the state getFpState gave (or one made for this CPU); without XSAVE only its FXSAVE part */
  setFpState(b: Buffer): void {
    this.fpRegset((nt) => this.setRegset(nt, nt === arch.fpRegset ? b : b.subarray(0, 512)));
  }
  /** `io` on the FPU regset: arch.fpRegset, or NT_PRFPREG once NT_X86_XSTATE answered ENODEV */
  private fpRegset<T>(io: (nt: number) => T): T {
    if (!fxsaveOnly) {
      try {
        return io(arch.fpRegset);
      } catch (e) {
        if (!(arch.name === 'x86_64' && e instanceof SysError && e.errno === E.ENODEV)) throw e;
        fxsaveOnly = true;
      }
    }
    return io(NT.PRFPREG);
  }

  /** One x86 GDT TLS slot (struct user_desc of 16 bytes), as set_thread_area would. */
  setThreadArea(idx: number, desc: Buffer): void {
    ptrace(26 /* PTRACE_SET_THREAD_AREA */, this.tid, idx, desc, `PTRACE_SET_THREAD_AREA ${idx}`);
  }

  getSigmask(): bigint {
    const b = Buffer.alloc(8);
    ptrace(PTRACE.GETSIGMASK, this.tid, 8, b, 'PTRACE_GETSIGMASK');
    return b.readBigUInt64LE(0);
  }
  setSigmask(mask: bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, mask));
    ptrace(PTRACE.SETSIGMASK, this.tid, 8, b, 'PTRACE_SETSIGMASK');
  }

  /** Pending signals, as raw 128-byte siginfo records, thread-private or process-shared. */
  peekSiginfo(shared: boolean): Buffer[] {
    const out: Buffer[] = [];
    const batch = 32;
    const data = Buffer.alloc(SIGINFO_SIZE * batch);
    for (let off = 0; ; off += batch) {
      const arg = Buffer.alloc(16);
      arg.writeBigUInt64LE(BigInt(off), 0);
      arg.writeUInt32LE(shared ? PTRACE_PEEKSIGINFO_SHARED : 0, 8);
      arg.writeInt32LE(batch, 12);
      const n = Number(ptrace(PTRACE.PEEKSIGINFO, this.tid, arg, data, 'PTRACE_PEEKSIGINFO'));
      for (let i = 0; i < n; i++) out.push(Buffer.from(data.subarray(i * SIGINFO_SIZE, (i + 1) * SIGINFO_SIZE)));
      if (n < batch) return out;
    }
  }

  rseqConf(): RseqConf | null {
    const b = Buffer.alloc(24);
    const r = ptraceRaw(PTRACE.GET_RSEQ_CONFIGURATION, this.tid, b.length, b);
    if (big(r) < 0n) {
      const e = koffi.errno();
      if (e === E.EIO || e === E.EINVAL) return null;
      throw new SysError('PTRACE_GET_RSEQ_CONFIGURATION', e, [this.tid]);
    }
    return {
      rseq_abi_pointer: b.readBigUInt64LE(0),
      rseq_abi_size: b.readUInt32LE(8),
      signature: b.readUInt32LE(12),
      flags: b.readUInt32LE(16),
    };
  }

  /** Classic-BPF seccomp filters, newest first, with their flags. */
  seccompFilters(): { insns: Buffer; flags: bigint }[] {
    const out: { insns: Buffer; flags: bigint }[] = [];
    for (let i = 0; ; i++) {
      const n = ptraceRaw(PTRACE.SECCOMP_GET_FILTER, this.tid, i, null);
      if (big(n) < 0n) {
        const e = koffi.errno();
        if (e === E.ENOENT) return out;
        throw new SysError('PTRACE_SECCOMP_GET_FILTER', e, [this.tid, i]);
      }
      const insns = Buffer.alloc(Number(n) * 8);
      ptrace(PTRACE.SECCOMP_GET_FILTER, this.tid, i, insns, 'PTRACE_SECCOMP_GET_FILTER');
      const md = Buffer.alloc(16);
      md.writeBigUInt64LE(BigInt(i), 0);
      let flags = 0n;
      if (big(ptraceRaw(PTRACE.SECCOMP_GET_METADATA, this.tid, md.length, md)) >= 0n) flags = md.readBigUInt64LE(8);
      out.push({ insns, flags });
    }
  }
}
