// `criu service`: CRIU's RPC server (cr-service.c cr_service). A SOCK_SEQPACKET socket at
// --address (CRIU's ./criu_service.socket by default, mode 0666), or the one systemd hands over
// (socket activation: LISTEN_FDS, LISTEN_PID, the socket at fd 3); each connection is served by
// a worker of its own, `criu swrk 3` with the accepted socket as its fd 3, as CRIU forks one, so
// that no request, however bad, can take the service down. -d runs it in the background once
// the socket listens; --pidfile names the serving process; --status-fd is told when it is ready.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { listenSeqpacket, acceptAsync } from '../sys/sock.js';
import { close, writeFd, pipe2, readFd } from '../sys/libc.js';
import { launcherBin } from '../paths.js';
import { commandArgs } from '../snapshot.js';
import { CriuError, describe } from '../errors.js';
import { log } from '../log.js';
import { statusReady } from '../status.js';
import { one, flag, type Parsed } from './options.js';
import { resolveIn, type Dirs } from './commands.js';

export const DEFAULT_ADDRESS = './criu_service.socket';
/** set in the background copy of `criu service -d`: the socket is fd 3, readiness goes to fd 4 */
const DAEMON_ENV = 'CRIU_TS_SERVICE_DAEMON';

/** sd_listen_fds(1): the socket systemd passed as fd 3, if it passed one to this process. */
function activated(): number | null {
  const n = Number(process.env.LISTEN_FDS ?? 0);
  const pid = Number(process.env.LISTEN_PID ?? 0);
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  // LISTEN_PID names the process systemd started: our launcher (native/launcher.c), whose child we are
  if (n < 1 || (pid !== process.pid && pid !== process.ppid)) return null;
  if (n > 1) log.warn(`${n} sockets passed by the service manager: criu serves the first (fd 3)`);
  return 3;
}

function listen(p: Parsed, dirs: Dirs): number {
  if (process.env[DAEMON_ENV] === '1') return 3;
  const fd = activated();
  if (fd !== null) {
    log.info('The service socket was passed by the service manager (fd 3)');
    return fd;
  }
  const addr = resolveIn(dirs.workDir, one(p, 'address') ?? DEFAULT_ADDRESS);
  if (one(p, 'address') === undefined) log.warn('Binding to local dir address!');
  fs.rmSync(addr, { force: true });
  const sk = listenSeqpacket(addr);
  fs.chmodSync(addr, 0o666); // anyone may connect: the workers check who asks
  log.info(`The service socket is bound to ${addr}`);
  return sk;
}

/** status_ready() (status.ts): the status-ready notification, then a \0 on --status-fd (set up by setUp), closed. */
function ready(): void {
  if (statusReady() !== 0) throw new CriuError('the service could not say it is ready (a status-ready action script or the --status-fd write failed)');
}

/** -d: the same command in the background (a session of its own, stdio on /dev/null), given the socket; returns once it serves. */
function daemonize(sk: number): number {
  const [r, w] = pipe2(0o2000000);
  const child = spawn(launcherBin, commandArgs(), {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', sk, w],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  close(w);
  child.unref();
  const b = Buffer.alloc(1);
  const n = readFd(r, b);
  close(r);
  if (n !== 1) throw new CriuError("Can't run service server in the background: it exited before serving", 'run it without -d to see why');
  return child.pid ?? -1;
}

export async function service(p: Parsed, dirs: Dirs): Promise<number> {
  const sk = listen(p, dirs);
  const background = process.env[DAEMON_ENV] === '1';
  if (!background && (flag(p, 'restore-detached') || flag(p, 'daemon'))) {
    daemonize(sk);
    close(sk);
    ready();
    return 0;
  }
  const pf = one(p, 'pidfile');
  if (pf) fs.writeFileSync(resolveIn(dirs.workDir, pf), `${process.pid}\n`);
  if (background) {
    delete process.env[DAEMON_ENV];
    writeFd(4, Buffer.from([1]));
    close(4);
  } else ready();
  for (;;) {
    log.info('Waiting for connection...');
    let conn: number;
    try {
      conn = await acceptAsync(sk);
    } catch (e) {
      log.error(`Can't accept connection: ${describe(e)}`);
      return 1;
    }
    log.info('Connected.');
    worker(conn, dirs);
  }
}

/** One connection, one `criu swrk 3` (the socket as its fd 3): what it does cannot harm the service. */
function worker(conn: number, dirs: Dirs): void {
  try {
    const w = spawn(launcherBin, ['swrk', '3'], {
      stdio: ['ignore', 'inherit', 'inherit', conn],
      cwd: path.resolve(dirs.workDir),
      env: { ...process.env, CRIU_TS_SERVICE_WORKER: '1' },
    });
    w.on('error', (e) => log.error(`Can't start a worker: ${e.message}`));
    w.on('exit', (code, sig) => log.info(`Worker(pid ${w.pid}) ${sig ? `was killed by ${sig}` : `exited with ${code}`}`));
  } finally {
    close(conn);
  }
}
