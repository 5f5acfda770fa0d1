// The Node API's worker thread: one call, start to end, on this one thread. ptrace binds a tracee
// to the thread that attached it, so a whole dump or restore runs here, synchronously, while the
// caller's event loop goes on. The caller's abort flag is read at each step of the operation
// (fault.ts's step hook); progress goes back as messages.
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { log } from '../log.js';
import { describe } from '../errors.js';
import { setStepHook } from '../fault.js';
import { progress } from '../progress.js';
import { readMessagesOf } from '../images/typed.js';
import { AbortError, toWire } from './errors.js';
import type { WorkerInput, WorkerMessage, Job } from './protocol.js';

const input = workerData as WorkerInput;
const aborted = new Int32Array(input.abort);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

function watch(op: 'dump' | 'restore'): void {
  setStepHook((n, step) => {
    if (Atomics.load(aborted, 0) === 1) {
      const what = op === 'dump' ? 'the tree was let go as it was, no image is left' : 'what was restored so far is killed';
      throw new AbortError(`criu ${op} aborted by the caller before step ${n} (${step})`, { hint: what });
    }
    post({ type: 'progress', event: { kind: 'step', op, step: n, name: step } });
  });
  progress.listener = (r) => post({ type: 'progress', event: { op, ...r } });
}

async function run(job: Job): Promise<number> {
  switch (job.op) {
    case 'dump': {
      watch('dump');
      const { dump } = await import('../dump/dump.js');
      dump(job.opts);
      return 0;
    }
    case 'restore': {
      watch('restore');
      const { restore } = await import('../restore/restore.js');
      restore(job.opts);
      // restored on its dumped PID: the root is the first task of pstree.img
      return readMessagesOf(path.join(job.opts.imagesDir, 'pstree.img'), 'PSTREE')[0].pid;
    }
    case 'check': {
      const { check } = await import('../check.js');
      return check(job.opts);
    }
  }
}

async function main(): Promise<void> {
  log.level = input.logLevel;
  try {
    if (input.logFile) log.setFile(input.logFile);
    for (const w of input.warnings) log.warn(w);
    for (const n of input.notes) log.debug(n);
    // the options the engines keep in module state, set on this thread as the CLI sets them
    const [{ parseArgs }, { setModuleOptions }] = await Promise.all([import('../cli/options.js'), import('../cli/commands.js')]);
    setModuleOptions(parseArgs(input.argv, { noConfig: true }));
    post({ type: 'done', value: await run(input.job) });
  } catch (e) {
    // as the CLI: the error goes to the log too, when there is a log file
    if (log.toFile) log.error(describe(e));
    post({ type: 'error', error: toWire(e) });
  } finally {
    setStepHook(null);
    progress.listener = null;
    log.close();
  }
}

void main();
