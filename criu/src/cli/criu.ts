// The `criu` command (started by native/launcher.c): CRIU's commands and options.
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs, classify, atoi, versionText, UsageError, ExitRequest, COMMANDS, type Parsed, type Cmd } from './options.js';
import { fullHelp, shortUsage } from './help.js';
import { checkCommand, setUp, dispatch } from './commands.js';
import { describe } from '../errors.js';
import { log } from '../log.js';
import { ScriptError } from '../notify.js';
import { buildingSnapshot, setCommandArgs } from '../snapshot.js';
import * as v8 from 'node:v8';

/** the modules the commands load on demand: the code cache and the snapshot hold them loaded */
const LAZY = [
  () => import('../dump/dump.js'),
  () => import('../restore/restore.js'),
  () => import('../check.js'),
  () => import('../plugins/calls.js'),
  () => import('./rpc.js'),
  () => import('./service.js'),
];

declare const __criu_bundle_url: string | undefined;

async function main(argv: string[]): Promise<number> {
  // the build's code-cache run (criu/bundle.mjs): load every command's code, then stop
  if (process.env.CRIU_CODE_CACHE_WARM === '1') {
    await Promise.all(LAZY.map((load) => load()));
    // and, given a directory to practise in, a real dump and restore of a sleeping child of
    // ours, so that the cache holds the code they run, compiled
    const dir = process.env.CRIU_CODE_CACHE_TRAIN;
    if (dir) await practise(dir);
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
  if (cmd === 'swrk') {
    const { serveRpc } = await import('./rpc.js');
    return serveRpc(atoi(p.rest[0]), process.env.CRIU_TS_SERVICE_WORKER === '1');
  }
  const dirs = setUp(p, cmd, c);
  if (log.level >= 4) log.debug(`the tool started from ${startedFrom()}`);
  if (cmd === 'service') {
    const { service } = await import('./service.js');
    return service(p, dirs);
  }
  return dispatch(p, cmd, dirs);
}

/** The build's practice run: `sleep` dumped with -R, dumped again (killed), restored, killed. */
async function practise(dir: string): Promise<void> {
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const { waitpid, tryKill } = await import('../sys/libc.js');
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  const pid = child.pid!;
  let restored = false;
  // through the commands' own dispatch, so that what runs around the engines (the plugins, the
  // notifications) is compiled into the cache too
  const run = (cmd: 'dump' | 'restore', args: string[], imagesDir: string): Promise<number> =>
    dispatch(parseArgs([cmd, ...args, '-D', imagesDir], { noConfig: true }), cmd, { imagesDir, workDir: imagesDir });
  try {
    await new Promise((r) => setTimeout(r, 50));
    await run('dump', ['-t', String(pid), '-R'], path.join(dir, 'r'));
    await run('dump', ['-t', String(pid)], path.join(dir, 'k'));
    waitpid(pid);
    restored = true;
    await run('restore', ['-d'], path.join(dir, 'k'));
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

/** how this process got its code: from the snapshot, the bundle or the modules (criu-boot.cjs) */
function startedFrom(): string {
  if (process.execArgv.includes('--snapshot-blob')) return 'the start-up snapshot';
  return typeof __criu_bundle_url === 'undefined' ? 'the modules' : 'the bundle';
}

/** runs the command in argv (the user's arguments) and exits with its status */
function start(argv: string[]): void {
  setCommandArgs(argv);
  main(argv).then(
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
}

if (buildingSnapshot()) {
  // the start-up snapshot (criu/bundle.mjs): every command's code is loaded now, and a process
  // started from the snapshot runs the command (its argv has no script: node, then the arguments)
  void Promise.all(LAZY.map((load) => load()));
  v8.startupSnapshot.setDeserializeMainFunction(() => start(process.argv.slice(1)));
} else {
  start(process.argv.slice(2));
}
