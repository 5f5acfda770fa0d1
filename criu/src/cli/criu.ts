// The `criu` command (started by native/launcher.c): CRIU's commands and options.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import {
  parseArgs,
  refuseUnsupported,
  classify,
  isSet,
  one,
  flag,
  atoi,
  parseSize,
  versionText,
  UsageError,
  ExitRequest,
  COMMANDS,
  type Parsed,
  type Classified,
  type Cmd,
} from './options.js';
import { IMPLEMENTED } from './opttable.js';
import { fullHelp, shortUsage } from './help.js';
import { CriuError, NotSupportedError, describe } from '../errors.js';
import { log } from '../log.js';
import { addScript, setScriptEnv, ScriptError } from '../notify.js';
import { setStatusFd } from '../status.js';

function resolveIn(dir: string, f: string): string {
  return path.isAbsolute(f) || f === '-' ? f : path.join(dir, f);
}

async function main(argv: string[]): Promise<number> {
  // the build's code-cache run (criu/bundle.mjs): load every command's code, then stop
  if (process.env.CRIU_CODE_CACHE_WARM === '1') {
    const [{ dump }, { restore }] = await Promise.all([import('../dump/dump.js'), import('../restore/restore.js'), import('../check.js')]);
    // and, given a directory to practise in, a real dump and restore of a sleeping child of
    // ours, so that the cache holds the code they run, compiled
    const dir = process.env.CRIU_CODE_CACHE_TRAIN;
    if (dir) await practise(dir, dump, restore);
    return 0;
  }
  try {
    return await run(argv);
  } catch (e) {
    if (e instanceof ExitRequest) {
      process.stdout.write(e.what === 'help' ? fullHelp() : versionText());
      return e.code;
    }
    if (e instanceof UsageError) {
      // CRIU: getopt's message (or CRIU's error), then the usage on stdout, exit code 1
      if (e.raw) process.stderr.write(`${e.raw}\n`);
      else fail(e);
      process.stdout.write(shortUsage());
      return 1;
    }
    throw e;
  }
}

function fail(e: unknown): void {
  const msg = describe(e);
  log.error(msg);
  if (log.toFile || log.level < 1) process.stderr.write(`criu: ${msg}\n`);
}

async function run(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stdout.write(shortUsage());
    return 1;
  }
  const p: Parsed = parseArgs(argv);
  log.level = p.logLevel;
  if (!p.command) throw new UsageError('command is required');
  if (p.command === 'cpuinfo') throw new UsageError(p.rest.length ? `unknown cpuinfo sub-command: ${p.rest[0]}` : 'cpuinfo requires an action: dump or check');
  if (!(COMMANDS as readonly string[]).includes(p.command)) throw new UsageError(`unknown command: ${p.command}`);
  const cmd = p.command as Cmd;
  const c = classify(p, cmd);
  const early = checkCommand(p, cmd, c);
  if (early !== undefined) return early;
  const dirs = setUp(p, cmd, c);
  return dispatch(p, cmd, dirs);
}

/**
 * What CRIU refuses before anything is touched: the command's arguments, CRIU's own refusals of
 * an option on this command, then the command, then the options we cannot honour yet. Returns
 * an exit code when the command ends here.
 */
function checkCommand(p: Parsed, cmd: Cmd, c: Classified): number | undefined {
  const word = cmd.split(' ')[0];
  if (cmd === 'swrk') {
    if (p.rest.length !== 1) {
      process.stderr.write('Usage: criu swrk <fd>\n');
      return 1;
    }
    throw new NotSupportedError('criu swrk', 'the RPC service of libcriu, go-criu and runc is not implemented');
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

interface Dirs {
  imagesDir: string;
  workDir: string;
}

/** The images and work directories, the log, and what the log says of ignored options. */
function setUp(p: Parsed, cmd: Cmd, c: Classified): Dirs {
  const imagesDir = path.resolve(one(p, 'images-dir') ?? '.');
  const workDir = path.resolve(one(p, 'work-dir') ?? imagesDir);
  if (cmd === 'dump') fs.mkdirSync(workDir, { recursive: true });
  else if (!fs.existsSync(imagesDir))
    throw new CriuError(cmd === 'restore' ? `images directory ${imagesDir} does not exist` : `Couldn't open image dir ${imagesDir}`);
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
  // check_options() of crtools.c, once the log is open
  if (flag(p, 'restore-sibling') && !flag(p, 'restore-detached') && !flag(p, 'daemon'))
    throw new CriuError('--restore-sibling only makes sense with --restore-detached');

  return { imagesDir, workDir };
}

/** The command itself. */
async function dispatch(p: Parsed, cmd: Cmd, { imagesDir, workDir }: Dirs): Promise<number> {
  switch (cmd) {
    case 'dump': {
      const t = one(p, 'tree');
      if (t === undefined) throw new CriuError('pid not specified', 'criu dump -t PID -D DIR');
      const { dump } = await import('../dump/dump.js');
      // CRIU takes --timeout with atoi(), and -R/-s set one final state: the last one given wins
      const timeout = one(p, 'timeout');
      const gl = one(p, 'ghost-limit');
      dump({
        pid: atoi(t),
        imagesDir,
        leaveRunning: flag(p, 'leave-running'),
        leaveStopped: flag(p, 'leave-stopped'),
        timeoutMs: timeout !== undefined ? atoi(timeout) * 1000 : 10_000,
        freezeCgroup: one(p, 'freeze-cgroup'),
        ghostLimit: gl !== undefined ? parseSize(gl) : undefined,
        fileLocks: isSet(p, 'file-locks'),
        displayStats: flag(p, 'display-stats'),
      });
      return 0;
    }
    case 'restore': {
      const { restore } = await import('../restore/restore.js');
      const pf = one(p, 'pidfile');
      return restore({
        imagesDir,
        workDir,
        detached: flag(p, 'restore-detached') || flag(p, 'daemon'),
        sibling: flag(p, 'restore-sibling'),
        pidfile: pf ? resolveIn(workDir, pf) : undefined,
        displayStats: flag(p, 'display-stats'),
        execCmd: isSet(p, 'exec-cmd') ? p.rest : undefined,
        fileLocks: isSet(p, 'file-locks'),
      });
    }
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

/** The build's practice run: `sleep` dumped with -R, dumped again (killed), restored, killed. */
async function practise(dir: string, dump: typeof import('../dump/dump.js').dump, restore: typeof import('../restore/restore.js').restore): Promise<void> {
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const { waitpid, tryKill } = await import('../sys/libc.js');
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const pid = child.pid!;
  let restored = false;
  try {
    await new Promise((r) => setTimeout(r, 50));
    dump({ pid, imagesDir: path.join(dir, 'r'), leaveRunning: true, leaveStopped: false });
    dump({ pid, imagesDir: path.join(dir, 'k'), leaveRunning: false, leaveStopped: false });
    waitpid(pid);
    restored = true;
    restore({ imagesDir: path.join(dir, 'k'), detached: true, sibling: false });
  } catch {
    /* the cache is still good */
  } finally {
    tryKill(pid, 9);
    if (restored) {
      try {
        waitpid(pid);
      } catch {
        /* not ours */
      }
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    log.close();
    // done: leave at once rather than wait for Node's teardown (stdout and stderr are
    // synchronous for files, pipes and terminals on Linux, nothing is left unwritten)
    process.exit(code);
  },
  (e: unknown) => {
    fail(e);
    if (process.env.CRIU_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    log.close();
    // a listener that said no: CRIU's code (255 for post-dump)
    process.exitCode = e instanceof ScriptError ? e.exitCode : 1;
  },
);
