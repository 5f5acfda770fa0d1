// CRIU's command line: the same commands, options and parsing (GNU getopt_long as CRIU calls it,
// with its permutation, abbreviations, optional arguments and error messages), the same
// configuration files, so that runc, podman and scripts that call `criu` keep working. What each
// option does on each command is the table in opttable.ts.
import { isFeatureName } from '../features.js';
import { NotSupportedError, CriuError, type ErrorDetails } from '../errors.js';
import { OPTS, byLong, verdict, CRIU_LONG_ORDER, COMMANDS as CRIU_COMMANDS, type Opt, type Cmd, type Verdict } from './opttable.js';
import { configSources } from './config.js';

export { OPTS, verdict, type Opt, type Cmd } from './opttable.js';
export const COMMANDS = CRIU_COMMANDS;

/** A command line CRIU refuses with its usage text after the message (exit code 1). */
export class UsageError extends CriuError {
  /** `raw`: getopt's own line, printed as is to stderr (else the message is logged as an error) */
  constructor(
    message: string,
    readonly raw?: string,
    more?: ErrorDetails,
  ) {
    super(message, more);
  }
}
/** --help or --version: print `out` to stdout and exit with `code`, as CRIU does at that point
 * (not a failure; a CriuError only so that everything thrown is of the one family). */
export class ExitRequest extends CriuError {
  constructor(
    readonly what: 'help' | 'version',
    readonly code = 0,
  ) {
    super(what);
  }
}

export const VERSION = '4.2';
// What `criu --version` prints. CRIU adds "GitID: %s" only for a git build (CRIU_GITID != "0");
// we print none: runc and go-criu's old parsers take any '-' in the output for a git version
// and then require "GitID: vX.Y", so an id of our own would break them.
export const versionText = (): string => `Version: ${VERSION}\n`;

interface LongName {
  name: string;
  opt: Opt;
  sense: boolean;
  hasArg: 0 | 1 | 2;
  ident: string;
}
const ARG = { none: 0, required: 1, optional: 2 } as const;
/** getopt_long's long_opts: every option, and the --no- form of each BOOL_OPT */
export const LONG_NAMES: LongName[] = OPTS.flatMap((o) => {
  const h = ARG[o.arg];
  // getopt_long calls two candidates of an abbreviation the same option when has_arg, flag and val agree
  const ident = (sense: boolean) => (o.bool ? `${h}|${o.bool.field}|${sense}` : `${h}|${o.long}`);
  const l: LongName[] = [{ name: o.long, opt: o, sense: true, hasArg: h, ident: ident(true) }];
  if (o.bool?.no) l.push({ name: `no-${o.long}`, opt: o, sense: false, hasArg: 0, ident: ident(false) });
  return l;
}).sort((a, b) => CRIU_LONG_ORDER.indexOf(a.name) - CRIU_LONG_ORDER.indexOf(b.name));
const SHORT = new Map(OPTS.filter((o) => o.short).map((o) => [o.short!, o]));

/** One option as getopt returned it, from the command line or a configuration file. */
export interface Occ {
  opt: Opt;
  name: string;
  short: boolean;
  value: string | null;
  sense: boolean;
  source: string;
}

/**
 * GNU getopt_long over one argument vector, in its default (permuting) mode: options and
 * operands may come in any order, `--` ends the options. Calls `take` for each option in order;
 * returns the operands. Errors are getopt's own messages.
 */
export function getopt(args: readonly string[], take: (o: Occ) => void, source = 'command line'): string[] {
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.length < 2 || a[0] !== '-') {
      operands.push(a);
      continue;
    }
    if (a[1] === '-') {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      let found = LONG_NAMES.find((l) => l.name === name);
      if (!found) {
        const cands = LONG_NAMES.filter((l) => l.name.startsWith(name));
        if (!cands.length) throw getoptError(`unrecognized option '--${body}'`);
        const differ = cands.filter((c) => c.ident !== cands[0].ident);
        if (differ.length) throw getoptError(`option '--${body}' is ambiguous; possibilities:${[cands[0], ...differ].map((c) => ` '--${c.name}'`).join('')}`);
        found = cands[0];
      }
      let value: string | null = null;
      if (eq >= 0) {
        if (found.hasArg === 0) throw getoptError(`option '--${found.name}' doesn't allow an argument`);
        value = body.slice(eq + 1);
      } else if (found.hasArg === 1) {
        if (i + 1 >= args.length) throw getoptError(`option '--${found.name}' requires an argument`);
        value = args[++i];
      }
      take({ opt: found.opt, name: found.name, short: false, value, sense: found.sense, source });
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      const o = SHORT.get(c);
      if (!o) throw getoptError(`invalid option -- '${c}'`);
      const tail = a.slice(j + 1);
      if (o.arg === 'none') {
        take({ opt: o, name: o.long, short: true, value: null, sense: true, source });
        continue;
      }
      let value: string | null = tail || null;
      if (o.arg === 'required' && !tail) {
        if (i + 1 >= args.length) throw getoptError(`option requires an argument -- '${c}'`);
        value = args[++i];
      }
      take({ opt: o, name: o.long, short: true, value, sense: true, source });
      break;
    }
  }
  return operands;
}

function getoptError(msg: string): UsageError {
  return new UsageError(msg, `criu: ${msg}`);
}

/** C's atoi: leading blanks, a sign, digits; 0 when there are none. */
export function atoi(s: string): number {
  const m = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(s);
  return m ? Math.trunc(Number(m[1])) | 0 : 0;
}

/** config.c parse_size: K, M or G anywhere in the text scales atol's number. */
export function parseSize(s: string): number {
  const m = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(s);
  const n = m ? Number(m[1]) : 0;
  if (s.includes('K')) return n * 1024;
  if (s.includes('M')) return n * 1024 * 1024;
  if (s.includes('G')) return n * 1024 * 1024 * 1024;
  return n;
}

const badArg = (o: Occ): CriuError => new CriuError(`invalid argument for ${o.short ? `-${o.opt.short}` : `--${o.name}`}: ${o.value}`);

/** The parse-time checks and effects of CRIU's parse_options switch, one option at a time. */
function checkValue(o: Occ, st: State): void {
  const v = o.value ?? '';
  switch (o.opt.long) {
    case 'help':
      throw new ExitRequest('help');
    case 'version':
      throw new ExitRequest('version');
    case 'ms':
      throw new CriuError('--ms is deprecated; see "Check options" of criu --help');
    case 'tree':
      if (atoi(v) <= 0) throw badArg(o);
      break;
    case 'port':
      if (atoi(v) === 0) throw badArg(o);
      break;
    case 'veth-pair':
      if (!v.includes('=')) throw badArg(o);
      break;
    case 'ext-mount-map':
      if (v !== 'auto' && !v.includes(':')) throw badArg(o);
      break;
    case 'join-ns':
      if (!v.includes(':')) throw badArg(o);
      break;
    case 'ext-unix-sk':
      if (o.value !== null) {
        for (let s = o.value; s;) {
          if (s[0] === ',') {
            s = s.slice(1);
            continue;
          }
          const m = /^\s*[+-]?\d+/.exec(s);
          if (!m || Number(m[0]) === 0) throw new CriuError(`Can't parse unix socket inode from optarg: ${o.value}`);
          s = s.slice(m[0].length);
        }
      }
      break;
    case 'feature':
      // check_add_feature(): an unknown name fails every command (our runner may list several)
      for (const n of v.split(',')) if (!isFeatureName(n)) throw new CriuError(`Unknown feature ${n}`);
      break;
    case 'cpu-cap':
      cpuCap(o.value);
      break;
    case 'manage-cgroups':
      if (o.value !== null && !['none', 'props', 'soft', 'full', 'strict', 'ignore'].includes(v)) throw new UsageError(`Unknown cgroups mode \`${v}' selected`);
      break;
    case 'file-validation':
      if (!['filesize', 'buildid'].includes(v)) throw new UsageError(`Unknown file validation method \`${v}' selected`);
      break;
    case 'pre-dump-mode':
      if (v !== 'read' && v !== 'splice') throw new CriuError('Unable to parse value of --pre-dump-mode');
      break;
    case 'network-lock':
      if (!['iptables', 'nftables', 'skip', 'none'].includes(v)) throw new CriuError(`Invalid value for --network-lock: ${v}`);
      break;
    case 'status-fd':
      if (!/^\s*[+-]?\d/.test(v)) throw new CriuError('Unable to parse a value of --status-fd');
      break;
    case 'empty-ns':
      if (v !== 'net') throw new CriuError(`Unsupported empty namespace: ${v}`);
      break;
    case 'verbosity':
      // -v, -vvv (optarg "vv"), -v4, --verbosity, --verbosity=4
      if (o.value === null) st.level++;
      else if (o.value[0] === 'v') st.level += o.value.length + 1;
      else st.level = atoi(o.value);
      break;
  }
}

/** config.c parse_cpu_cap: a comma list of cpu, fpu, all, ins, none, each possibly negated with ^. */
function cpuCap(arg: string | null): void {
  if (arg === null) return;
  for (let s = arg; s;) {
    if (s[0] === '^' || s[0] === ',') {
      s = s.slice(1);
      continue;
    }
    const w = ['fpu', 'all', 'none', 'cpu', 'ins'].find((x) => s.startsWith(x));
    if (!w) throw new UsageError(`Unknown FPU mode \`${s}' selected`);
    s = s.slice(w.length);
  }
}

interface State {
  level: number;
}

export interface Parsed {
  /** the first operand, as CRIU takes argv[optind] ('' when there is none); "cpuinfo dump" and "cpuinfo check" are one command */
  command: string;
  /** the operands after the command */
  rest: string[];
  /** every option in the order CRIU applies them: default files, CRIU_CONFIG_FILE, --config, the command line */
  occ: Occ[];
  /** the options in effect by long name: their values in order ('' for flags); -v as the running level */
  opts: Map<string, string[]>;
  /** CRIU's log level after every -v */
  logLevel: number;
  /** the configuration files read, in order */
  configFiles: string[];
}

export interface ParseEnv {
  env?: NodeJS.ProcessEnv;
  /** the global configuration file, /etc/criu/default.conf unless told (tests) */
  globalConfig?: string;
  /** the argument vector only, no configuration file (the Node API, as libcriu's requests) */
  noConfig?: boolean;
}

export const DEFAULT_GLOBAL_CONFIG = '/etc/criu/default.conf';

/**
 * CRIU's parse_options: the configuration files then the command line, each through getopt_long,
 * every option checked as CRIU checks it when it meets it. Throws UsageError, CriuError or
 * ExitRequest (--help, --version) as CRIU would stop.
 */
export function parseArgs(argv: readonly string[], penv: ParseEnv = {}): Parsed {
  const env = penv.env ?? process.env;
  // pre_parse: --help or -h anywhere wins over everything, even a broken configuration file
  if (argv.some((a) => a === '--help' || a === '-h')) throw new ExitRequest('help');
  const st: State = { level: 2 };
  const occ: Occ[] = [];
  const configFiles: string[] = [];
  let operands: string[] = [];
  const take = (o: Occ) => {
    checkValue(o, st);
    occ.push(o);
  };
  const sources = penv.noConfig
    ? [{ kind: 'argv' as const }]
    : configSources(argv, { env, globalConfig: penv.globalConfig ?? env.CRIU_TS_GLOBAL_CONFIG ?? DEFAULT_GLOBAL_CONFIG, home: env.HOME });
  for (const src of sources) {
    if (src.kind === 'argv') {
      operands = getopt(argv, take);
      continue;
    }
    const tokens = src.read();
    if (!tokens) continue;
    configFiles.push(src.file);
    // getopt over the file's words; words that are not options are skipped, as CRIU skips them
    getopt(tokens, take, src.file);
  }
  let command = operands[0] ?? '';
  let rest = operands.slice(1);
  if (command === 'cpuinfo' && (rest[0] === 'dump' || rest[0] === 'check')) {
    command = `cpuinfo ${rest[0]}`;
    rest = rest.slice(1);
  }
  return { command, rest, occ, opts: effectiveMap(occ, st), logLevel: st.level, configFiles };
}

/** The value of each CRIU opts field after every occurrence (last one wins). */
function fields(occ: Occ[]): Map<string, { on: boolean; by: Occ }> {
  const f = new Map<string, { on: boolean; by: Occ }>();
  for (const o of occ) {
    if (o.opt.bool) f.set(o.opt.bool.field, { on: o.sense, by: o });
    else if (o.opt.long === 'leave-running' || o.opt.long === 'leave-stopped') f.set('final_state', { on: true, by: o });
    else if (o.opt.long === 'all') {
      f.set('check_extra_features', { on: true, by: o });
      f.set('check_experimental_features', { on: true, by: o });
    }
  }
  return f;
}

/** Is this option in effect (a boolean away from its default, a flag or value given)? */
export function isSet(p: Pick<Parsed, 'occ'>, long: string): boolean {
  return setName(p, long) !== null;
}

/** The name it is in effect under (`no-ghost-fiemap` …), or null. */
function setName(p: Pick<Parsed, 'occ'>, long: string): string | null {
  const o = byLong.get(long);
  if (!o) return null;
  const f = fields(p.occ);
  if (o.bool) {
    const v = f.get(o.bool.field);
    if (!v || v.on === o.bool.def) return null;
    if (v.by.opt !== o && v.by.opt.long !== 'all') return null; // --daemon and --restore-detached share the field: the last one names it
    if (long === 'extra' || long === 'experimental') {
      // --extra with --experimental is --all
      if (f.get('check_extra_features')?.on && f.get('check_experimental_features')?.on) return null;
      return long;
    }
    return v.on ? long : `no-${long}`;
  }
  if (long === 'leave-running' || long === 'leave-stopped') return f.get('final_state')?.by.opt === o ? long : null;
  if (long === 'all') return f.get('check_extra_features')?.on && f.get('check_experimental_features')?.on ? 'all' : null;
  return p.occ.some((x) => x.opt === o) ? long : null;
}

function effectiveMap(occ: Occ[], st: State): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const level = { level: 2 };
  for (const o of occ) {
    if (o.opt.bool || ['leave-running', 'leave-stopped', 'all'].includes(o.opt.long)) continue;
    let v = o.value ?? '';
    if (o.opt.long === 'verbosity') {
      checkValue(o, level);
      v = String(level.level);
    }
    m.set(o.opt.long, [...(m.get(o.opt.long) ?? []), v]);
  }
  for (const o of OPTS) if ((o.bool || ['leave-running', 'leave-stopped', 'all'].includes(o.long)) && setName({ occ }, o.long) === o.long) m.set(o.long, ['']);
  void st;
  return m;
}

export interface Classified {
  acts: Opt[];
  ignored: { opt: Opt; name: string; why: string; warn?: string }[];
  refused: { opt: Opt; name: string }[];
  rejects: { opt: Opt; name: string; msg: string; usage: boolean }[];
}

/** Sort the options in effect on this command by what the table says. */
export function classify(p: Pick<Parsed, 'occ'>, cmd: Cmd): Classified {
  const c: Classified = { acts: [], ignored: [], refused: [], rejects: [] };
  const set = (l: string) => isSet(p, l);
  for (const o of OPTS) {
    const name = setName(p, o.long);
    if (!name) continue;
    const v: Verdict = verdict(o, cmd, set);
    if (v.kind === 'acts') c.acts.push(o);
    else if (v.kind === 'refused') c.refused.push({ opt: o, name });
    else if (v.kind === 'ignored') c.ignored.push({ opt: o, name, why: v.why, warn: v.warn });
    else c.rejects.push({ opt: o, name, msg: v.msg, usage: v.usage });
  }
  return c;
}

/** CRIU's refusals of an option on this command (its own messages), then ours: before anything is touched. */
export function refuseUnsupported(p: Pick<Parsed, 'occ' | 'command'>, cmd = p.command as Cmd): Classified {
  const c = classify(p, cmd);
  const r = c.rejects[0];
  if (r) throw r.usage ? new UsageError(r.msg) : new CriuError(r.msg);
  const n = c.refused[0];
  if (n) {
    const others = c.refused.slice(1).map((x) => `--${x.name}`);
    throw new NotSupportedError(
      `--${n.name}`,
      `criu-ts does not implement it on criu ${cmd} yet; CRIU acts on it in ${n.opt.where}${others.length ? `; not supported either: ${others.join(' ')}` : ''}`,
    );
  }
  return c;
}

/** the last value of a value option */
export const one = (p: Parsed, k: string): string | undefined => p.opts.get(k)?.at(-1);
/** every value of a repeatable option, in CRIU's order */
export const all = (p: Parsed, k: string): string[] => p.opts.get(k) ?? [];
/** an option in effect (a flag given, a boolean on) */
export const flag = (p: Parsed, k: string): boolean => p.opts.has(k);
