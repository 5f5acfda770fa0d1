// A one-line progress report on a terminal (pages written, tasks restored); nothing when
// stderr is not a TTY or when the log itself goes to stderr. A listener (the Node API's worker)
// gets the same reports as events, every one of them, terminal or not.
import * as fs from 'node:fs';
import { log } from './log.js';
import { isatty } from './sys/libc.js';

/** What a report says, for a listener: bytes of pages written so far, or a task being restored. */
export type ProgressReport = { kind: 'pages'; bytes: number } | { kind: 'task'; index: number; of: number; pid: number };

class Progress {
  listener: ((r: ProgressReport) => void) | null = null;
  private last = 0;
  private shown = false;
  // isatty(2) rather than process.stderr.isTTY: making Node's stderr stream costs ~15 ms
  private tty: boolean | undefined;
  get enabled(): boolean {
    return (this.tty ??= isatty(2)) && (log.toFile || log.level <= 2) && !process.env.CI;
  }
  /** Redraw at most ten times a second, or always with force. */
  show(text: string, force = false, report?: ProgressReport): void {
    if (report) this.listener?.(report);
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    this.shown = true;
    fs.writeSync(2, `\r\x1b[K${text}`);
  }
  done(): void {
    if (this.shown) fs.writeSync(2, '\r\x1b[K');
    this.shown = false;
  }
}

export const progress = new Progress();
