// CRIU's RPC (rpc.proto over a SOCK_SEQPACKET socket, one message a packet), as `criu swrk FD`
// serves it to runc, libcriu, go-criu and pycriu, and as each worker of `criu service` does: a
// criu_req in, a criu_resp out, as cr-service.c (cr_service_work) answers them. The options of
// DUMP, RESTORE and CHECK become a command line (rpc-opts.ts) and go through the same checks,
// set-up and dispatch as `criu dump`/`criu restore` (commands.ts).
import * as path from 'node:path';
import { decodeEntry, encodeEntry, unknownFields } from '../images/index.js';
import { CriuReqType as T, type CriuReq, type CriuResp, type CriuOpts, type CriuFeatures } from '../images/gen/types.js';
import { readMessagesOf } from '../images/typed.js';
import { recvPacket, sendPacket, peerCred } from '../sys/sock.js';
import { close, waitpid, SysError } from '../sys/libc.js';
import { CriuError, NotSupportedError, describe } from '../errors.js';
import { log } from '../log.js';
import { setNotifier, resetNotify, scriptEnv, type Action, type Notifier } from '../notify.js';
import { parseArgs, classify, one, UsageError, VERSION, type Cmd } from './options.js';
import { checkCommand, setUp, dispatch } from './commands.js';
import { rpcArgs, RpcOptsError, EBADRQC, type RpcContext } from './rpc-opts.js';
import { mayDump, mayRestore, CallerRefused, EPERM, type Peer } from './rpc-creds.js';
import { ttyRpc } from '../files/tty.js';

const TYPE_NAME = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k])) as Record<number, string>;
/** the requests a caller may follow with another on the same socket (chk_keepopen_req) */
const KEEP_OPEN_OK: number[] = [T.PAGE_SERVER, T.PAGE_SERVER_CHLD, T.CPUINFO_DUMP, T.CPUINFO_CHECK, T.FEATURE_CHECK, T.VERSION];

export interface Session {
  sk: number;
  peer: Peer;
  service: boolean;
}

/** An error reply: cr_errmsg says what went wrong for people, cr_errno as CRIU would set it. */
function errorResp(type: number, e: unknown): CriuResp {
  const resp: CriuResp = { type, success: false, cr_errmsg: describe(e) };
  if (e instanceof SysError) resp.cr_errno = e.errno;
  else if (e instanceof CallerRefused) resp.cr_errno = EPERM;
  else if (e instanceof RpcOptsError || e instanceof UsageError || e instanceof NotSupportedError) resp.cr_errno = EBADRQC;
  return resp;
}

function send(s: Session, resp: CriuResp, fd = -1): void {
  sendPacket(s.sk, encodeEntry('criu_resp', resp), fd);
}

/** One request off the socket: null when the peer closed; throws CriuError for garbage. */
function receive(s: Session): CriuReq | null {
  const pkt = recvPacket(s.sk);
  if (!pkt) return null;
  for (const fd of pkt.fds) close(fd);
  let req: CriuReq;
  try {
    req = decodeEntry('criu_req', pkt.data);
  } catch (e) {
    throw new CriuError(`Failed unpacking request: ${describe(e)}`, {
      object: `a packet of ${pkt.data.length} bytes`,
      hint: 'send one criu_req (rpc.proto) a packet',
    });
  }
  const unknown = unknownFields('criu_req', req);
  if (unknown.length)
    throw new NotSupportedError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`, {
      hint: 'criu-ts knows the criu_req of CRIU 4.2 (rpc.proto); a field it does not know is refused, not ignored',
    });
  return req;
}

/**
 * Serve the socket as CRIU's swrk does: a request, its answer, and more only while the caller
 * sets keep_open on the requests that allow it. Returns the exit code.
 */
export async function serveRpc(sk: number, service: boolean): Promise<number> {
  const s: Session = { sk, peer: peerCred(sk), service };
  for (;;) {
    let req: CriuReq | null;
    try {
      req = receive(s);
    } catch (e) {
      log.error(describe(e));
      send(s, errorResp(T.EMPTY, e));
      return 1;
    }
    if (!req) return 1;
    if (req.keep_open && !KEEP_OPEN_OK.includes(req.type)) {
      send(
        s,
        errorResp(req.type, new RpcOptsError(`keep_open is not allowed with a ${TYPE_NAME[req.type] ?? req.type} request`, 'send it on a socket of its own')),
      );
      return 1;
    }
    const resp = await handle(s, req);
    send(s, resp);
    if (!resp.success || !req.keep_open) return resp.success ? 0 : 1;
  }
}

async function handle(s: Session, req: CriuReq): Promise<CriuResp> {
  try {
    switch (req.type) {
      case T.VERSION:
        return version();
      case T.FEATURE_CHECK:
        return await features(req.features ?? {});
      case T.CHECK:
        return await check(s, req.opts);
      case T.DUMP:
        return await operation(s, 'dump', req.opts);
      case T.RESTORE:
        return await operation(s, 'restore', req.opts);
      case T.WAIT_PID:
        return waitPid(req.pid);
      case T.PRE_DUMP:
      case T.SINGLE_PRE_DUMP:
      case T.PAGE_SERVER:
      case T.PAGE_SERVER_CHLD:
      case T.CPUINFO_DUMP:
      case T.CPUINFO_CHECK:
        throw new NotSupportedError(
          `the ${TYPE_NAME[req.type]} request`,
          `criu-ts does not implement criu ${TYPE_NAME[req.type].toLowerCase().replace(/_/g, '-')} yet`,
        );
      default:
        return errorResp(T.EMPTY, new CriuError(`Invalid req: type ${TYPE_NAME[req.type] ?? req.type}`));
    }
  } catch (e) {
    log.error(describe(e));
    return errorResp(req.type, e);
  } finally {
    resetNotify();
    log.close();
  }
}

/** handle_version: the numbers `criu --version` prints (no gitid: not a git build). */
function version(): CriuResp {
  const [major, minor, sub] = VERSION.split('.').map(Number);
  return { type: T.VERSION, success: true, version: { major_number: major, minor_number: minor, ...(sub !== undefined ? { sublevel: sub } : {}) } };
}

/** handle_feature_check: each feature asked for, as `criu check --feature` knows it. */
async function features(asked: CriuFeatures): Promise<CriuResp> {
  const { featureSupported } = await import('../check.js');
  const f: CriuFeatures = { mem_track: false, lazy_pages: false, pidfd_store: false };
  if (asked.mem_track) f.mem_track = featureSupported('mem_dirty_track');
  if (asked.lazy_pages) f.lazy_pages = featureSupported('lazy_pages');
  if (asked.pidfd_store) f.pidfd_store = featureSupported('pidfd_store');
  return { type: T.FEATURE_CHECK, success: true, features: f };
}

async function check(s: Session, opts: CriuOpts | undefined): Promise<CriuResp> {
  if (opts) prepare(s, 'check', opts);
  const { check: run } = await import('../check.js');
  const line = (s: string) => s.trimEnd() && log.info(s.trimEnd());
  const rc = run({ all: false }, { out: line, err: (x) => log.error(x.trimEnd()) });
  if (rc !== 0) return errorResp(T.CHECK, new CriuError('criu check failed: the kernel lacks what criu needs (see the log)'));
  return { type: T.CHECK, success: true };
}

/** handle_wait_pid: waitpid() on a child of this process. */
function waitPid(pid: number | undefined): CriuResp {
  try {
    const st = waitpid(pid ?? -1, 0);
    return { type: T.WAIT_PID, success: true, status: st.status };
  } catch (e) {
    return errorResp(T.WAIT_PID, e);
  }
}

/** The request's options as a checked command line, set up (dirs, log), ready to dispatch. */
function prepare(s: Session, kind: RpcContext['kind'], opts: CriuOpts) {
  const ctx: RpcContext = { kind, peerPid: s.peer.pid, service: s.service };
  const a = rpcArgs(opts, ctx);
  ttyRpc.orphanPtsMaster = a.orphanPtsMaster;
  // restore_using_req: "we force the detached restore under the cr service task"
  const p = parseArgs([kind, ...a.argv, ...(kind === 'restore' ? ['--restore-detached'] : [])]);
  log.level = p.logLevel;
  const cmd = kind as Cmd;
  const c = classify(p, cmd);
  try {
    checkCommand(p, cmd, c);
  } catch (e) {
    const m = e instanceof NotSupportedError ? /^not supported yet: --([\w-]+)/.exec(e.message) : null;
    const field = m && a.origin.get(m[1].replace(/^no-/, ''));
    if (m && field) throw new NotSupportedError(`--${m[1]} (criu_opts.${field})`, e instanceof CriuError ? e.hint : undefined);
    throw e;
  }
  const imagesDir = path.resolve(one(p, 'images-dir') ?? '.');
  if (kind === 'dump') mayDump(s.peer, opts.pid!, imagesDir);
  if (kind === 'restore') mayRestore(s.peer, imagesDir);
  const dirs = setUp(p, cmd, c);
  for (const w of a.warnings) log.warn(w);
  if (a.configFile) log.debug(`Would overwrite RPC settings with values from ${a.configFile}`);
  return { p, cmd, dirs, notify: a.notifyScripts };
}

async function operation(s: Session, kind: 'dump' | 'restore', opts: CriuOpts | undefined): Promise<CriuResp> {
  const type = kind === 'dump' ? T.DUMP : T.RESTORE;
  try {
    if (!opts) throw new RpcOptsError(`the ${kind.toUpperCase()} request has no opts`, 'criu_req.opts holds at least images_dir_fd or images_dir');
    const { p, cmd, dirs, notify } = prepare(s, kind, opts);
    let root: number | undefined = kind === 'dump' ? opts.pid : undefined;
    if (kind === 'restore') root = readMessagesOf(path.join(dirs.imagesDir, 'pstree.img'), 'PSTREE')[0]?.pid;
    // the restored root's pid as the caller sees it (CRIU: root_item->pid->real), once it exists; the
    // image's is the one in the tree's own pid namespace
    const hostRoot = (): number | undefined => (kind === 'restore' ? (scriptEnv().initPid ?? root) : root);
    if (notify) setNotifier(notifier(s, hostRoot));
    const rc = await dispatch(p, cmd, dirs);
    root = hostRoot();
    if (rc !== 0) throw new CriuError(`criu ${kind} ended with ${rc}`);
    log.info(`RPC ${kind} done`);
    return kind === 'dump' ? { type, success: true, dump: { restored: false } } : { type, success: true, restore: { pid: root ?? -1 } };
  } catch (e) {
    if (!log.toFile && opts) earlyLog(s, opts);
    log.error(describe(e));
    return { ...errorResp(type, e), ...(kind === 'dump' ? { dump: { restored: false } } : { restore: { pid: -1 } }) };
  }
}

/**
 * A request refused while its options were read (before the log was opened): the error goes to
 * the log file it names all the same, as CRIU opens the log first (setup_logging_from_req), so
 * that a caller such as runc, which shows that file, shows why.
 */
function earlyLog(s: Session, o: CriuOpts): void {
  if (o.log_to_stderr) return;
  const name = o.log_file ?? 'criu.log';
  if (name.includes('/')) return;
  const fdDir = (fd: number | undefined) => (fd !== undefined && fd >= 0 ? `/proc/${s.peer.pid}/fd/${fd}` : undefined);
  const dir = fdDir(o.work_dir_fd) ?? fdDir(o.images_dir_fd) ?? o.images_dir;
  if (!dir) return;
  try {
    log.setFile(path.join(dir, name));
  } catch {
    /* the error still goes back in the answer */
  }
}

/**
 * send_criu_rpc_script: a NOTIFY to the caller (with an fd for orphan-pts-master), then its
 * answer, which must be a NOTIFY with notify_success. query-ext-files' answer may name external
 * objects (opts.external), which criu-ts does not take yet.
 */
export function notifier(s: Session, rootPid: () => number | undefined): Notifier {
  return (action: Action, fd: number): number => {
    const withPid = action === 'setup-namespaces' || action === 'post-restore';
    const pid = rootPid();
    send(s, { type: T.NOTIFY, success: true, notify: { script: action, ...(withPid && pid !== undefined ? { pid } : {}) } }, fd);
    let req: CriuReq | null;
    try {
      req = receive(s);
    } catch (e) {
      log.error(`the answer to the ${action} notification: ${describe(e)}`);
      return -1;
    }
    if (!req) {
      log.error(`the RPC client closed the socket instead of answering the ${action} notification`);
      return -1;
    }
    if (req.type !== T.NOTIFY || !req.notify_success) {
      log.error(`RPC client reported script error (${action})`);
      return -1;
    }
    const ext = req.opts?.external ?? [];
    if (action === 'query-ext-files' && ext.length) {
      log.error(`not supported yet: --external ${ext.join(' ')} (the answer to query-ext-files)`);
      return -1;
    }
    return 0;
  };
}
