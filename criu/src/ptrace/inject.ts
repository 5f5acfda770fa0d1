// Syscall injection into a stopped thread, with no parasite code: point the pc at a syscall
// instruction that already exists in the task, load the syscall number and arguments into the
// registers, single-step once, read the result, and put every register back at the end.
import * as fs from 'node:fs';
import { arch, SYS } from '../sys/arch.js';
import { errnoName, vmRead, vmWrite, big } from '../sys/libc.js';
import { Tracee, Regs, waitStop } from './tracee.js';
import { NT } from './consts.js';

export class InjectError extends Error {
  constructor(readonly tid: number, readonly call: string, readonly ret: bigint, detail = '') {
    super(`task ${tid}: injected ${call} failed: ${ret < 0n && ret > -4096n ? errnoName(Number(-ret)) : `returned ${ret}`}${detail}`);
  }
}

/** Find a syscall instruction in an executable mapping of the task: [vdso] first. */
export function findSyscallInsn(pid: number): bigint {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n').map((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l)!;
    return { start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3], path: m[4] };
  }).filter((m) => m.perms[0] === 'r' && m.perms[2] === 'x' && m.path !== '[vsyscall]');
  maps.sort((a, b) => Number(b.path === '[vdso]') - Number(a.path === '[vdso]'));
  const insn = arch.syscallInsn;
  for (const m of maps) {
    const chunk = 1 << 16;
    for (let a = m.start; a < m.end; a += BigInt(chunk)) {
      const len = Number(m.end - a < BigInt(chunk) ? m.end - a : BigInt(chunk));
      const buf = Buffer.alloc(len);
      try { vmRead(pid, a, buf); } catch { break; }
      for (let i = buf.indexOf(insn); i >= 0; i = buf.indexOf(insn, i + 1)) {
        if (arch.name === 'aarch64' && i % 4) continue;
        return a + BigInt(i);
      }
    }
  }
  throw new Error(`task ${pid}: no syscall instruction found in any executable mapping`);
}

export class Injector {
  private saved: Regs | null = null;
  savedMask = 0n;
  private work: Regs | null = null;
  count = 0;
  /** ptrace events (PTRACE_EVENT_CLONE …) seen during injected calls, with their messages */
  events: { event: number; msg: bigint }[] = [];
  /** a private read-write page area in the task for arguments (see mapScratch) */
  scratch = 0n;
  scratchSize = 0;

  constructor(readonly t: Tracee, public gadget: bigint) {}
  get tid(): number { return this.t.tid; }

  /** Save registers and signal mask, then block every signal so none is delivered on our frame. */
  begin(regs?: Regs): void {
    this.saved = regs ?? this.t.getRegs();
    this.work = this.saved.clone();
    this.savedMask = this.t.getSigmask();
    // every signal blocked but SIGTRAP: a single-step trap forced on a task that blocks SIGTRAP
    // resets its SIGTRAP handler to SIG_DFL, which would lose the task's own handler
    this.t.setSigmask(~(1n << 4n));
  }
  /** Put the registers and signal mask back as they were at begin(). */
  end(): void {
    if (!this.saved) return;
    this.t.setRegs(this.saved);
    this.t.setSigmask(this.savedMask);
    this.saved = null;
  }
  get savedRegs(): Regs {
    if (!this.saved) throw new Error('injector not started');
    return this.saved;
  }

  /** Run one syscall in the task; returns the raw result (negative errno on failure). */
  call(name: keyof typeof SYS, ...args: (number | bigint)[]): bigint {
    const w = this.work;
    if (!w) throw new Error('injector not started');
    const nr = SYS[name];
    w.buf.set(this.saved!.buf);
    w.set(arch.abi.pc, this.gadget);
    w.set(arch.abi.nr, nr);
    if (arch.name === 'x86_64') w.set(arch.abi.orig, -1n); // no restart fix-up on the way out
    arch.abi.args.forEach((r, i) => w.set(r, args[i] ?? 0));
    this.t.setRegs(w);
    if (arch.name === 'aarch64') {
      const b = Buffer.alloc(4); b.writeInt32LE(-1);
      this.t.setRegset(NT.ARM_SYSTEM_CALL, b);
    }
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

  /** Like call(), but a negative errno result throws InjectError naming the task and call. */
  must(name: keyof typeof SYS, ...args: (number | bigint)[]): bigint {
    const r = this.call(name, ...args);
    if (r < 0n && r > -4096n) throw new InjectError(this.tid, `${name}(${args.map(fmt).join(', ')})`, r);
    return r;
  }

  /** mmap a private rw area in the task for syscall arguments. */
  mapScratch(size = 4096 * 4): bigint {
    const PROT_RW = 3, MAP_PRIVATE_ANON = 0x22;
    const a = this.must('mmap', 0, size, PROT_RW, MAP_PRIVATE_ANON, -1, 0);
    this.scratch = a;
    this.scratchSize = size;
    return a;
  }
  unmapScratch(): void {
    if (this.scratch) this.must('munmap', this.scratch, this.scratchSize);
    this.scratch = 0n;
  }
  write(addr: bigint, data: Buffer): void { vmWrite(this.tid, addr, data); }
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
