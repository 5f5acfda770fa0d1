// What the Node API's caller side (index.ts) and its worker thread (worker.ts) tell each other.
import type { DumpOptions } from '../dump/dump.js';
import type { RestoreOptions } from '../restore/restore.js';
import type { ProgressReport } from '../progress.js';

export type Job = { op: 'dump'; opts: DumpOptions } | { op: 'restore'; opts: RestoreOptions } | { op: 'check'; opts: { feature?: string[]; all: boolean } };

export interface WorkerInput {
  job: Job;
  /** the command line the options made (api/options.ts): the worker sets the engines' module options from it */
  argv: string[];
  logFile?: string;
  logLevel: number;
  /** debug and warning lines the CLI logs about the options before it starts */
  notes: string[];
  warnings: string[];
  /** one Int32: set to 1 by the caller to abort at the next step */
  abort: SharedArrayBuffer;
}

/** A progress event: a step of the operation starting, pages written, a task restored. */
export type ProgressEvent = { kind: 'step'; op: 'dump' | 'restore'; step: number; name: string } | ({ op: 'dump' | 'restore' } & ProgressReport);

/** An error as it crossed the thread: enough to make it again on the caller's side. */
export interface WireError {
  kind: 'CriuError' | 'NotSupportedError' | 'AbortError' | 'Error';
  message: string;
  hint?: string;
  task?: number;
  object?: string;
  stack?: string;
}

export type WorkerMessage = { type: 'progress'; event: ProgressEvent } | { type: 'done'; value: number } | { type: 'error'; error: WireError };
