// criu_opts (rpc.proto) as the command line it stands for: every field becomes the options CRIU's
// setup_opts_from_req (cr-service.c) sets from it, so that the RPC runs through the same option
// table, checks and dispatch as `criu dump`/`criu restore`. A field with no option of its own is
// either taken by the RPC itself (notify_scripts, status_fd, orphan_pts_master) or refused by name.
import type { CriuOpts } from '../images/gen/types.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { byLong } from './opttable.js';
import { readConfig } from './config.js';

/** EBADRQC: what CRIU sets as cr_errno when a request's options are bad */
export const EBADRQC = 56;

/** A request CRIU refuses while reading its options (setup_opts_from_req's `goto err`). */
export class RpcOptsError extends CriuError {}

export interface RpcContext {
  /** the request: dump and pre-dump take the pid, check needs no images dir */
  kind: 'dump' | 'restore' | 'check' | 'pre-dump';
  /** the caller (SO_PEERCRED), whose fds images_dir_fd and work_dir_fd name */
  peerPid: number;
  /** a worker of `criu service` (not swrk): rst_sibling and inherit_fd are refused, as CRIU does */
  service: boolean;
}

export interface RpcArgs {
  argv: string[];
  /** the criu_opts field each option came from, by long name */
  origin: Map<string, string>;
  notifyScripts: boolean;
  orphanPtsMaster: boolean;
  warnings: string[];
  /** the RPC configuration file whose options were added, when it could be read */
  configFile?: string;
}

type Conv = (v: never, o: CriuOpts, c: RpcContext) => string[];

const bool =
  (long: string): Conv =>
  (v: boolean) =>
    v ? [`--${long}`] : byLong.get(long)?.bool?.no ? [`--no-${long}`] : [];
const value =
  (long: string): Conv =>
  (v: string | number) => [`--${long}`, String(v)];
const list =
  (long: string): Conv =>
  (v: string[]) =>
    v.flatMap((x) => [`--${long}`, x]);
const notYet =
  (why: string): Conv =>
  () => {
    throw new NotSupportedError(why);
  };

const CG_MODES = ['ignore', 'none', 'props', 'soft', 'full', 'strict'];
const NET_LOCK = ['', 'iptables', 'nftables', 'skip'];

/** The fields and what each stands for on the command line, in CRIU's order of setup_opts_from_req. */
// prettier-ignore
const FIELDS: Record<keyof CriuOpts, Conv | 'images' | 'rpc'> = {
  images_dir_fd: 'images', images_dir: 'images', work_dir_fd: 'images', log_file: 'images', log_level: 'images', log_to_stderr: 'images',
  unprivileged: bool('unprivileged'),
  leave_running: (v: boolean) => (v ? ['--leave-running'] : []),
  leave_stopped: (v: boolean) => (v ? ['--leave-stopped'] : []),
  pid: (v: number, _o, c) => (c.kind === 'dump' || c.kind === 'pre-dump' ? ['--tree', String(v)] : []),
  ext_unix_sk: (v: boolean, o) => (v ? [o.unix_sk_ino?.length ? `--ext-unix-sk=${o.unix_sk_ino.map((u) => u.inode).join(',')}` : '--ext-unix-sk'] : []),
  unix_sk_ino: () => [],
  root: value('root'),
  rst_sibling: (v: boolean, _o, c) => {
    if (c.service) throw new RpcOptsError('rst_sibling is not allowed in standalone service', 'ask `criu swrk` (a child of yours) for a restore as your child');
    return bool('restore-sibling')(v as never, _o, c);
  },
  tcp_established: bool('tcp-established'), tcp_skip_in_flight: bool('skip-in-flight'), tcp_close: bool('tcp-close'),
  weak_sysctls: bool('weak-sysctls'), evasive_devices: bool('evasive-devices'), shell_job: bool('shell-job'),
  skip_file_rwx_check: bool('skip-file-rwx-check'), file_locks: bool('file-locks'), track_mem: bool('track-mem'),
  link_remap: bool('link-remap'), auto_dedup: bool('auto-dedup'), force_irmap: bool('force-irmap'),
  exec_cmd: notYet('a command run once the tree is restored (criu restore --exec-cmd)'),
  lazy_pages: (v: boolean) => (v ? ['--lazy-pages'] : []),
  pre_dump_mode: (v: number) => ['--pre-dump-mode', v === 2 ? 'read' : 'splice'],
  network_lock: (v: number) => {
    if (!NET_LOCK[v]) throw new RpcOptsError(`criu_opts.network_lock: unknown method ${v}`);
    return ['--network-lock', NET_LOCK[v]];
  },
  ps: notYet('a page server (criu dump --page-server)'),
  notify_scripts: 'rpc',
  veths: (v: { if_in: string; if_out: string }[]) => v.flatMap((x) => ['--veth-pair', `${x.if_in}=${x.if_out}`]),
  ext_mnt: (v: { key: string; val: string }[]) => v.flatMap((x) => ['--ext-mount-map', `${x.key}:${x.val}`]),
  join_ns: (v: { ns: string; ns_file: string; extra_opt?: string }[]) => v.flatMap((x) => ['--join-ns', `${x.ns}:${x.ns_file}${x.extra_opt ? `,${x.extra_opt}` : ''}`]),
  inherit_fd: (v: { key: string; fd: number }[], _o, c) => {
    if (v.length && c.service) throw new RpcOptsError('inherit_fd is not allowed in standalone service');
    return v.flatMap((x) => ['--inherit-fd', `fd[${x.fd}]:${x.key}`]);
  },
  external: list('external'),
  cg_root: (v: { ctrl?: string; path: string }[]) => v.flatMap((x) => ['--cgroup-root', x.ctrl ? `${x.ctrl}:${x.path}` : x.path]),
  enable_fs: list('enable-fs'), skip_mnt: list('skip-mnt'),
  cpu_cap: () => ['--cpu-cap'],
  manage_cgroups: (v: boolean, o) => (o.manage_cgroups_mode !== undefined ? [] : [`--manage-cgroups=${v ? 'soft' : 'ignore'}`]),
  manage_cgroups_mode: (v: number) => {
    if (v === 6) return ['--manage-cgroups'];
    if (!CG_MODES[v]) throw new RpcOptsError(`criu_opts.manage_cgroups_mode: unknown mode ${v}`);
    return [`--manage-cgroups=${CG_MODES[v]}`];
  },
  freeze_cgroup: value('freeze-cgroup'), lsm_profile: value('lsm-profile'), lsm_mount_context: value('lsm-mount-context'),
  timeout: value('timeout'), cgroup_props: value('cgroup-props'), cgroup_props_file: value('cgroup-props-file'),
  cgroup_dump_controller: list('cgroup-dump-controller'), cgroup_yard: value('cgroup-yard'),
  tls_cacert: value('tls-cacert'), tls_cacrl: value('tls-cacrl'), tls_cert: value('tls-cert'), tls_key: value('tls-key'),
  tls: bool('tls'), tls_no_cn_verify: (v: boolean) => (v ? ['--tls-no-cn-verify'] : []),
  auto_ext_mnt: (v: boolean) => (v ? ['--ext-mount-map', 'auto'] : []),
  ext_sharing: (v: boolean) => (v ? ['--enable-external-sharing'] : []),
  ext_masters: (v: boolean) => (v ? ['--enable-external-masters'] : []),
  ghost_limit: value('ghost-limit'),
  empty_ns: (v: number) => {
    if (v & ~0x40000000) throw new RpcOptsError(`criu_opts.empty_ns: 0x${v.toString(16)} has namespaces other than CLONE_NEWNET`);
    return v ? ['--empty-ns', 'net'] : [];
  },
  status_fd: 'rpc',
  orphan_pts_master: 'rpc',
  display_stats: bool('display-stats'),
  config_file: 'rpc',
  parent_img: value('prev-images-dir'),
  irmap_scan_paths: list('irmap-scan-path'),
  pidfd_store_sk: notYet('a pidfd store for pre-dumps'),
  mntns_compat_mode: (v: boolean) => (v ? ['--mntns-compat-mode'] : []),
};

/** The command line of one request; throws RpcOptsError or NotSupportedError (naming the field). */
export function rpcArgs(o: CriuOpts, c: RpcContext): RpcArgs {
  const out: RpcArgs = { argv: [], origin: new Map(), notifyScripts: !!o.notify_scripts, orphanPtsMaster: !!o.orphan_pts_master, warnings: [] };
  if (o.status_fd !== undefined) out.warnings.push('status_fd is obsoleted; use status-ready notification instead');
  if ((c.kind === 'dump' || c.kind === 'pre-dump') && o.pid === undefined)
    throw new NotSupportedError('a dump of the caller itself (criu_opts.pid not set)', 'give the pid of the tree to dump');
  out.argv.push(...dirsAndLog(o, c));
  for (const [field, conv] of Object.entries(FIELDS) as [keyof CriuOpts, Conv | 'images' | 'rpc'][]) {
    const v = o[field];
    if (v === undefined || conv === 'images' || conv === 'rpc') continue;
    if (Array.isArray(v) && !v.length) continue;
    let args: string[];
    try {
      args = conv(v as never, o, c);
    } catch (e) {
      if (e instanceof NotSupportedError && !e.message.includes(`criu_opts.${field}`))
        throw new NotSupportedError(`${e.message.replace('not supported yet: ', '')} (criu_opts.${field})`, e.hint);
      throw e;
    }
    for (const a of args) if (a.startsWith('--')) out.origin.set(a.slice(2).split('=')[0].replace(/^no-/, ''), field);
    out.argv.push(...args);
  }
  // CRIU's PARSING_RPC_CONF: the file's options come after the request's and override them; a
  // file that cannot be read is skipped (runc always names /etc/criu/runc.conf)
  if (o.config_file) {
    const words = readConfig(o.config_file);
    if (words) {
      for (const a of words) if (a.startsWith('--')) out.origin.set(a.slice(2).split('=')[0].replace(/^no-/, ''), 'config_file');
      out.argv.push(...words);
      out.configFile = o.config_file;
    }
  }
  return out;
}

/** images_dir_fd / images_dir, work_dir_fd, log_file, log_level, log_to_stderr: as resolve_images_dir_path and setup_logging_from_req take them. */
function dirsAndLog(o: CriuOpts, c: RpcContext): string[] {
  const a: string[] = [];
  const fdPath = (fd: number) => `/proc/${c.peerPid}/fd/${fd}`;
  if (o.images_dir_fd !== undefined && o.images_dir_fd !== -1) a.push('--images-dir', fdPath(o.images_dir_fd));
  else if (o.images_dir !== undefined) a.push('--images-dir', o.images_dir);
  else if (c.kind !== 'check') throw new RpcOptsError('Neither images_dir_fd nor images_dir was passed by RPC client.');
  if (o.work_dir_fd !== undefined) a.push('--work-dir', fdPath(o.work_dir_fd));
  if (o.log_file !== undefined && !o.log_to_stderr) {
    if (o.log_file.includes('/')) throw new RpcOptsError(`No subdirs are allowed in log_file name: ${o.log_file}`);
    a.push('--log-file', o.log_file);
  } else if (!o.log_to_stderr && c.kind !== 'check') a.push('--log-file', 'criu.log');
  a.push(`--verbosity=${o.log_level ?? 2}`);
  return a;
}
