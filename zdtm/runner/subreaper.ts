// Client of native/build/zdtm-subreaper: one per test. Every process the runner starts for a
// test (the program, each criu call, the ns launcher) is its child, so whatever they leave
// behind (the daemonized test, a restored tree) is re-parented to it and reaped at once.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo } from './catalog.mjs';

export const subreaperBin = path.join(repo, 'native', 'build', 'zdtm-subreaper');

export interface RunOptions {
  cwd?: string;
  /** stdout (appended); stderr too unless `err` is given */
  out?: string;
  err?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  pid: number;
  timedOut: boolean;
}

export class Subreaper {
  readonly events: string[] = [];
  private proc: ChildProcess;
  private buf = '';
  private seq = 0;
  private waiting = new Map<string, { pid: number; resolve: (code: number) => void }>();
  private exited: Promise<void>;
  pid = 0;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => this.onData(d));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => this.events.push(`stderr: ${d.trimEnd()}`));
  }

  static async start(): Promise<Subreaper> {
    if (!fs.existsSync(subreaperBin)) throw new Error(`${subreaperBin} is missing: run make -C native`);
    const s = new Subreaper(spawn(subreaperBin, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const end = Date.now() + 10_000;
    while (!s.pid) {
      if (Date.now() > end) throw new Error('zdtm-subreaper did not start');
      await new Promise((r) => setTimeout(r, 5));
    }
    return s;
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      this.events.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
      const w = line.split(' ');
      if (w[0] === 'ready') this.pid = Number(w[1]);
      else if (w[0] === 'started') {
        const x = this.waiting.get(w[1]);
        if (x) x.pid = Number(w[2]);
      } else if (w[0] === 'exited' || w[0] === 'error') {
        const x = this.waiting.get(w[1]);
        if (x) {
          this.waiting.delete(w[1]);
          x.resolve(w[0] === 'exited' ? Number(w[3]) : -1);
        }
      }
    }
  }

  /** Runs argv as the subreaper's child and waits for its exit status. */
  run(argv: string[], o: RunOptions = {}): Promise<RunResult> {
    const tag = `c${++this.seq}`;
    const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const fields = [tag, o.cwd ?? '', o.out ?? '', o.err ?? '', String(env.length), ...env, String(argv.length), ...argv];
    for (const f of fields) if (f.includes('\0')) throw new Error('NUL in a command');
    return new Promise<RunResult>((resolve) => {
      const entry = {
        pid: 0,
        resolve: (code: number) => {
          clearTimeout(timer);
          resolve({ code, pid: entry.pid, timedOut: false });
        },
      };
      const timer = setTimeout(() => {
        // the command hangs: kill it, its exit is still reported
        if (entry.pid)
          try {
            process.kill(entry.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        this.waiting.delete(tag);
        resolve({ code: -1, pid: entry.pid, timedOut: true });
      }, o.timeoutMs ?? 60_000);
      this.waiting.set(tag, entry);
      this.proc.stdin!.write(fields.map((f) => `${f}\0`).join(''));
    });
  }

  /** Kills whatever is left under the subreaper and ends it. */
  async quit(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      this.proc.stdin!.end('quit\0');
    } catch {
      /* closed */
    }
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}
