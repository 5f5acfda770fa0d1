// CRIU-style log: "(SS.UUUUUU) text", errors as "Error (file:line): text". Verbosity as CRIU's
// -v: 0 nothing, 1 errors, 2 warnings, 3 info, 4 debug. To a file (-o) or stderr.
import * as fs from 'node:fs';
import { atStart } from './snapshot.js';

export const LOG = { ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4 } as const;

export class Logger {
  level = 2;
  private fdNo = 2;
  private t0 = process.hrtime.bigint();
  private ownFd = false;

  setFile(path: string | null): void {
    if (this.ownFd) fs.closeSync(this.fdNo);
    this.ownFd = false;
    this.fdNo = 2;
    if (path && path !== '-') {
      this.fdNo = fs.openSync(path, 'w', 0o600);
      this.ownFd = true;
    }
  }
  /** the fd the log is written to (the -o file, else stderr): where action scripts write */
  get fd(): number {
    return this.fdNo;
  }
  get toFile(): boolean {
    return this.ownFd;
  }
  resetClock(): void {
    this.t0 = process.hrtime.bigint();
  }
  private stamp(): string {
    const us = Number((process.hrtime.bigint() - this.t0) / 1000n);
    return `(${String(Math.floor(us / 1e6)).padStart(2, '0')}.${String(us % 1e6).padStart(6, '0')}) `;
  }
  private out(lvl: number, text: string): void {
    if (lvl > this.level) return;
    fs.writeSync(this.fdNo, `${this.stamp()}${text}\n`);
  }
  error(text: string, where = caller()): void {
    this.out(LOG.ERROR, `Error (${where}): ${text}`);
  }
  warn(text: string, where = caller()): void {
    this.out(LOG.WARN, `Warn  (${where}): ${text}`);
  }
  info(text: string): void {
    this.out(LOG.INFO, text);
  }
  debug(text: string): void {
    this.out(LOG.DEBUG, text);
  }
  /** text already formatted (a plugin's print_on_level: "Error (file:line): …" included) at a level; 0 always */
  print(level: number, text: string): void {
    this.out(level, text);
  }
  close(): void {
    this.setFile(null);
  }
}

/** "file.ts:line" of the caller's caller, from the source-mapped stack where there is one. */
function caller(): string {
  const st = new Error().stack?.split('\n')[3] ?? '';
  const m = /([^/\s(]+\.[jt]s):(\d+)/.exec(st);
  return m ? `${m[1].replace(/\.js$/, '.ts')}:${m[2]}` : 'criu';
}

export const log = new Logger();
// from a start-up snapshot, the clock starts when the process does, not when the build ran
atStart(() => log.resetClock());
