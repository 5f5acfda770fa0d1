// CRIU's CUDA plugin ("cuda_plugin", the name it records in inventory.img), in TypeScript. It
// drives NVIDIA's cuda-checkpoint (found on PATH) as CRIU's plugin does:
//   init:               `cuda-checkpoint -h` must know --action (driver r555+), else the plugin
//                       disables itself; disabled for pre-dump, without a GPU
//                       (/proc/driver/nvidia/gpus/), and at restore when the images do not need it
//   PAUSE_DEVICES:      --get-restore-tid (none: not a CUDA task), --get-state of that thread,
//                       the plugin recorded in the inventory, then --action lock --timeout MS
//                       (a task already locked or checkpointed is only remembered)
//   CHECKPOINT_DEVICES: the restore thread let run, --action checkpoint, the thread stopped again
//   RESUME_DEVICES_LATE (restore), and exit() of a failed or --leave-running dump: the restore
//                       thread let run, --action restore (if checkpointed), --action unlock (if it
//                       was running), the thread stopped again
// The CUDA restore thread is a thread of the seized task that must run while cuda-checkpoint
// works: it gets every signal blocked but SIGTRAP and no ptrace options, is continued, and is
// interrupted again afterwards with the engine's options and its own signal mask back.
import * as fs from 'node:fs';
import { childProcess } from '../sys/tools.js';
import { Tracee, waitStop } from '../ptrace/tracee.js';
import { PTRACE_O } from '../ptrace/consts.js';
import { log } from '../log.js';
import { STAGE, type PluginHost, type Stage, type TsPluginDesc } from './hooks.js';

/** node:child_process, loaded only when a program is run: it pulls in net and friends, milliseconds on the dump path */

export const CUDA_PLUGIN_NAME = 'cuda_plugin';
const P = 'cuda_plugin: ';
const ENOTSUP = 95;
const SIGTRAP = 5;

type CudaState = 'running' | 'locked' | 'checkpointed' | 'unknown';

/** How the plugin lets the restore thread run and stops it again (ptrace in the tool; a fake in tests). */
export interface RestoreThreadControl {
  /** let it run: returns its signal mask to give back */
  resume(tid: number): bigint;
  /** stop it again and give it back its mask */
  interrupt(tid: number, savedMask: bigint): void;
}

/** the real one: the dump or restore engine has seized every thread already */
export function ptraceRestoreThread(engineOptions: number = PTRACE_O.SUSPEND_SECCOMP | PTRACE_O.TRACESYSGOOD): RestoreThreadControl {
  return {
    resume(tid) {
      const t = new Tracee(tid);
      const saved = t.getSigmask();
      t.setSigmask(~(1n << BigInt(SIGTRAP - 1)) & 0xffffffffffffffffn);
      t.setOptions(0);
      t.cont();
      return saved;
    },
    interrupt(tid, saved) {
      const t = new Tracee(tid);
      t.interrupt();
      for (;;) {
        const s = waitStop(tid);
        if (s.kind === 'interrupt' || s.kind === 'group-stop') break;
        t.cont(s.kind === 'signal' ? s.sig : 0); // hand the signal back; the pending interrupt stops it next
      }
      t.setOptions(engineOptions);
      t.setSigmask(saved);
    },
  };
}

export interface CudaPluginOptions {
  /** the tool's name or path (default cuda-checkpoint, looked up on PATH) */
  tool?: string;
  env?: NodeJS.ProcessEnv;
  /** where the driver lists GPUs (default /proc/driver/nvidia/gpus/) */
  gpuDir?: string;
  /** skip the GPU check (CRIU's fault FI_PLUGIN_CUDA_FORCE_ENABLE, CRIU_FAULT=138) */
  forceEnable?: boolean;
  threads?: RestoreThreadControl;
}

interface Tracked {
  pid: number;
  checkpointed: boolean;
  initial: CudaState;
}

/** CRIU's cuda_plugin: its state lives here, one instance per descriptor. */
class CudaPlugin {
  private readonly tool: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly threads: RestoreThreadControl;
  private disabled = false;
  private inInventory = false;
  private host: PluginHost | null = null;
  private tracked: Tracked[] = [];

  constructor(private readonly o: CudaPluginOptions) {
    this.tool = o.tool ?? 'cuda-checkpoint';
    this.env = o.env ?? process.env;
    this.threads = o.threads ?? ptraceRestoreThread();
  }

  /** run cuda-checkpoint: its exit code (-1 when it could not run or was killed) and its output */
  private launch(args: string[]): { code: number; out: string } {
    const r = childProcess().spawnSync(this.tool, args, { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.error) return { code: -1, out: `${this.tool}: ${r.error.message}` };
    if (r.signal) {
      log.error(`${P}cuda-checkpoint unexpectedly signaled with ${r.signal}`);
      return { code: -1, out };
    }
    const code = r.status ?? -1;
    if (code !== 0) log.debug(`${P}cuda-checkpoint output ===>\n${out}\n<=== cuda-checkpoint output`);
    return { code, out };
  }

  private action(pid: number, act: string, timeoutMs = 0): { code: number; out: string } {
    return this.launch(['--action', act, '--pid', String(pid), ...(timeoutMs > 0 ? ['--timeout', String(timeoutMs)] : [])]);
  }

  private restoreTid(pid: number): number {
    const r = this.launch(['--get-restore-tid', '--pid', String(pid)]);
    if (r.code !== 0) {
      log.error(`${P}Failed to launch cuda-checkpoint to retrieve restore tid: ${r.out.trim()}`);
      return -1;
    }
    return Number.parseInt(r.out, 10) || 0;
  }

  private state(tid: number): CudaState {
    const r = this.launch(['--get-state', '--pid', String(tid)]);
    if (r.code !== 0) {
      log.error(`${P}Failed to launch cuda-checkpoint to retrieve state: ${r.out.trim()}`);
      return 'unknown';
    }
    for (const s of ['running', 'locked', 'checkpointed'] as const) if (r.out.startsWith(s)) return s;
    log.error(`${P}Unknown CUDA state: ${r.out.trim()}`);
    return 'unknown';
  }

  /** restore and unlock one task (RESUME_DEVICES_LATE; exit() of a dump that leaves it running) */
  private resumeDevice(pid: number, checkpointed: boolean, initial: CudaState): number {
    if (initial === 'unknown') {
      log.info(`${P}skip resume for PID ${pid} (unknown state)`);
      return 0;
    }
    const tid = this.restoreTid(pid);
    if (tid === -1) {
      log.info(`${P}No need to resume devices on pid ${pid}`);
      return 0;
    }
    log.info(`${P}resuming devices on pid ${pid}`);
    log.debug(`${P}Restore thread pid ${tid} found for real pid ${pid}`);
    const saved = this.threads.resume(tid);
    let ret = 0;
    if (checkpointed && (initial === 'running' || initial === 'locked')) {
      const r = this.action(pid, 'restore');
      if (r.code !== 0) {
        log.error(`${P}RESUME_DEVICES RESTORE failed with ${r.out.trim()}`);
        // a checkpoint that failed left it locked, not checkpointed: unlock it all the same
        // (CRIU gives up here and leaves the task locked)
        if (this.state(tid) === 'locked') log.info(`${P}pid ${pid} was never checkpointed; unlocking it`);
        else ret = -1;
      }
    }
    if (ret === 0 && initial === 'running') {
      const r = this.action(pid, 'unlock');
      if (r.code !== 0) {
        log.error(`${P}RESUME_DEVICES UNLOCK failed with ${r.out.trim()}`);
        ret = -1;
      }
    }
    this.threads.interrupt(tid, saved);
    return ret;
  }

  /** disabled for pre-dump, for images that do not need it, without a GPU, without a usable cuda-checkpoint */
  private enabledFor(stage: Stage, h: PluginHost): boolean {
    if (stage === STAGE.PRE_DUMP) return false;
    if (stage === STAGE.RESTORE && !h.checkAndRemoveInventoryPlugin(CUDA_PLUGIN_NAME)) return false;
    const gpuDir = this.o.gpuDir ?? '/proc/driver/nvidia/gpus/';
    const forced = this.o.forceEnable ?? this.env.CRIU_FAULT === '138';
    if (!forced && !(fs.existsSync(gpuDir) && fs.statSync(gpuDir).isDirectory())) {
      log.info(`${P}No GPU device found; CUDA plugin is disabled`);
      return false;
    }
    const help = this.launch(['-h']);
    if (help.code !== 0) {
      log.warn(`${P}check that ${this.tool} is present in $PATH`);
      return false;
    }
    if (!help.out.includes('--action')) {
      log.warn(`${P}cuda-checkpoint --action flag not supported, an r555 or higher version driver is required. Disabling CUDA plugin`);
      return false;
    }
    return true;
  }

  init(stage: Stage, h: PluginHost): number {
    this.host = h;
    this.inInventory = false;
    this.tracked = [];
    this.disabled = !this.enabledFor(stage, h);
    if (this.disabled) return 0;
    log.info(`${P}initialized: ${CUDA_PLUGIN_NAME} stage ${stage}`);
    h.setInterruptOnlyMode();
    return 0;
  }

  pauseDevices(pid: number): number {
    if (this.disabled) return -ENOTSUP;
    const tid = this.restoreTid(pid);
    if (tid === -1) {
      log.info(`${P}no need to pause devices on pid ${pid}`);
      return 0;
    }
    const st = this.state(tid);
    if (st === 'unknown') {
      log.error(`${P}Failed to get CUDA state for PID ${tid}`);
      return -1;
    }
    if (!this.inInventory) {
      if (this.host?.addInventoryPlugin(CUDA_PLUGIN_NAME)) {
        log.error(`${P}Failed to add CUDA plugin to inventory image`);
        return -1;
      }
      this.inInventory = true;
    }
    if (st === 'locked') log.info(`${P}pid ${pid} already in a locked state`);
    if (st === 'locked' || st === 'checkpointed') {
      this.tracked.push({ pid, checkpointed: false, initial: st });
      return 0;
    }
    log.info(`${P}pausing devices on pid ${pid}`);
    const r = this.action(pid, 'lock', (this.host?.options.timeout ?? 10) * 1000);
    if (r.code !== 0) {
      log.error(`${P}PAUSE_DEVICES failed with ${r.out.trim()}`);
      return -1;
    }
    this.tracked.push({ pid, checkpointed: false, initial: 'running' });
    return 0;
  }

  checkpointDevices(pid: number): number {
    if (this.disabled) return -ENOTSUP;
    const tid = this.restoreTid(pid);
    if (tid === -1) {
      log.info(`${P}No need to checkpoint devices on pid ${pid}`);
      return 0;
    }
    const t = this.tracked.find((x) => x.pid === pid);
    if (t?.initial === 'checkpointed') {
      log.info(`${P}pid ${pid} already in a checkpointed state`);
      return 0;
    }
    if (!t) {
      log.error(`${P}Failed to track pid ${pid}`);
      return -1;
    }
    log.info(`${P}Checkpointing CUDA devices on pid ${pid} restore_tid ${tid}`);
    const saved = this.threads.resume(tid);
    t.checkpointed = true;
    const r = this.action(pid, 'checkpoint');
    if (r.code !== 0) log.error(`${P}CHECKPOINT_DEVICES failed with ${r.out.trim()}`);
    this.threads.interrupt(tid, saved);
    return r.code !== 0 ? -1 : 0;
  }

  /** after a restore the task is expected to run, whatever its state at dump */
  resumeDevicesLate(pid: number): number {
    return this.disabled ? -ENOTSUP : this.resumeDevice(pid, true, 'running');
  }

  exit(stage: Stage, ret: number): void {
    if (this.disabled) return;
    log.info(`${P}finished ${CUDA_PLUGIN_NAME} stage ${stage} err ${ret}`);
    if (stage === STAGE.DUMP && (this.host?.options.leaveRunning || ret !== 0)) {
      for (const t of this.tracked) this.resumeDevice(t.pid, t.checkpointed, t.initial);
    }
    if (stage === STAGE.DUMP) this.tracked = [];
  }
}

/** A fresh CUDA plugin descriptor (its state is its own). */
export function cudaPlugin(o: CudaPluginOptions = {}): TsPluginDesc {
  const c = new CudaPlugin(o);
  return {
    name: CUDA_PLUGIN_NAME,
    init: (stage, h) => c.init(stage, h),
    exit: (stage, ret) => c.exit(stage, ret),
    pauseDevices: (pid) => c.pauseDevices(pid),
    checkpointDevices: (pid) => c.checkpointDevices(pid),
    resumeDevicesLate: (pid) => c.resumeDevicesLate(pid),
  };
}

export default cudaPlugin();
