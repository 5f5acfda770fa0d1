// CRIU's command line: the same commands and option names, so that runc, podman and scripts
// that call `criu` keep working. An option that is known but not implemented yet fails at once
// with "not supported yet: --name"; an unknown one is an error, as in CRIU.
import { NotSupportedError, CriuError } from '../errors.js';

export interface OptSpec { long: string; short?: string; arg: boolean; done?: readonly string[] }

const ALL = ['dump', 'restore', 'pre-dump', 'check'] as const;
// `done` lists the commands where the option works today
export const OPTIONS: OptSpec[] = [
  { long: 'tree', short: 't', arg: true, done: ['dump'] },
  { long: 'images-dir', short: 'D', arg: true, done: ['dump', 'restore'] },
  { long: 'work-dir', short: 'W', arg: true, done: ['dump', 'restore', 'check'] },
  { long: 'log-file', short: 'o', arg: true, done: ALL },
  { long: 'verbosity', short: 'v', arg: true, done: ALL },
  { long: 'pidfile', arg: true, done: ['restore'] },
  { long: 'restore-detached', short: 'd', arg: false, done: ['restore'] },
  { long: 'restore-sibling', short: 'S', arg: false, done: ['restore'] },
  { long: 'leave-running', short: 'R', arg: false, done: ['dump'] },
  { long: 'leave-stopped', short: 's', arg: false, done: ['dump'] },
  { long: 'timeout', arg: true, done: ['dump'] },
  { long: 'no-default-config', arg: false, done: ALL },
  { long: 'config', arg: true },
  { long: 'shell-job', short: 'j', arg: false },
  { long: 'file-locks', short: 'l', arg: false },
  { long: 'tcp-established', arg: false },
  { long: 'tcp-close', arg: false },
  { long: 'ext-unix-sk', arg: false },
  { long: 'external', arg: true },
  { long: 'inherit-fd', arg: true },
  { long: 'root', short: 'r', arg: true },
  { long: 'link-remap', arg: false },
  { long: 'ghost-limit', arg: true },
  { long: 'manage-cgroups', arg: false },
  { long: 'cgroup-root', arg: true },
  { long: 'freeze-cgroup', arg: true, done: ['dump'] },
  { long: 'track-mem', arg: false },
  { long: 'prev-images-dir', arg: true },
  { long: 'page-server', arg: false },
  { long: 'address', arg: true },
  { long: 'port', arg: true },
  { long: 'auto-dedup', arg: false },
  { long: 'lazy-pages', arg: false },
  { long: 'libdir', short: 'L', arg: true },
  { long: 'display-stats', arg: false, done: ['dump', 'restore'] },
  { long: 'status-fd', arg: true },
  { long: 'feature', arg: true, done: ['check'] },
  { long: 'all', arg: false, done: ['check'] },
  { long: 'extra', arg: false },
  { long: 'experimental', arg: false },
  { long: 'pre-dump-mode', arg: true },
  { long: 'evasive-devices', arg: false },
  { long: 'skip-mnt', arg: true },
  { long: 'enable-fs', arg: true },
  { long: 'enable-external-sharing', arg: false },
  { long: 'enable-external-masters', arg: false },
  { long: 'weak-sysctls', arg: false },
  { long: 'lsm-profile', arg: true },
  { long: 'network-lock', arg: true },
  { long: 'cpu-cap', arg: true },
  { long: 'action-script', arg: true },
  { long: 'exec-cmd', arg: false },
  { long: 'stream', arg: false },
  { long: 'skip-in-flight', arg: false },
  { long: 'unprivileged', arg: false },
  { long: 'mntns-compat-mode', arg: false },
  { long: 'empty-ns', arg: true },
  { long: 'join-ns', short: 'J', arg: true },
  { long: 'veth-pair', arg: true },
  { long: 'irmap-scan-path', arg: true },
  { long: 'timens', arg: false },
];

export const COMMANDS = ['dump', 'pre-dump', 'restore', 'check', 'page-server', 'lazy-pages', 'service', 'swrk', 'cpuinfo', 'exec', 'show'] as const;

export interface Parsed { command: string; opts: Map<string, string[]>; rest: string[] }

export function parseArgs(argv: string[]): Parsed {
  const opts = new Map<string, string[]>();
  const rest: string[] = [];
  let command = '';
  const add = (k: string, v: string): void => { opts.set(k, [...(opts.get(k) ?? []), v]); };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { rest.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (name === 'help' || name === 'version') { add(name, ''); continue; }
      const spec = OPTIONS.find((o) => o.long === name);
      if (!spec) throw new CriuError(`unknown option --${name}`, 'see criu --help');
      if (spec.arg) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new CriuError(`option --${name} needs a value`);
        add(name, v);
      } else add(name, '');
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const ch = a[1];
      if (ch === 'h') { add('help', ''); continue; }
      if (ch === 'V') { add('version', ''); continue; }
      if (ch === 'v') {
        // -v, -vv, -vvvv, -v4
        const tail = a.slice(2);
        add('verbosity', /^\d+$/.test(tail) ? tail : String(3 + (tail.match(/v/g)?.length ?? 0)));
        continue;
      }
      const spec = OPTIONS.find((o) => o.short === ch);
      if (!spec) throw new CriuError(`unknown option -${ch}`, 'see criu --help');
      if (spec.arg) {
        const v = a.length > 2 ? a.slice(2) : argv[++i];
        if (v === undefined) throw new CriuError(`option -${ch} needs a value`);
        add(spec.long, v);
      } else add(spec.long, '');
      continue;
    }
    if (!command) command = a; else rest.push(a);
  }
  return { command, opts, rest };
}

/** Refuse at once every given option this command does not implement yet. */
export function refuseUnsupported(p: Parsed): void {
  for (const k of p.opts.keys()) {
    if (k === 'help' || k === 'version') continue;
    const spec = OPTIONS.find((o) => o.long === k)!;
    if (!spec.done?.includes(p.command)) throw new NotSupportedError(`--${k}${spec.done?.length ? ` with ${p.command}` : ''}`);
  }
}

export const one = (p: Parsed, k: string): string | undefined => p.opts.get(k)?.at(-1);
export const flag = (p: Parsed, k: string): boolean => p.opts.has(k);
