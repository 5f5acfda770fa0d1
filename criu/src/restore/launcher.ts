// Client of the native launcher (native/launcher.c, native/common.h): processes with chosen
// PIDs are created there. Under the `criu` command the launcher is our parent and passes its
// socket in CRIU_LAUNCHER_FD; used as a library, we start `criu --puppet-server` ourselves and
// the puppets it makes (CLONE_PARENT) become our own children.
import { createRequire } from 'node:module';
import type { ChildProcess } from 'node:child_process';
import { launcherBin } from '../paths.js';
import { socketpair, sendmsg, recvmsg, close, fdMessage, SysError } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, SOCK_STREAM } from '../sys/socket-consts.js';

export const LOP = { SPAWN: 1, WAIT_ROOT: 2, TIMENS: 3, EXEC: 4 } as const;
export const LF = { SIBLING: 1 } as const;
const REQ_SIZE = 192,
  RESP_SIZE = 40,
  /** the most a LOP_EXEC command line may take (native/common.h LAUNCHER_EXEC_MAX) */
  EXEC_MAX = 65536;

export interface SpawnRequest {
  pid: number;
  sibling?: boolean;
  transportFd: number;
  cloneFlags?: bigint;
  /** clone3's set_tid, innermost first (a root made in a new pid namespace: [1, host pid]); else [pid] */
  setTid?: number[];
}

export class Launcher {
  private sk: number;
  private server: ChildProcess | null = null;
  /** true when puppets are children of the `criu` launcher process, not of this process */
  readonly external: boolean;

  constructor() {
    const env = process.env.CRIU_LAUNCHER_FD;
    if (env) {
      this.sk = Number(env);
      this.external = true;
      delete process.env.CRIU_LAUNCHER_FD;
    } else {
      const [a, b] = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
      // loaded here only: node:child_process costs ~18 ms to load, and under `criu` it is not needed
      const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
      this.server = spawn(launcherBin, ['--puppet-server', '3'], { stdio: ['ignore', 'inherit', 'inherit', b] });
      close(b);
      this.sk = a;
      this.external = false;
    }
  }

  private request(
    op: number,
    pid: number,
    flags: number,
    transport: number,
    transportFd: number,
    cloneFlags = 0n,
    clocks?: bigint[],
    payload?: Buffer,
    setTid?: number[],
  ): { result: number; resp: Buffer } {
    const head = Buffer.alloc(REQ_SIZE);
    const rq = payload ? Buffer.concat([head, payload]) : head;
    clocks?.forEach((v, i) => rq.writeBigInt64LE(v, 160 + 8 * i));
    rq.writeUInt32LE(op, 0);
    rq.writeUInt32LE(flags, 4);
    rq.writeInt32LE(pid, 8);
    // set_tid innermost first: one entry for a pid of the tool's namespace, more for a new pid namespace (ns/pid.ts)
    const tids = setTid ?? (pid > 0 ? [pid] : []);
    rq.writeUInt32LE(tids.length, 12);
    tids.forEach((v, i) => rq.writeInt32LE(v, 16 + 4 * i));
    rq.writeBigUInt64LE(cloneFlags, 144);
    rq.writeInt32LE(0, 152);
    rq.writeInt32LE(transportFd, 156);
    const { msg, keep } = fdMessage(rq, transport);
    sendmsg(this.sk, msg);
    const rs = Buffer.alloc(RESP_SIZE);
    const r = fdMessage(rs, -1);
    const n = recvmsg(this.sk, r.msg);
    void keep;
    if (n < 4)
      throw new CriuError('the criu launcher closed its socket (did it die?)', {
        object: 'the launcher socket',
        hint: 'the launcher process (native/launcher.c) exited or was killed',
      });
    return { result: rs.readInt32LE(0), resp: rs };
  }

  /** Create a puppet with the wanted PID; returns its pid and our end of its transport. */
  spawnPuppet(rq: SpawnRequest): { pid: number; transport: number } {
    const [mine, theirs] = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
    let r: number;
    try {
      r = this.request(LOP.SPAWN, rq.pid, rq.sibling ? LF.SIBLING : 0, theirs, rq.transportFd, rq.cloneFlags ?? 0n, undefined, undefined, rq.setTid).result;
    } finally {
      close(theirs);
    }
    if (r < 0) {
      close(mine);
      throw new SysError(`clone3(set_tid=${rq.setTid ? `[${rq.setTid.join(', ')}]` : rq.pid})`, -r, []);
    }
    return { pid: r, transport: mine };
  }

  /**
   * Puppets spawned from now on live in a new time namespace whose CLOCK_MONOTONIC and
   * CLOCK_BOOTTIME read the given values at this moment (ns since the clock's zero), so the
   * clocks of a restored tree go on from where they stood at the dump. Returns the offsets.
   */
  enterTimens(monotonicNs: bigint, boottimeNs: bigint): { monotonic: bigint; boottime: bigint } {
    const G = 1_000_000_000n;
    const { result, resp } = this.request(LOP.TIMENS, 0, 0, -1, 0, 0n, [monotonicNs / G, monotonicNs % G, boottimeNs / G, boottimeNs % G]);
    if (result < 0) throw new SysError('unshare(CLONE_NEWTIME) and write /proc/self/timens_offsets', -result, []);
    const off = (i: number): bigint => resp.readBigInt64LE(8 + 16 * i) * G + resp.readBigInt64LE(16 + 16 * i);
    return { monotonic: off(0), boottime: off(1) };
  }

  /** Ask the `criu` launcher to wait for pid after we exit 0, and to exit with its status. */
  waitRoot(pid: number): void {
    if (!this.external) return;
    this.request(LOP.WAIT_ROOT, pid, 0, -1, 0);
  }

  /**
   * --exec-cmd: once we exit 0, the `criu` launcher (the parent of the root it spawned)
   * exec()s argv, which so becomes the restored root's parent, as with CRIU.
   */
  execAfter(argv: string[]): void {
    if (!this.external) throw new NotSupportedError('--exec-cmd without the criu launcher');
    const payload = Buffer.from(argv.map((a) => `${a}\0`).join(''));
    if (payload.length > EXEC_MAX) throw new CriuError(`--exec-cmd: the command is ${payload.length} bytes, more than ${EXEC_MAX}`);
    const { result } = this.request(LOP.EXEC, 0, 0, -1, 0, 0n, undefined, payload);
    if (result < 0) throw new SysError('--exec-cmd: hand the command to the criu launcher', -result, []);
  }

  close(): void {
    if (this.sk >= 0 && !this.external) close(this.sk);
    this.sk = -1;
    this.server = null;
  }
}
