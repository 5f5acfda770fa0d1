// The V8 start-up snapshot (criu/bundle.mjs makes it, native/launcher.c starts Node from it): the
// tool's modules are loaded and initialised at build time, and a command starts from that heap.
// Module state taken from the environment, the clock or the process (CRIU_FAULT, the log's
// clock) must be taken again at start: `atStart` runs its function now and, in a snapshot
// build, once more when a process starts from the snapshot.
import * as v8 from 'node:v8';

/** true while `node --build-snapshot` runs the tool's modules (a function: a constant would be
 * kept in the snapshot as it was at build time) */
export const buildingSnapshot = (): boolean => v8.startupSnapshot?.isBuildingSnapshot?.() ?? false;

/** run fn now, and again in every process started from a snapshot built with it */
export function atStart(fn: () => void): void {
  fn();
  if (buildingSnapshot()) v8.startupSnapshot.addDeserializeCallback(fn);
}

let args: string[] = process.argv.slice(2);
/** the command's arguments as the user gave them (after the script, or after `--` from a snapshot) */
export const commandArgs = (): string[] => args;
/** the command's arguments, as the entry found them */
export function setCommandArgs(a: string[]): void {
  args = a;
}
