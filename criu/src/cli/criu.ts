// The `criu` command (started by native/launcher.c): CRIU's commands and options.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs, refuseUnsupported, one, flag, COMMANDS, type Parsed } from './options.js';
import { CriuError, NotSupportedError, describe } from '../errors.js';
import { log } from '../log.js';

const USAGE = `Usage:
  criu dump|pre-dump -t PID [<options>]
  criu restore [<options>]
  criu check [--feature FEAT] [--all]
  criu page-server | lazy-pages | service | swrk   (not supported yet)

Commands:
  dump           checkpoint a process tree identified by PID
  restore        restore a process tree from images
  check          checks whether the kernel supports the features the tool needs

Dump/Restore options:
  -t|--tree PID         checkpoint the process tree rooted at PID
  -D|--images-dir DIR   directory for image files (default: .)
  -W|--work-dir DIR     directory for logs and pidfiles (default: the images dir)
  -R|--leave-running    leave the tree running after the dump
  -s|--leave-stopped    leave the tree stopped (SIGSTOP) after the dump
  --timeout N           give up freezing the tree after N seconds (default 10)
  --freeze-cgroup DIR   freeze this freezer cgroup (v1 or v2) while the tree is seized
  -d|--restore-detached detach from the restored tree (do not wait for its root)
  -S|--restore-sibling  restore the root task as a sibling (child of the caller)
  --pidfile FILE        write the restored root's PID to FILE (relative to -W)
  --display-stats       print the dump's or restore's statistics (stats-dump, stats-restore)
  -o|--log-file FILE    log to FILE (relative to -W), '-' for stderr
  -v[v...]|-vN          verbosity 0..4 (default 2)
  --no-default-config   do not read configuration files (none are read anyway)

Other CRIU options are recognised and refused with "not supported yet: --OPTION".
`;

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
  let p: Parsed;
  p = parseArgs(argv);
  if (flag(p, 'help') || (!p.command && !flag(p, 'version'))) {
    process.stdout.write(USAGE);
    return p.command || flag(p, 'help') ? 0 : 1;
  }
  if (flag(p, 'version')) {
    process.stdout.write('Version: 4.2 (criu-ts 0.1.0)\n');
    return 0;
  }
  if (!(COMMANDS as readonly string[]).includes(p.command)) throw new CriuError(`unknown command ${p.command}`, 'see criu --help');
  if (!['dump', 'restore', 'check'].includes(p.command)) throw new NotSupportedError(`criu ${p.command}`);
  refuseUnsupported(p);

  const imagesDir = path.resolve(one(p, 'images-dir') ?? '.');
  const workDir = path.resolve(one(p, 'work-dir') ?? imagesDir);
  const v = one(p, 'verbosity');
  log.level = v !== undefined ? Number(v) : 2;
  if (p.command === 'dump') fs.mkdirSync(workDir, { recursive: true });
  const logFile = one(p, 'log-file');
  if (logFile) log.setFile(resolveIn(workDir, logFile));

  switch (p.command) {
    case 'dump': {
      const t = one(p, 'tree');
      if (!t || !/^\d+$/.test(t)) throw new CriuError('dump needs -t PID', 'criu dump -t PID -D DIR');
      const { dump } = await import('../dump/dump.js');
      const timeout = one(p, 'timeout');
      if (timeout !== undefined && !/^\d+$/.test(timeout)) throw new CriuError(`--timeout takes whole seconds, not ${timeout}`);
      if (flag(p, 'leave-running') && flag(p, 'leave-stopped')) throw new CriuError('--leave-running and --leave-stopped exclude each other');
      dump({
        pid: Number(t), imagesDir, leaveRunning: flag(p, 'leave-running'), leaveStopped: flag(p, 'leave-stopped'),
        timeoutMs: timeout !== undefined ? Number(timeout) * 1000 : 10_000, freezeCgroup: one(p, 'freeze-cgroup'),
        displayStats: flag(p, 'display-stats'),
      });
      return 0;
    }
    case 'restore': {
      if (!fs.existsSync(imagesDir)) throw new CriuError(`images directory ${imagesDir} does not exist`);
      const { restore } = await import('../restore/restore.js');
      const pf = one(p, 'pidfile');
      return restore({
        imagesDir, workDir, detached: flag(p, 'restore-detached') || flag(p, 'restore-sibling'), sibling: flag(p, 'restore-sibling'),
        pidfile: pf ? resolveIn(workDir, pf) : undefined, displayStats: flag(p, 'display-stats'),
      });
    }
    case 'check': {
      const { check } = await import('../check.js');
      return check({ feature: p.opts.get('feature'), all: flag(p, 'all') });
    }
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
  } catch { /* the cache is still good */ } finally {
    tryKill(pid, 9);
    if (restored) { try { waitpid(pid); } catch { /* not ours */ } }
  }
}

main(process.argv.slice(2)).then((code) => {
  log.close();
  // done: leave at once rather than wait for Node's teardown (stdout and stderr are
  // synchronous for files, pipes and terminals on Linux, nothing is left unwritten)
  process.exit(code);
}, (e: unknown) => {
  const msg = describe(e);
  log.error(msg);
  if (log.toFile || log.level < 1) process.stderr.write(`criu: ${msg}\n`);
  if (process.env.CRIU_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  log.close();
  process.exitCode = 1;
});
