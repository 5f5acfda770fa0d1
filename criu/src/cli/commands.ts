// What the command line and the RPC (swrk, service) share: the checks CRIU makes of a command
// and its options before anything is touched, the set-up of the images dir, work dir and log,
// and the command itself. Both build a Parsed (the RPC from criu_opts, rpc-opts.ts) and call these.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { refuseUnsupported, isSet, one, flag, atoi, parseSize, UsageError, type Parsed, type Classified, type Cmd } from './options.js';
import { IMPLEMENTED } from './opttable.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { addScript, setScriptEnv } from '../notify.js';
import { setStatusFd } from '../status.js';
import { parseInheritFd } from '../files/inherit.js';
import type { DumpOptions } from '../dump/dump.js';
import type { RestoreOptions } from '../restore/restore.js';
import { parseExternals } from '../files/external.js';
import { setMntOptions } from '../ns/mnt-opts.js';
import { parseCgroupProps, setCgroupProps } from '../cgroup/props.js';
import { setCgroupOptions } from '../cgroup/opts.js';
import { setVethPeers } from '../ns/index.js';

export function resolveIn(dir: string, f: string): string {
  return path.isAbsolute(f) || f === '-' ? f : path.join(dir, f);
}

/**
 * What CRIU refuses before anything is touched: the command's arguments, CRIU's own refusals of
 * an option on this command, then the command, then the options we cannot honour yet. Returns
 * an exit code when the command ends here.
 */
export function checkCommand(p: Parsed, cmd: Cmd, c: Classified): number | undefined {
  const word = cmd.split(' ')[0];
  if (cmd === 'swrk') {
    if (p.rest.length !== 1) {
      process.stderr.write('Usage: criu swrk <fd>\n');
      return 1;
    }
    // crtools.c: swrk serves at once; the command line's options would be every request's defaults
    refuseUnsupported(p, cmd);
    return undefined;
  }
  if (isSet(p, 'exec-cmd')) {
    if (!p.rest.length) throw new UsageError('--exec-cmd requires a command');
    if (cmd !== 'restore') throw new UsageError('--exec-cmd is available for the restore command only');
    if (flag(p, 'restore-detached') || flag(p, 'daemon')) throw new UsageError('--restore-detached and --exec-cmd cannot be used together');
  } else if (p.rest.length) throw new UsageError(`excessive parameter${p.rest.length > 1 ? 's' : ''} for command ${word}`);

  if (c.rejects.length) refuseUnsupported(p, cmd);
  if (!IMPLEMENTED.includes(cmd)) throw new NotSupportedError(`criu ${cmd}`);
  refuseUnsupported(p, cmd);
  return undefined;
}

export interface Dirs {
  imagesDir: string;
  workDir: string;
}

/** The images and work directories as crtools.c sets them up: a dump makes the work dir, the others need the images dir. */
export function dirsOf(p: Parsed, cmd: Cmd): Dirs {
  const imagesDir = path.resolve(one(p, 'images-dir') ?? '.');
  const workDir = path.resolve(one(p, 'work-dir') ?? imagesDir);
  if (cmd === 'dump') fs.mkdirSync(workDir, { recursive: true });
  else if (!fs.existsSync(imagesDir))
    throw new CriuError(cmd === 'restore' ? `images directory ${imagesDir} does not exist` : `Couldn't open image dir ${imagesDir}`);
  return { imagesDir, workDir };
}

/** check_options() of crtools.c, once the log is open. */
export function checkOptions(p: Parsed): void {
  if (flag(p, 'restore-sibling') && !flag(p, 'restore-detached') && !flag(p, 'daemon'))
    throw new CriuError('--restore-sibling only makes sense with --restore-detached');
}

/** The images and work directories, the log, and what the log says of ignored options. */
export function setUp(p: Parsed, cmd: Cmd, c: Classified): Dirs {
  const { imagesDir, workDir } = dirsOf(p, cmd);
  const logFile = one(p, 'log-file');
  if (logFile) log.setFile(resolveIn(workDir, logFile));
  for (const f of p.configFiles) log.debug(`Parsing config file ${f}`);
  for (const i of c.ignored) {
    if (i.warn) log.warn(i.warn);
    log.debug(`--${i.name} is ignored by criu ${cmd}, as CRIU does (${i.why})`);
  }
  // the listeners of the notifications (action-scripts.c add_script; scripts run in the work
  // dir, CRIU's cwd) and --status-fd (checked by the parser, read with sscanf("%d"))
  for (const f of p.opts.get('action-script') ?? []) addScript(f);
  setScriptEnv({ workDir });
  const sfd = one(p, 'status-fd');
  if (sfd !== undefined) setStatusFd(parseInt(sfd, 10));
  checkOptions(p);
  return { imagesDir, workDir };
}

/** The command itself. */
export async function dispatch(p: Parsed, cmd: Cmd, { imagesDir, workDir }: Dirs): Promise<number> {
  switch (cmd) {
    case 'dump':
      return runDump(p, imagesDir);
    case 'restore':
      return runRestore(p, imagesDir, workDir);
    case 'check': {
      const { check } = await import('../check.js');
      return check({ feature: p.opts.get('feature'), all: flag(p, 'all') });
    }
    case 'exec':
      log.error('The "exec" action is deprecated by the Compel library.');
      return 255;
    case 'show':
      log.error('The "show" action is deprecated by the CRIT utility.');
      log.error('To view an image use the "crit decode -i $name --pretty" command.');
      return 255;
  }
  return 1;
}

/**
 * What the dump engine gets of the options, as `criu dump` gives it (the Node API gives the same);
 * `usage` is the hint when -t is missing.
 */
export function dumpOptionsOf(p: Parsed, imagesDir: string, usage = 'criu dump -t PID -D DIR'): DumpOptions {
  const t = one(p, 'tree');
  if (t === undefined) throw new CriuError('pid not specified', usage);
  // CRIU takes --timeout with atoi(), and -R/-s set one final state: the last one given wins
  const timeout = one(p, 'timeout');
  const gl = one(p, 'ghost-limit');
  setModuleOptions(p);
  return {
    pid: atoi(t),
    imagesDir,
    workDir: path.resolve(one(p, 'work-dir') ?? imagesDir),
    leaveRunning: flag(p, 'leave-running'),
    leaveStopped: flag(p, 'leave-stopped'),
    timeoutMs: timeout !== undefined ? atoi(timeout) * 1000 : 10_000,
    freezeCgroup: one(p, 'freeze-cgroup'),
    ghostLimit: gl !== undefined ? parseSize(gl) : undefined,
    displayStats: flag(p, 'display-stats'),
    tcpEstablished: flag(p, 'tcp-established'),
    tcpClose: flag(p, 'tcp-close'),
    networkLock: networkLockOf(one(p, 'network-lock')),
    skipInFlight: flag(p, 'skip-in-flight'),
    fileLocks: isSet(p, 'file-locks'),
    shellJob: flag(p, 'shell-job'),
    externals: parseExternals(p.opts.get('external') ?? [], p.opts.get('ext-unix-sk')),
    linkRemap: isSet(p, 'link-remap'),
    evasiveDevices: isSet(p, 'evasive-devices'),
    external: p.opts.get('external') ?? [],
    emptyNs: p.opts.get('empty-ns') ?? [],
  };
}

/** What the restore engine gets of the options, as `criu restore` gives it. */
export function restoreOptionsOf(p: Parsed, imagesDir: string, workDir: string): RestoreOptions {
  const pf = one(p, 'pidfile');
  setModuleOptions(p);
  const inherit = (p.opts.get('inherit-fd') ?? []).map(parseInheritFd).filter((x) => x !== null); // once: debug[] writes
  return {
    imagesDir,
    workDir,
    detached: flag(p, 'restore-detached') || flag(p, 'daemon'),
    sibling: flag(p, 'restore-sibling'),
    pidfile: pf ? resolveIn(workDir, pf) : undefined,
    displayStats: flag(p, 'display-stats'),
    execCmd: isSet(p, 'exec-cmd') ? p.rest : undefined,
    fileLocks: isSet(p, 'file-locks'),
    tcpEstablished: flag(p, 'tcp-established'),
    tcpClose: flag(p, 'tcp-close'),
    shellJob: flag(p, 'shell-job'),
    inheritFds: inherit,
    externals: parseExternals(p.opts.get('external') ?? [], p.opts.get('ext-unix-sk')),
    skipFileRwxCheck: isSet(p, 'skip-file-rwx-check'),
    ns: {
      emptyNs: p.opts.get('empty-ns') ?? [],
      joinNs: p.opts.get('join-ns') ?? [],
      inherit,
    },
  };
}

/**
 * The options the engines keep in module state (cgroup/, ns/mnt-opts.ts, the links' outside
 * names), set for this dump or restore; the Node API's worker sets them again on its thread.
 */
export function setModuleOptions(p: Parsed): void {
  setCgroupOptions({
    manage: p.opts.has('manage-cgroups') ? (one(p, 'manage-cgroups') ?? 'soft') : undefined,
    roots: p.opts.get('cgroup-root'),
    dumpControllers: p.opts.get('cgroup-dump-controller'),
    yard: one(p, 'cgroup-yard'),
  });
  const props = one(p, 'cgroup-props');
  const propsFile = one(p, 'cgroup-props-file');
  let fileText = '';
  if (propsFile !== undefined) {
    try {
      fileText = fs.readFileSync(propsFile, 'utf8');
    } catch (e) {
      throw new CriuError(`Can't open --cgroup-props-file ${propsFile}: ${(e as Error).message}`);
    }
  }
  setCgroupProps([
    ...(props !== undefined ? parseCgroupProps(props, '--cgroup-props') : []),
    ...(propsFile !== undefined ? parseCgroupProps(fileText, `--cgroup-props-file ${propsFile}`) : []),
  ]);
  setVethPeers(p.opts.get('external') ?? [], p.opts.get('veth-pair') ?? []);
  setMntOptions({
    external: p.opts.get('external'),
    extMountMap: p.opts.get('ext-mount-map'),
    root: one(p, 'root'),
    skip: p.opts.get('skip-mnt'),
    sharing: flag(p, 'enable-external-sharing'),
    masters: flag(p, 'enable-external-masters'),
  });
}

/** --network-lock: CRIU takes "none" for "skip" */
function networkLockOf(v: string | undefined): 'iptables' | 'nftables' | 'skip' | undefined {
  return v === undefined ? undefined : v === 'none' ? 'skip' : (v as 'iptables' | 'nftables' | 'skip');
}

/** `criu dump`: the plugins loaded first (init), their exit(ret) at the end, also when the dump fails. */
async function runDump(p: Parsed, imagesDir: string): Promise<number> {
  const o = dumpOptionsOf(p, imagesDir);
  const [{ dump }, { startPlugins, stopPlugins }] = await Promise.all([import('../dump/dump.js'), import('../plugins/calls.js')]);
  const plugins = await startPlugins({
    stage: 0 /* dump */,
    libdir: one(p, 'libdir'),
    imagesDir,
    timeoutS: o.timeoutMs! / 1000,
    leaveRunning: o.leaveRunning,
  });
  let ret = -1;
  try {
    dump(o);
    ret = 0;
  } finally {
    stopPlugins(plugins, ret);
  }
  return 0;
}

/** `criu restore`: the inventory read and the plugins loaded first (a missing required plugin stops it before anything is made). */
async function runRestore(p: Parsed, imagesDir: string, workDir: string): Promise<number> {
  const o = restoreOptionsOf(p, imagesDir, workDir);
  const [{ restore }, { startPlugins, stopPlugins }] = await Promise.all([import('../restore/restore.js'), import('../plugins/calls.js')]);
  const plugins = await startPlugins({ stage: 2 /* restore */, libdir: one(p, 'libdir'), imagesDir });
  let ok = false;
  try {
    const code = restore(o);
    ok = true;
    return code;
  } finally {
    stopPlugins(plugins, ok ? 0 : -1);
  }
}
