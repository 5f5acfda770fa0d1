// The system tools the tool runs (ip, nft, iptables-restore ...), found on PATH and run by
// absolute path inside a network namespace: busybox's nsenter (a root of busybox applets, as
// in the VM guests) runs a bare name as its own applet when it has one, so `ip` would be
// busybox's ip, not iproute2's, even where iproute2 is installed.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

/** node:child_process, loaded at its first use (most commands never spawn) */
export const childProcess = (): typeof import('node:child_process') =>
  createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');

const found = new Map<string, string | null>();

/** the absolute path of system tool BIN on PATH (then /usr/sbin, /sbin), null when there is none */
export function toolPath(bin: string): string | null {
  if (bin.includes('/')) return fs.existsSync(bin) ? bin : null;
  let p = found.get(bin);
  if (p === undefined) {
    const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
    p = dirs.map((d) => `${d}/${bin}`).find((f) => f.startsWith('/') && isExecutable(f)) ?? null;
    found.set(bin, p);
  }
  return p;
}

function isExecutable(f: string): boolean {
  try {
    fs.accessSync(f, fs.constants.X_OK);
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
}

/** nsenter's arguments to run CMD with ARGS in the network namespace NSPATH (CMD by its absolute path where it is found) */
export const nsenterNet = (nsPath: string, cmd: string, args: string[]): string[] => [`--net=${nsPath}`, '--', toolPath(cmd) ?? cmd, ...args];
