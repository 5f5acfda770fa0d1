// The Node API's options are the command line's: each key names a row of the option table
// (cli/opttable.ts) by its long name in camelCase (`leaveRunning` is --leave-running), with a few
// renamed for the API (`pid` is -t, `logLevel` is -v, `detached` is -d, `sibling` is -S). They
// become an argument vector that goes through the CLI's own parser and refusals, so a value CRIU
// refuses, or an option criu-ts does not implement yet, fails here with the CLI's message before
// anything is touched. What the API passes on to the engines is read from that parse.
import { parseArgs, refuseUnsupported, one, flag, type Parsed, type Cmd } from '../cli/options.js';
import { byLong, type Opt } from '../cli/opttable.js';
import { CriuError, NotSupportedError } from '../errors.js';
import type { DumpOptions as EngineDump } from '../dump/dump.js';
import type { RestoreOptions as EngineRestore } from '../restore/restore.js';
import { dirsOf, checkOptions as checkCliOptions, resolveIn, dumpOptionsOf, restoreOptionsOf } from '../cli/commands.js';

/** A value an option takes: a flag's boolean, an argument, or a list option's arguments. */
export type OptionValue = boolean | number | string | readonly (string | number)[] | undefined;

/** API names that are not their option's long name in camelCase. */
const RENAMED: Record<string, string> = { pid: 'tree', logLevel: 'verbosity', detached: 'restore-detached', sibling: 'restore-sibling' };
/** keys that are the API's own, not options */
const OWN = new Set(['signal', 'onProgress']);

/** The options the API passes on, per command; any other option criu-ts acts on is refused here (the API would not pass it on). */
const HANDLED: Record<'dump' | 'restore' | 'check', readonly string[]> = {
  dump: [
    'tree',
    'images-dir',
    'work-dir',
    'log-file',
    'verbosity',
    'leave-running',
    'leave-stopped',
    'timeout',
    'freeze-cgroup',
    'ghost-limit',
    'display-stats',
    'link-remap',
    'evasive-devices',
    'external',
    'tcp-established',
    'tcp-close',
    'skip-in-flight',
    'network-lock',
    'file-locks',
    'ext-unix-sk',
    // set on the worker's thread from the command line (cli/commands.ts setModuleOptions)
    'manage-cgroups',
    'cgroup-root',
    'cgroup-dump-controller',
    'cgroup-yard',
    'cgroup-props',
    'cgroup-props-file',
    'ext-mount-map',
    'skip-mnt',
    'enable-external-sharing',
    'enable-external-masters',
  ],
  restore: [
    'images-dir',
    'work-dir',
    'log-file',
    'verbosity',
    'restore-detached',
    'restore-sibling',
    'pidfile',
    'display-stats',
    'skip-file-rwx-check',
    'tcp-established',
    'tcp-close',
    'file-locks',
    'ext-unix-sk',
    'external',
    'manage-cgroups',
    'cgroup-root',
    'cgroup-yard',
    'ext-mount-map',
    'root',
    'veth-pair',
    'mntns-compat-mode',
  ],
  check: ['images-dir', 'work-dir', 'log-file', 'verbosity', 'feature', 'all'],
};

const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function optionOf(key: string): Opt {
  const long = RENAMED[key] ?? kebab(key);
  const o = byLong.get(long);
  if (!o || key !== key.replace(/-/g, ''))
    throw new CriuError(`unknown option ${key}: criu has no --${long}`, 'name options by their long name in camelCase (leaveRunning for --leave-running)');
  return o;
}

/** One key and value as the command line says it. */
function argsOf(key: string, v: OptionValue): string[] {
  const o = optionOf(key);
  if (v === undefined) return [];
  if (o.arg === 'none') {
    if (typeof v !== 'boolean') throw new CriuError(`option ${key} (--${o.long}) takes true or false, not ${JSON.stringify(v)}`);
    if (v) return [`--${o.long}`];
    return o.bool?.no ? [`--no-${o.long}`] : [];
  }
  const vals = Array.isArray(v) ? (v as readonly (string | number)[]) : [v as string | number | boolean];
  if (Array.isArray(v) && !o.list) throw new CriuError(`option ${key} (--${o.long}) takes one value, not a list`);
  return vals.map((x) => {
    if (typeof x !== 'string' && typeof x !== 'number') throw new CriuError(`option ${key} (--${o.long}) takes a string or a number, not ${JSON.stringify(x)}`);
    return `--${o.long}=${x}`;
  });
}

export interface Prepared {
  p: Parsed;
  /** the command line the options are (`criu CMD ...` without the program) */
  argv: string[];
  imagesDir: string;
  workDir: string;
  /** the log file (resolved in the work dir), or undefined for stderr */
  logFile?: string;
  /** the debug lines the CLI writes to the log about options it ignores */
  notes: string[];
  warnings: string[];
}

/**
 * The options of one call parsed and checked as `criu CMD ...` would have them, with the
 * directories set up as the CLI sets them up.
 */
export function prepare(cmd: 'dump' | 'restore' | 'check', opts: object): Prepared {
  const argv: string[] = [cmd];
  for (const [k, v] of Object.entries(opts)) if (!OWN.has(k)) argv.push(...argsOf(k, v as OptionValue));
  const p = parseArgs(argv, { noConfig: true });
  const c = refuseUnsupported(p, cmd as Cmd);
  const notHandled = c.acts.find((o) => !HANDLED[cmd].includes(o.long));
  if (notHandled)
    throw new NotSupportedError(
      `--${notHandled.long} through the Node API`,
      `criu-ts acts on it on criu ${cmd}, the Node API does not pass it on yet; run the criu command`,
    );
  const { imagesDir, workDir } = dirsOf(p, cmd as Cmd);
  const lf = one(p, 'log-file');
  const logFile = lf && lf !== '-' ? resolveIn(workDir, lf) : undefined;
  checkCliOptions(p);
  return {
    p,
    argv,
    imagesDir,
    workDir,
    logFile,
    notes: c.ignored.map((i) => `--${i.name} is ignored by criu ${cmd}, as CRIU does (${i.why})`),
    warnings: c.ignored.flatMap((i) => (i.warn ? [i.warn] : [])),
  };
}

/** What the dump engine gets, as `criu dump` gives it. */
export function dumpOptions(pr: Prepared): EngineDump {
  return dumpOptionsOf(pr.p, pr.imagesDir, "dump({ pid, imagesDir }): the tree's root pid");
}

/** What the restore engine gets. The engine never waits for the root: the API does (see index.ts). */
export function restoreOptions(pr: Prepared): EngineRestore & { waitRoot: boolean } {
  return { ...restoreOptionsOf(pr.p, pr.imagesDir, pr.workDir), detached: true, waitRoot: !flag(pr.p, 'restore-detached') };
}

export function checkOptions(pr: Prepared): { feature?: string[]; all: boolean } {
  return { feature: pr.p.opts.get('feature'), all: flag(pr.p, 'all') };
}
