// Syscall injection into a stopped thread, with no parasite code: point the pc at a syscall
// instruction that already exists in the task, load the syscall number and arguments into the
// registers, single-step once, read the result, and put every register back at the end.
import * as fs from 'node:fs';
import { arch, SYS } from '../sys/arch.js';
import { errnoName, vmRead, vmWrite, big } from '../sys/libc.js';
import { Tracee, Regs, waitStop } from './tracee.js';
import { NT } from './consts.js';
import { CriuError, details, type ErrorDetails } from '../errors.js';
import { liveSve } from './sve.js';

export class InjectError extends CriuError {
  constructor(
    readonly tid: number,
    readonly call: string,
    readonly ret: bigint,
    detail = '',
    where?: ErrorDetails,
  ) {
    super(
      `task ${tid}: injected ${call} failed: ${ret < 0n && ret > -4096n ? errnoName(Number(-ret)) : `returned ${ret}`}${detail}`,
      details({ task: tid }, where),
    );
  }
}

/** Find a syscall instruction in an executable mapping of the task: [vdso] first. */
export function findSyscallInsn(pid: number, first: { start: bigint; end: bigint }[] = []): bigint {
  // where one is known to be (the restored vdso): no maps to read and parse
  for (const m of first) {
    const at = insnIn(pid, m.start, m.end);
    if (at !== null) return at;
  }
  const maps = fs
    .readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l)!;
      return { start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3], path: m[4] };
    })
    .filter((m) => m.perms[0] === 'r' && m.perms[2] === 'x' && m.path !== '[vsyscall]');
  maps.sort((a, b) => Number(b.path === '[vdso]') - Number(a.path === '[vdso]'));
  for (const m of maps) {
    const at = insnIn(pid, m.start, m.end);
    if (at !== null) return at;
  }
  throw new CriuError(`task ${pid}: no syscall instruction found in any executable mapping`, {
    task: pid,
    hint: 'the tool injects system calls through an existing syscall instruction ([vdso] or libc); a task without one cannot be handled',
  });
}

/** the first syscall instruction in [start, end) of the task's memory, null if none can be read there */
function insnIn(pid: number, start: bigint, end: bigint): bigint | null {
  const insn = arch.syscallInsn;
  const chunk = 1 << 16;
  for (let a = start; a < end; a += BigInt(chunk)) {
    const len = Number(end - a < BigInt(chunk) ? end - a : BigInt(chunk));
    const buf = Buffer.alloc(len);
    try {
      vmRead(pid, a, buf);
    } catch {
      return null;
    }
    for (let i = buf.indexOf(insn); i >= 0; i = buf.indexOf(insn, i + 1)) {
      if (arch.name === 'aarch64' && i % 4) continue;
      return a + BigInt(i);
    }
  }
  return null;
}

export class Injector {
  private saved: Regs | null = null;
  savedMask = 0n;
  /** aarch64: the thread's live SVE registers at begin(), which the first injected syscall drops */
  savedSve: Buffer | null = null;
  private work: Regs | null = null;
  count = 0;
  /** ptrace events (PTRACE_EVENT_CLONE …) seen during injected calls, with their messages */
  events: { event: number; msg: bigint }[] = [];
  /** a private read-write page area in the task for arguments (see mapScratch) */
  scratch = 0n;
  scratchSize = 0;

  constructor(
    readonly t: Tracee,
    public gadget: bigint,
  ) {}
  get tid(): number {
    return this.t.tid;
  }

  /** Save registers and signal mask, then block every signal so none is delivered on our frame. */
  begin(regs?: Regs): void {
    this.saved = regs ?? this.t.getRegs();
    this.work = this.saved.clone();
    this.savedMask = this.t.getSigmask();
    if (arch.name === 'aarch64') this.savedSve = liveSve(this.t);
    // every signal blocked but SIGTRAP: a single-step trap forced on a task that blocks SIGTRAP
    // resets its SIGTRAP handler to SIG_DFL, which would lose the task's own handler
    this.t.setSigmask(~(1n << 4n));
  }
  /** Put the registers and signal mask back as they were at begin(). */
  end(): void {
    if (!this.saved) return;
    if (this.savedSve) this.t.setRegset(NT.ARM_SVE, this.savedSve);
    this.t.setRegs(this.saved);
    this.t.setSigmask(this.savedMask);
    this.saved = null;
  }
  get savedRegs(): Regs {
    if (!this.saved) throw new CriuError('injector not started');
    return this.saved;
  }

  /** Run one syscall in the task; returns the raw result (negative errno on failure). */
  call(name: keyof typeof SYS, ...args: (number | bigint)[]): bigint {
    const w = this.work;
    if (!w) throw new CriuError('injector not started');
    const nr = SYS[name];
    w.buf.set(this.saved!.buf);
    w.set(arch.abi.pc, this.gadget);
    w.set(arch.abi.nr, nr);
    if (arch.name === 'x86_64') w.set(arch.abi.orig, -1n); // no restart fix-up on the way out
    arch.abi.args.forEach((r, i) => w.set(r, args[i] ?? 0));
    this.t.setRegs(w);
    if (arch.name === 'aarch64') this.noRestart();
    this.t.singlestep();
    for (;;) {
      const s = waitStop(this.tid);
      if (s.kind === 'trap') break;
      if (s.kind === 'event') {
        // a traced clone/fork reports its event first; the step trap follows on resuming
        this.events.push({ event: s.event, msg: this.t.eventMsg() });
        this.t.singlestep();
        continue;
      }
      throw new InjectError(this.tid, name, -1n, ` (stopped by ${s.kind} ${s.sig} instead of the single-step trap)`);
    }
    this.t.getRegset(NT.PRSTATUS, w.buf);
    this.count++;
    return BigInt.asIntN(64, w.get(arch.abi.ret));
  }

  /**
   * Many syscalls for the price of one resume. On x86_64 the calls become straight-line code
   * in the task: each loads its number and arguments as immediates, runs `syscall` and stores
   * its result, and an int3 ends the code. On aarch64 a fixed loop reads each call's number and
   * arguments from a table after it, runs `svc` and stores x0, and a `brk` ends it. The thread
   * runs the code once and stops on the trap. Only for calls that cannot stop the thread or
   * report a ptrace event (no clone, exec or exit). A task without a batch area runs the calls
   * one by one.
   */
  batch(calls: BatchCall[]): bigint[] {
    const area = this.batchArea;
    if (!area || !this.work) return calls.map((c) => this.call(c.name, ...c.args));
    const out: bigint[] = [];
    for (let i = 0; i < calls.length; i += area.maxCalls) {
      const part = calls.slice(i, i + area.maxCalls);
      const { code, end } = arch.name === 'x86_64' ? x86Batch(part, area.results) : aarch64Batch(part);
      area.writeCode(code);
      const w = this.work;
      w.buf.set(this.saved!.buf);
      w.set(arch.abi.pc, area.code);
      if (arch.name === 'x86_64') w.set(arch.abi.orig, -1n);
      else {
        w.set('x15', BigInt(part.length));
        w.set('x16', area.code + BigInt(A64_LOOP.length * 4));
        w.set('x17', area.results);
      }
      this.t.setRegs(w);
      if (arch.name === 'aarch64') this.noRestart();
      this.t.cont(0);
      const st = waitStop(this.tid);
      if (st.kind !== 'trap')
        throw new InjectError(this.tid, `batch of ${part.length} calls`, -1n, ` (stopped by ${st.kind} ${st.sig} instead of the batch's trap)`);
      this.t.getRegset(NT.PRSTATUS, w.buf);
      const pc = w.get(arch.abi.pc);
      if (pc !== area.code + BigInt(end)) {
        throw new InjectError(this.tid, `batch of ${part.length} calls`, -1n, ` (stopped at 0x${pc.toString(16)}, not at the batch's end)`);
      }
      const r = this.read(area.results, 8 * part.length);
      for (let k = 0; k < part.length; k++) out.push(r.readBigInt64LE(8 * k));
      this.count += part.length;
    }
    return out;
  }

  /** aarch64: no syscall restart on the way out of the stop (the thread may have been stopped in one) */
  private noRestart(): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(-1);
    this.t.setRegset(NT.ARM_SYSTEM_CALL, b);
  }

  /** batch(), with a negative errno of any call thrown as InjectError naming it. */
  mustBatch(calls: BatchCall[]): bigint[] {
    const r = this.batch(calls);
    r.forEach((v, k) => {
      if (v < 0n && v > -4096n) throw new InjectError(this.tid, `${calls[k].name}(${calls[k].args.map(fmt).join(', ')})`, v);
    });
    return r;
  }

  /** Where batches run: one per task (threads share it), made by mapBatchArea. */
  batchArea: BatchArea | null = null;

  /** Map a batch area in the task: code pages (read+exec, written through /proc/PID/mem) and a results page. */
  mapBatchArea(): BatchArea | null {
    const PROT_RX = 5,
      PROT_RW = 3,
      MAP_PRIVATE_ANON = 0x22;
    const code = this.must('mmap', 0, BATCH_CODE, PROT_RX, MAP_PRIVATE_ANON, -1, 0);
    const results = this.must('mmap', 0, 4096, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
    this.batchArea = new BatchArea(this.tid, code, results);
    return this.batchArea;
  }
  unmapBatchArea(): void {
    const a = this.batchArea;
    if (!a) return;
    this.batchArea = null;
    a.close();
    this.must('munmap', a.code, BATCH_CODE);
    this.must('munmap', a.results, 4096);
  }

  /** Like call(), but a negative errno result throws InjectError naming the task and call. */
  must(name: keyof typeof SYS, ...args: (number | bigint)[]): bigint {
    const r = this.call(name, ...args);
    if (r < 0n && r > -4096n) throw new InjectError(this.tid, `${name}(${args.map(fmt).join(', ')})`, r);
    return r;
  }

  /** mmap a private rw area in the task for syscall arguments. */
  mapScratch(size = 4096 * 4): bigint {
    const PROT_RW = 3,
      MAP_PRIVATE_ANON = 0x22;
    const a = this.must('mmap', 0, size, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
    this.scratch = a;
    this.scratchSize = size;
    return a;
  }
  unmapScratch(): void {
    if (this.scratch) this.must('munmap', this.scratch, this.scratchSize);
    this.scratch = 0n;
  }
  write(addr: bigint, data: Buffer): void {
    // arguments go into the scratch area: more than it holds would land on the task's own memory
    const end = this.scratch + BigInt(this.scratchSize);
    if (this.scratch && addr >= this.scratch && addr < end && addr + BigInt(data.length) > end) {
      throw new CriuError(
        `task ${this.tid}: ${data.length} bytes of arguments at scratch+${addr - this.scratch} overrun its ${this.scratchSize}-byte area`,
        'a repeated field of the images is longer than a restore can pass in one call',
      );
    }
    vmWrite(this.tid, addr, data);
  }
  read(addr: bigint, len: number): Buffer {
    const b = Buffer.alloc(len);
    vmRead(this.tid, addr, b);
    return b;
  }
  /** Put a NUL-terminated string at scratch+off and return its address. */
  str(s: string, off = 0): bigint {
    const b = Buffer.from(s + '\0');
    const a = this.scratch + BigInt(off);
    this.write(a, b);
    return a;
  }
}

const fmt = (a: number | bigint): string => (big(a) > 0xffffn ? `0x${big(a).toString(16)}` : String(a));

export interface BatchCall {
  name: keyof typeof SYS;
  args: (number | bigint)[];
}

const BATCH_CODE = 4096 * 4;
const X86_CALL_BYTES = 7 * 10 + 2 + 10;
/**
 * The aarch64 batch loop; x15 = the number of calls, x16 = the table (per call the number and
 * six arguments, 56 bytes), x17 = the results:
 *   1: ldp x8, x0, [x16], #16; ldp x1, x2, [x16], #16; ldp x3, x4, [x16], #16;
 *      ldr x5, [x16], #8; svc #0; str x0, [x17], #8; subs x15, x15, #1; b.ne 1b; brk #0
 * (a syscall keeps every register but x0)
 */
export const A64_LOOP = [0xa8c10208, 0xa8c10a01, 0xa8c11203, 0xf8408605, 0xd4000001, 0xf8008620, 0xf10005ef, 0x54ffff21, 0xd4200000];
const A64_CALL_BYTES = 7 * 8;

/** The code and results pages of a task's batches. */
export class BatchArea {
  private fd = -1;
  readonly maxCalls =
    arch.name === 'x86_64'
      ? Math.min(4096 / 8, Math.floor((BATCH_CODE - 1) / X86_CALL_BYTES))
      : Math.min(4096 / 8, Math.floor((BATCH_CODE - 4 * A64_LOOP.length) / A64_CALL_BYTES));
  constructor(
    readonly tid: number,
    readonly code: bigint,
    readonly results: bigint,
  ) {}
  /** The code pages are not writable in the task: written the way a debugger plants breakpoints. */
  writeCode(b: Buffer): void {
    if (this.fd < 0) this.fd = fs.openSync(`/proc/${this.tid}/mem`, 'r+');
    if (fs.writeSync(this.fd, b, 0, b.length, Number(this.code)) !== b.length)
      throw new CriuError(`task ${this.tid}: short write of batch code`, { task: this.tid, object: `/proc/${this.tid}/mem` });
  }
  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/** one call's x86_64 code with its immediates zero: mov rax, rdi, rsi, rdx, r10, r8, r9 (imm64 each), syscall, movabs [imm64], rax */
const X86_CALL = Buffer.from([
  ...[0x48, 0xb8, 0x48, 0xbf, 0x48, 0xbe, 0x48, 0xba, 0x49, 0xba, 0x49, 0xb8, 0x49, 0xb9].flatMap((x, i) => (i % 2 ? [x, 0, 0, 0, 0, 0, 0, 0, 0] : [x])),
  0x0f,
  0x05,
  0x48,
  0xa3,
  ...Array<number>(8).fill(0),
]);

/** a 64-bit word (an argument, an address) at b[o], as the task's register takes it: a negative number two's-complement; no BigInt for the usual non-negative number */
function put64(b: Buffer, o: number, v: number | bigint): void {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
    b.writeUInt32LE(v % 4294967296, o);
    b.writeUInt32LE(Math.floor(v / 4294967296), o + 4);
  } else b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), o);
}

/** the aarch64 batch: the loop, then the table of calls; `end` is the offset of the brk, where the thread stops */
export function aarch64Batch(calls: BatchCall[]): { code: Buffer; end: number } {
  const b = Buffer.alloc(4 * A64_LOOP.length + A64_CALL_BYTES * calls.length);
  A64_LOOP.forEach((w, i) => b.writeUInt32LE(w, 4 * i));
  calls.forEach((c, k) => {
    const o = 4 * A64_LOOP.length + A64_CALL_BYTES * k;
    put64(b, o, SYS[c.name]);
    for (let i = 0; i < 6; i++) put64(b, o + 8 + 8 * i, c.args[i] ?? 0);
  });
  return { code: b, end: 4 * (A64_LOOP.length - 1) };
}

const x86Batch = (calls: BatchCall[], results: bigint): { code: Buffer; end: number } => {
  const code = encodeX86Batch(calls, results);
  return { code, end: code.length }; // past the int3
};

/**
 * x86_64 code for a batch: per call `mov rax/rdi/rsi/rdx/r10/r8/r9, imm64; syscall;
 * movabs [results + 8k], rax`, then int3.
 */
export function encodeX86Batch(calls: BatchCall[], results: bigint): Buffer {
  const b = Buffer.alloc(calls.length * X86_CALL_BYTES + 1);
  const res = Number(results); // a user address: below 2^47
  for (let k = 0, o = 0; k < calls.length; k++, o += X86_CALL_BYTES) {
    // the opcodes of one call as a whole, then its eight immediates in place
    b.set(X86_CALL, o);
    const args = calls[k].args;
    put64(b, o + 2, SYS[calls[k].name]);
    for (let i = 0; i < 6; i++) put64(b, o + 12 + 10 * i, args[i] ?? 0);
    put64(b, o + 74, res + 8 * k);
  }
  b[b.length - 1] = 0xcc; // int3
  return b;
}
