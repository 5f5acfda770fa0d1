// A puppet under our control: seized, with an injector, a transport to pass fds in, and a
// gadget page (syscall instruction + scratch) placed where neither layout has anything.
import { Tracee, waitStop } from '../ptrace/tracee.js';
import { Injector, BatchArea, findSyscallInsn } from '../ptrace/inject.js';
import { PTRACE_O } from '../ptrace/consts.js';
import { readFd, fdMessage, sendmsg, close, tryKill, waitpid, __WALL, WNOHANG } from '../sys/libc.js';
import { arch } from '../sys/arch.js';
import { CriuError } from '../errors.js';

export const PAGE = 4096n;
// one code page (the syscall gadget), four scratch pages, then the batch area (Injector.batch):
// four code pages and a results page
export const GADGET_PAGES = 10n;
const BATCH_AT = 5n;
/** fds passed in one message (SCM_MAX_FD is 253) */
export const MAX_FDS_AT_ONCE = 200;

export class Puppet {
  readonly t: Tracee;
  readonly inj: Injector;
  gadgetArea = 0n;
  forkedChild = false;
  /** the other threads, once cloned */
  threads: Tracee[] = [];

  private constructor(
    readonly pid: number,
    readonly transport: number,
    readonly transportFd: number,
    readonly ownChild: boolean,
    t: Tracee,
    gadget: bigint,
  ) {
    this.t = t;
    this.inj = new Injector(t, gadget);
    this.inj.begin();
  }

  /** A puppet the launcher made: wait for its ready byte, then seize it. */
  static spawned(pid: number, transport: number, transportFd: number, ownChild: boolean): Puppet {
    const ready = Buffer.alloc(1);
    if (readFd(transport, ready) !== 1 || ready[0] !== 0x52) throw new CriuError(`task ${pid}: the puppet did not start`);
    const t = Tracee.seize(pid, PTRACE_O.EXITKILL | PTRACE_O.TRACESYSGOOD | PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK);
    t.stop();
    return new Puppet(pid, transport, transportFd, ownChild, t, findSyscallInsn(pid));
  }

  /** A child forked by an injected clone3 in `parent`: auto-attached, sharing its gadget and transport. */
  static forked(parent: Puppet, pid: number): Puppet {
    const t = new Tracee(pid);
    const st = waitStop(pid);
    if (st.kind !== 'interrupt' && st.kind !== 'group-stop') throw new CriuError(`task ${pid}: unexpected first stop (${st.kind} ${st.sig})`);
    const p = new Puppet(pid, parent.transport, parent.transportFd, true, t, parent.inj.gadget);
    p.forkedChild = true;
    p.gadgetArea = parent.gadgetArea;
    p.inj.scratch = parent.inj.scratch;
    p.inj.scratchSize = parent.inj.scratchSize;
    if (parent.inj.batchArea) p.inj.batchArea = new BatchArea(pid, parent.inj.batchArea.code, parent.inj.batchArea.results);
    return p;
  }

  get scratch(): bigint {
    return this.gadgetArea + PAGE;
  }

  /** Map the gadget area at `at` and run every later injection from it. */
  placeGadget(at: bigint): void {
    const PROT_RW = 3,
      PROT_RX = 5,
      MAP_FIXED_NOREPLACE = 0x100000,
      MAP_PRIVATE_ANON = 0x22;
    const r = this.inj.must('mmap', at, GADGET_PAGES * PAGE, PROT_RW, MAP_PRIVATE_ANON | MAP_FIXED_NOREPLACE, -1, 0);
    if (r !== at) throw new CriuError(`task ${this.pid}: gadget page landed at 0x${r.toString(16)}, not 0x${at.toString(16)}`);
    const code = Buffer.alloc(16, arch.name === 'x86_64' ? 0xcc : 0);
    arch.syscallInsn.copy(code, 0);
    this.inj.write(at, code);
    this.inj.must('mprotect', at, PAGE, PROT_RX);
    this.inj.must('mprotect', at + BATCH_AT * PAGE, 4n * PAGE, PROT_RX);
    this.inj.gadget = at;
    this.gadgetArea = at;
    this.inj.scratch = at + PAGE;
    this.inj.scratchSize = Number(4n * PAGE);
    this.inj.batchArea = new BatchArea(this.pid, at + BATCH_AT * PAGE, at + (BATCH_AT + 4n) * PAGE);
  }

  /** Pass one of our fds into the puppet; returns its fd number there (not yet at its place). */
  receiveFd(ourFd: number): number {
    return this.receiveFds([ourFd])[0];
  }

  /**
   * Pass up to MAX_FDS_AT_ONCE of our fds in one SCM_RIGHTS message and one injected recvmsg;
   * the kernel gives them the lowest free numbers, in order. Returns their numbers in the task.
   */
  receiveFds(ourFds: number[]): number[] {
    if (ourFds.length > MAX_FDS_AT_ONCE) throw new CriuError(`at most ${MAX_FDS_AT_ONCE} fds at once`, { task: this.pid });
    const { msg, keep } = fdMessage(Buffer.from('F'), ourFds);
    sendmsg(this.transport, msg);
    void keep;
    // msghdr at scratch, iovec at +64, the data byte at +128, control from +192
    const s = this.scratch;
    const ctlLen = (16 + 4 * ourFds.length + 7) & ~7;
    const hdr = Buffer.alloc(192);
    hdr.writeBigUInt64LE(s + 64n, 16);
    hdr.writeBigUInt64LE(1n, 24);
    hdr.writeBigUInt64LE(s + 192n, 32);
    hdr.writeBigUInt64LE(BigInt(ctlLen), 40);
    hdr.writeBigUInt64LE(s + 128n, 64);
    hdr.writeBigUInt64LE(1n, 72);
    this.inj.write(s, hdr);
    this.inj.must('recvmsg', this.transportFd, s, 0);
    const ctl = this.inj.read(s + 192n, ctlLen);
    const n = (Number(ctl.readBigUInt64LE(0)) - 16) / 4;
    if (ctl.readInt32LE(8) !== 1 || ctl.readInt32LE(12) !== 1 || n !== ourFds.length) {
      throw new CriuError(`task ${this.pid}: ${ourFds.length} fd(s) sent over the transport, ${Math.max(0, n)} arrived`);
    }
    return Array.from({ length: n }, (_, i) => ctl.readInt32LE(16 + 4 * i));
  }

  /** Put one of our fds into the puppet at fd number `target`. */
  installFd(ourFd: number, target: number, cloexec: boolean): void {
    const got = this.receiveFd(ourFd);
    if (got !== target) {
      this.inj.must('dup3', got, target, cloexec ? 0o2000000 : 0);
      this.inj.must('close', got);
    } else if (cloexec) {
      this.inj.must('fcntl', target, 2 /* F_SETFD */, 1);
    }
  }

  /** A failed restore: the puppet is killed and reaped, and nothing of it is left. */
  kill(): void {
    tryKill(this.pid, 9);
    if (!this.forkedChild) {
      try {
        close(this.transport);
      } catch {
        /* already */
      }
    }
    if (this.ownChild) {
      try {
        waitpid(this.pid, __WALL);
      } catch {
        /* reaped */
      }
    } else {
      // the launcher reaps it; wait until the pid is free so a retry can take it
      for (let i = 0; i < 2000; i++) {
        try {
          if (waitpid(this.pid, __WALL | WNOHANG).pid === this.pid) break;
        } catch {
          break;
        }
      }
    }
  }
}
