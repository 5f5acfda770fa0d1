// CRIU 4.2's whole command line as data: every option of criu/config.c parse_options (its
// long_opts, short_opts "dSsRt:hD:o:v::x::Vr:jJ:lW:L:M:" and the BOOL_OPT `--no-` forms), with,
// for every command, what CRIU does with it and what we do. The parser (options.ts), the
// configuration files (config.ts) and `criu --help` (help.ts) all come from this table.
//
// For an option and a command the answer is one of:
//   acts     CRIU acts on it there and so do we (`ours` lists those commands)
//   refused  CRIU acts on it there and we cannot yet: "not supported yet: --OPTION", before
//            anything is touched
//   ignored  CRIU 4.2 ignores it there (`why` names the CRIU source place): accepted, and said
//            at -v4
//   rejects  CRIU itself refuses it there (`rejects` holds CRIU's message): so do we
export const COMMANDS = [
  'dump',
  'pre-dump',
  'restore',
  'lazy-pages',
  'check',
  'page-server',
  'service',
  'swrk',
  'dedup',
  'cpuinfo dump',
  'cpuinfo check',
  'exec',
  'show',
] as const;
export type Cmd = (typeof COMMANDS)[number];

const D = 'dump',
  P = 'pre-dump',
  R = 'restore',
  LP = 'lazy-pages',
  C = 'check',
  PS = 'page-server',
  SV = 'service',
  SW = 'swrk',
  DD = 'dedup',
  CD = 'cpuinfo dump',
  CC = 'cpuinfo check',
  EX = 'exec',
  SH = 'show';
/** every command crtools.c main() runs the common set-up for (all but swrk, which leaves early) */
const MAIN: readonly Cmd[] = [D, P, R, LP, C, PS, SV, DD, CD, CC, EX, SH];
/** the commands whose code we run (exec and show only report, as CRIU does, that they are gone) */
export const IMPLEMENTED: readonly Cmd[] = [D, R, C, SV, EX, SH];

export type Arity = 'none' | 'required' | 'optional';
export type Section = 'generic' | 'external' | 'special' | 'check' | 'logging' | 'memory' | 'server' | 'config' | 'other';

export interface Opt {
  long: string;
  short?: string;
  arg: Arity;
  /** a BOOL_OPT (or a flag option of CRIU's): the opts field it sets, its default, and whether a --no- form exists */
  bool?: { field: string; def: boolean; no: boolean };
  /** repeatable: every occurrence adds (the others: the last one wins) */
  list?: boolean;
  section: Section;
  metavar?: string;
  /** the help text (CRIU's --help); none for the options CRIU does not document there */
  help?: string;
  /** commands where CRIU 4.2 acts on the option, and where in CRIU */
  criu: readonly Cmd[];
  where: string;
  /** commands where we act on it */
  ours?: readonly Cmd[];
  /** why CRIU ignores it on the other commands (a CRIU source place), per command where it differs */
  why: string;
  whyOn?: Partial<Record<Cmd, string>>;
  /** commands on which CRIU ignores it with a warning, and that warning */
  warnOn?: Partial<Record<Cmd, string>>;
  /** commands where CRIU refuses it, with CRIU's message; `usage` when CRIU prints the usage too */
  rejects?: { on: readonly Cmd[] | 'others'; msg: string; usage?: boolean };
  /** on these commands CRIU reads it only together with another option */
  onlyWith?: { opt: string; on: readonly Cmd[] };
}

const notService = (x: string) => `cr-service.c: each request's worker calls init_opts(), so the command line's ${x} never reaches it`;
const swrk = 'crtools.c: swrk serves libcriu requests at once, before the images dir, the work dir and the log are set up; every request brings its own';

// One row an option, as CRIU's table in config.c: kept as a table, not reformatted.
// prettier-ignore
export const OPTS: Opt[] = [
  // ---- Generic
  { long: 'tree', short: 't', arg: 'required', section: 'generic', metavar: 'PID', help: 'checkpoint a process tree identified by PID',
    criu: [D, P], where: 'crtools.c: cr_dump_tasks/cr_pre_dump_tasks(opts.tree_id)', ours: [D],
    why: 'crtools.c: only dump and pre-dump read opts.tree_id',
    warnOn: { restore: 'Using -t with criu restore is obsoleted' } },
  { long: 'restore-detached', short: 'd', arg: 'none', bool: { field: 'restore_detach', def: false, no: true }, section: 'generic', help: 'detach after restore',
    criu: [R, PS, LP, SV], where: 'cr-restore.c: restore_root_task; crtools.c: the same field is daemon_mode of page-server, lazy-pages and service', ours: [R, SV],
    why: 'crtools.c: opts.restore_detach (daemon_mode) is read by restore, page-server, lazy-pages and service only' },
  { long: 'restore-sibling', short: 'S', arg: 'none', bool: { field: 'restore_sibling', def: false, no: true }, section: 'generic', help: 'restore root task as sibling',
    criu: [R], where: 'cr-restore.c: maybe_clone_parent', ours: [R], why: 'cr-restore.c: only restore reads opts.restore_sibling' },
  { long: 'leave-stopped', short: 's', arg: 'none', section: 'generic', help: 'leave tasks in stopped state after checkpoint',
    criu: [D, R], where: 'cr-dump.c: cr_dump_finish; cr-restore.c: tasks are SIGSTOPped when opts.final_state == TASK_STOPPED', ours: [D],
    why: 'only cr-dump.c (cr_dump_finish) and cr-restore.c read opts.final_state',
    whyOn: { 'pre-dump': 'cr-dump.c: cr_pre_dump_finish always resumes the tree (pstree_switch_state TASK_ALIVE)' } },
  { long: 'leave-running', short: 'R', arg: 'none', section: 'generic', help: 'leave tasks in running state after checkpoint',
    criu: [D], where: 'cr-dump.c: cr_dump_finish', ours: [D],
    why: 'only cr-dump.c cr_dump_finish acts on final_state == TASK_ALIVE',
    whyOn: { restore: 'cr-restore.c: restore only tests final_state == TASK_STOPPED; a running tree is its default', 'pre-dump': 'cr-dump.c: cr_pre_dump_finish always resumes the tree' } },
  { long: 'images-dir', short: 'D', arg: 'required', section: 'generic', metavar: 'DIR', help: 'directory for image files',
    criu: [D, P, R, LP, C, PS, DD, CD, CC, EX, SH], where: 'crtools.c: open_image_dir(opts.imgs_dir)', ours: [D, R, C, EX, SH],
    why: 'crtools.c: the images dir is opened by every command but service', whyOn: { swrk } },
  { long: 'pidfile', arg: 'required', section: 'generic', metavar: 'FILE', help: 'write root task, service or page-server pid to FILE',
    criu: [R, PS, LP, SV], where: 'cr-restore.c write_restored_pid; util.c run_tcp_server; uffd.c cr_lazy_pages; cr-service.c cr_service', ours: [R, SV],
    why: 'log.c write_pidfile: only restore, page-server, lazy-pages and service write opts.pidfile' },
  { long: 'work-dir', short: 'W', arg: 'required', section: 'generic', metavar: 'DIR', help: 'directory to cd and write logs/pidfiles/stats to\n(if not specified, value of --images-dir is used)',
    criu: MAIN, where: 'crtools.c: chdir(opts.work_dir)', ours: [D, R, C, SV, EX, SH], why: swrk, whyOn: { swrk } },
  { long: 'cpu-cap', arg: 'optional', section: 'generic', metavar: 'CAP', help: 'CPU capabilities to write/check. CAP is comma-separated\nlist of: cpu, fpu, all, ins, none. To disable\na capability, use ^CAP. Empty argument implies all',
    criu: [D, R, CC], where: 'cr-dump.c cr_dump_tasks (cpuinfo.img); cr-restore.c cr_restore_tasks; cpu.c cpuinfo_check',
    why: 'cr-dump.c, cr-restore.c, cpu.c: only dump, restore and cpuinfo check read opts.cpu_cap' },
  { long: 'exec-cmd', arg: 'none', section: 'generic', help: "execute the command specified after '--' on successful\nrestore making it the parent of the restored process",
    criu: [R], where: 'crtools.c: execvp(opts.exec_cmd) after cr_restore_tasks', ours: [R], why: 'crtools.c: restore only',
    rejects: { on: 'others', msg: '--exec-cmd is available for the restore command only', usage: true } },
  { long: 'freeze-cgroup', arg: 'required', section: 'generic', metavar: 'DIR', help: 'use cgroup freezer to collect processes',
    criu: [D, P], where: 'seize.c: collect_pstree/freeze_processes', ours: [D], why: 'seize.c: only dump and pre-dump seize a tree' },
  { long: 'weak-sysctls', arg: 'none', bool: { field: 'weak_sysctls', def: false, no: true }, section: 'generic', help: 'skip restoring sysctls that are not available',
    criu: [R], where: 'net.c: net_conf_op/unix_conf_op/ipv4_sysctls_op on restore', why: 'net.c: only writing sysctls (restore) reads it' },
  { long: 'lazy-pages', arg: 'none', section: 'generic', help: "restore pages on demand\nthis requires running a second instance of criu\nin lazy-pages mode: 'criu lazy-pages -D DIR'\n--lazy-pages and lazy-pages mode require userfaultfd",
    criu: [D, R, PS], where: 'cr-dump.c dump_one_task/cr_lazy_mem_dump; mem.c/uffd.c on restore; page-xfer.c page_server_serve',
    why: 'cr-dump.c, uffd.c, page-xfer.c: only dump, restore and page-server read opts.lazy_pages',
    rejects: { on: [P], msg: 'Cannot pre-dump with --lazy-pages' } },
  { long: 'stream', arg: 'none', bool: { field: 'stream', def: false, no: true }, section: 'generic', help: 'dump/restore images using criu-image-streamer',
    criu: [D, P, R, CD], where: 'image.c: open_image_dir -> img_streamer_init', why: 'crtools.c: image_dir_mode() is -1',
    rejects: { on: 'others', msg: '--stream cannot be used with the %s command', usage: true } },
  { long: 'mntns-compat-mode', arg: 'none', bool: { field: 'mntns_compat_mode', def: false, no: true }, section: 'generic', help: 'Use mount engine in compatibility mode. By default criu\ntries to use mount-v2 mode with more reliable algorithm\nbased on MOVE_MOUNT_SET_GROUP kernel feature',
    criu: [R], where: 'mount.c: prepare_mnt_ns', ours: [R], why: 'config.c check_options: restore only; ours has one engine (MOVE_MOUNT_SET_GROUP, as mount-v2) whose tree is the one compat mode makes',
    rejects: { on: 'others', msg: 'Option --mntns-compat-mode is only valid on restore' } },
  { long: 'network-lock', arg: 'required', section: 'generic', metavar: 'METHOD', help: "network locking/unlocking method; argument\ncan be 'nftables' or 'iptables' (default).",
    criu: [D], where: 'net.c: network_lock_internal; image.c prepare_inventory records it', ours: [D], why: 'net.c: only dump locks the network with opts.network_lock_method',
    warnOn: { restore: '--network-lock will be ignored in restore command (network lock method from dump will be used in restore)' } },
  { long: 'unprivileged', arg: 'none', bool: { field: 'unprivileged', def: false, no: true }, section: 'generic', help: 'accept limitations when running as non-root',
    criu: MAIN, where: 'cr-check.c check_caps (crtools.c main, every command) and cgroup.c, files.c, kerndat.c, namespaces.c ...', why: swrk },
  { long: 'allow-uprobes', arg: 'none', bool: { field: 'allow_uprobes', def: false, no: true }, section: 'generic', help: 'allow dump/restore with uprobes vma',
    criu: [D, R], where: 'proc_parse.c handle_vma (dump); image.c check_img_inventory (restore)', why: 'proc_parse.c, image.c: only dump and restore read opts.allow_uprobes' },
  // ---- External resources
  { long: 'external', arg: 'required', list: true, section: 'external', metavar: 'RES', help: 'dump objects from this list as external resources:\nFormats of RES on dump:\n    tty[rdev:dev]\n    file[mnt_id:inode]\n    dev[major/minor]:NAME\n    unix[ino]\n    mnt[MOUNTPOINT]:COOKIE\n    mnt[]{:AUTO_OPTIONS}\nFormats of RES on restore:\n    dev[NAME]:DEVPATH\n    veth[IFNAME]:OUTNAME{@BRIDGE}\n    macvlan[IFNAME]:OUTNAME\n    mnt[COOKIE]:ROOT\n    netdev[IFNAME]:ORIGNAME',
    criu: [D, R], where: 'external.c: external_lookup_* (files, ttys, mounts, unix sockets, net devices)', ours: [D, R], why: 'external.c: only dump and restore look externals up' },
  // ---- Special resources
  { long: 'ext-unix-sk', short: 'x', arg: 'optional', section: 'special', metavar: 'INO,...', help: 'allow external unix connections (optionally only those of\nthe given inodes)',
    criu: [D, R], where: 'sk-unix.c: __dump_external_socket (dump), open_unixsk_standalone (restore)', ours: [D, R], why: 'sk-unix.c: only dump and restore of unix sockets read opts.ext_unix_sk' },
  { long: 'tcp-established', arg: 'none', bool: { field: 'tcp_established_ok', def: false, no: true }, section: 'special', help: 'checkpoint/restore established TCP connections',
    criu: [D, R], where: 'sk-inet.c: can_dump_inet_sk, open_inet_sk', ours: [D, R], why: 'sk-inet.c: only dump and restore of sockets read it' },
  { long: 'skip-in-flight', arg: 'none', bool: { field: 'tcp_skip_in_flight', def: false, no: true }, section: 'special', help: 'skip (ignore) in-flight TCP connections',
    criu: [D], where: 'sk-inet.c: can_dump_inet_sk', ours: [D], why: 'sk-inet.c: only dump reads it' },
  { long: 'tcp-close', arg: 'none', bool: { field: 'tcp_close', def: false, no: true }, section: 'special', help: "don't dump the state of, or block, established tcp\nconnections, and restore them in closed state.",
    criu: [D, R], where: 'sk-tcp.c dump_one_tcp/restore_one_tcp; image.c prepare_inventory and check_img_inventory', ours: [D, R], why: 'sk-tcp.c, image.c: only dump and restore read opts.tcp_close' },
  { long: 'root', short: 'r', arg: 'required', section: 'special', metavar: 'PATH', help: 'change the root filesystem (when run in mount namespace)',
    criu: [D, R], where: 'mount.c prepare_mnt_ns/do_mount_one (restore); sysfs_parse.c fixup_aufs_vma_fd (dump)', ours: [D, R], why: 'mount.c, sysfs_parse.c: only dump (AUFS paths) and restore (mounts) read opts.root' },
  { long: 'evasive-devices', arg: 'none', bool: { field: 'evasive_devices', def: false, no: true }, section: 'special', help: 'use any path to a device file if the original one\nis inaccessible',
    criu: [D], where: 'files-reg.c: check_path_remap', ours: [D], why: 'files-reg.c: only dump reads it' },
  { long: 'link-remap', arg: 'none', bool: { field: 'link_remap_ok', def: false, no: true }, section: 'special', help: 'allow one to link unlinked files back when possible',
    criu: [D], where: 'files-reg.c: create_link_remap', ours: [D], why: 'files-reg.c: only dump reads opts.link_remap_ok' },
  { long: 'ghost-limit', arg: 'required', section: 'special', metavar: 'size', help: 'limit max size of deleted file contents inside image',
    criu: [D], where: 'files-reg.c: dump_ghost_remap', ours: [D], why: 'files-reg.c: only dump reads opts.ghost_limit' },
  { long: 'ghost-fiemap', arg: 'none', bool: { field: 'ghost_fiemap', def: true, no: true }, section: 'special', help: 'enable dumping of deleted files using fiemap',
    criu: [D], where: 'files-reg.c: dump_ghost_file', why: 'files-reg.c: only dump reads opts.ghost_fiemap' },
  { long: 'action-script', arg: 'required', list: true, section: 'special', metavar: 'FILE', help: 'add an external action script',
    criu: [D, R, PS, LP, SV], where: 'action-scripts.c run_scripts: cr-dump.c, cr-restore.c, net.c, util.c status_ready', ours: [D, R], why: 'action-scripts.c: no run_scripts() on this command (pre-dump runs one only with --stream, img-streamer.c)' },
  { long: 'shell-job', short: 'j', arg: 'none', bool: { field: 'shell_job', def: false, no: true }, section: 'special', help: 'allow one to dump and restore shell jobs',
    criu: [D, R], where: 'pstree.c dump_pstree checks sessions, tty.c (dump); pstree.c prepare_pstree_for_shell_job (restore)', ours: [D, R], why: 'pstree.c, tty.c: only dump and restore read opts.shell_job' },
  { long: 'file-locks', short: 'l', arg: 'none', bool: { field: 'handle_file_locks', def: false, no: true }, section: 'special', help: 'handle file locks, for safety, only used for container',
    criu: [D, R], where: 'file-lock.c: dump_file_locks, note_file_lock, prepare_file_locks', ours: [D, R], why: 'file-lock.c: only dump and restore read it' },
  { long: 'libdir', short: 'L', arg: 'required', section: 'special', metavar: 'DIR', help: 'path to a plugin directory (by default /usr/lib/criu/)',
    criu: [D, P, R], where: 'plugin.c: cr_plugin_init (cr_dump_tasks, cr_pre_dump_tasks, cr_restore_tasks)', ours: [D, R], why: 'plugin.c: plugins are loaded by dump, pre-dump and restore only' },
  { long: 'timeout', arg: 'required', section: 'special', metavar: 'NUM', help: 'a timeout (in seconds) on collecting tasks during dump\n(default 10 seconds)',
    criu: [D, P], where: 'seize.c: collect_pstree/freeze_processes', ours: [D], why: 'seize.c: only dump and pre-dump seize a tree' },
  { long: 'force-irmap', arg: 'none', bool: { field: 'force_irmap', def: false, no: true }, section: 'special', help: 'force resolving names for inotify/fsnotify watches',
    criu: [D], where: 'fsnotify.c: check_open_handle', why: 'fsnotify.c: only dump reads it' },
  { long: 'irmap-scan-path', arg: 'required', list: true, section: 'special', metavar: 'FILE', help: 'add a path the irmap hints to scan',
    criu: [D, P], where: 'irmap.c: irmap_scan_path_add, used by dump and pre-dump', why: 'irmap.c: only dump and pre-dump scan' },
  { long: 'manage-cgroups', arg: 'optional', section: 'special', metavar: 'm', help: "dump/restore process' cgroups; argument can be one of\n'none', 'props', 'soft' (default), 'full', 'strict'\nor 'ignore'",
    criu: [D, R], where: 'cgroup.c: collect_cgroups (dump), prepare_cgroup* (restore)', ours: [D, R], why: 'cgroup.c: only dump and restore read opts.manage_cgroups' },
  { long: 'cgroup-root', arg: 'required', list: true, section: 'special', metavar: '[controller:]/newroot', help: 'on dump: change the root for the controller that will\nbe dumped. By default, only the paths with tasks in\nthem and below will be dumped.\non restore: change the root cgroup the controller will\nbe installed into. No controller means that root is the\ndefault for all controllers not specified',
    criu: [D, R], where: 'cgroup.c: new_cgroup_roots', ours: [D, R], why: 'cgroup.c: only dump and restore' },
  { long: 'cgroup-props', arg: 'required', section: 'special', metavar: 'STRING', help: 'define cgroup controllers and properties\nto be checkpointed, which are described\nvia STRING using simplified YAML format',
    criu: [D], where: 'cr-dump.c: cr_dump_tasks -> cgp_init', ours: [D], why: 'cr-dump.c: only cr_dump_tasks reads opts.cgroup_props' },
  { long: 'cgroup-props-file', arg: 'required', section: 'special', metavar: 'FILE', help: 'same as --cgroup-props, but taking description\nfrom the path specified',
    criu: [D], where: 'cr-dump.c: cr_dump_tasks -> cgp_init', ours: [D], why: 'cr-dump.c: only cr_dump_tasks reads opts.cgroup_props_file' },
  { long: 'cgroup-dump-controller', arg: 'required', list: true, section: 'special', metavar: 'NAME', help: 'define cgroup controller to be dumped\nand skip anything else present in system',
    criu: [D], where: 'cgroup-props.c: cgp_add_dump_controller, read when dump collects cgroups', ours: [D], why: 'cgroup-props.c: only dump reads the controller list' },
  { long: 'cgroup-yard', arg: 'required', section: 'special', metavar: 'PATH', help: "instead of trying to mount cgroups in CRIU, provide\na path to a directory with already created cgroup yard.\nUseful if you don't want to grant CAP_SYS_ADMIN to CRIU",
    criu: [D, R], where: 'cgroup.c: collect_cgroups, prepare_cgroup_sfd', ours: [D, R], why: 'cgroup.c: only dump and restore' },
  { long: 'lsm-profile', arg: 'required', section: 'special', metavar: 'TYPE:NAME', help: "Specify an LSM profile to be used during restore.\nThe type can be either 'apparmor' or 'selinux'.",
    criu: [R], where: 'lsm.c render_lsm_profile, apparmor.c (restore)', why: 'lsm.c: only restore applies opts.lsm_profile',
    whyOn: { dump: 'lsm.c: dump only checks its TYPE:NAME form (lsm_check_opts)', 'pre-dump': 'lsm.c: pre-dump only checks its TYPE:NAME form (lsm_check_opts)' } },
  { long: 'lsm-mount-context', arg: 'required', section: 'special', metavar: 'CTX', help: 'Specify a mount context to be used during restore.\nOnly mounts with an existing context will have their\nmount context replaced with CTX.',
    criu: [R], where: 'mount.c: mount_update_lsm_context', why: 'mount.c: only restore mounts' },
  { long: 'skip-mnt', arg: 'required', list: true, section: 'special', metavar: 'PATH', help: 'ignore this mountpoint when dumping the mount namespace',
    criu: [D], where: 'mount.c: collecting the mount namespace on dump', ours: [D], why: 'mount.c: only dump reads the skip list' },
  { long: 'enable-fs', arg: 'required', list: true, section: 'special', metavar: 'FSNAMES', help: 'a comma separated list of filesystem names or "all"\nforce criu to (try to) dump/restore these filesystem\'s\nmountpoints even if fs is not supported',
    criu: [D, R], where: 'filesystems.c: fsauto_names (mounts of dump and restore)', why: 'filesystems.c: only dump and restore handle mounts' },
  { long: 'ext-mount-map', short: 'M', arg: 'required', list: true, section: 'special', metavar: 'KEY:VALUE', help: 'map an external mount (KEY:VALUE, or "auto")',
    criu: [D, R], where: 'mount.c: ext_mount_add, resolve_external_mounts', ours: [D, R], why: 'mount.c: only dump and restore' },
  { long: 'enable-external-sharing', arg: 'none', bool: { field: 'enable_external_sharing', def: false, no: false }, section: 'special', help: 'allow autodetected external mounts with shared groups',
    criu: [D], where: 'mount.c: resolve_external_mounts', ours: [D], why: 'mount.c: only dump resolves external mounts' },
  { long: 'enable-external-masters', arg: 'none', bool: { field: 'enable_external_masters', def: false, no: false }, section: 'special', help: 'allow autodetected external mounts with master groups',
    criu: [D], where: 'mount.c: resolve_external_mounts', ours: [D], why: 'mount.c: only dump resolves external mounts' },
  { long: 'inherit-fd', arg: 'required', list: true, section: 'special', metavar: 'fd[NUM]:RES', help: 'Inherit file descriptors, treating fd NUM as being\nalready opened via an existing RES, which can be:\n    tty[rdev:dev]\n    pipe[inode]\n    socket[inode]\n    file[mnt_id:inode]\n    /memfd:name\n    path/to/file',
    criu: [R], where: 'files.c: inherit_fd_lookup_id', ours: [R], why: 'crtools.c: restore only',
    rejects: { on: 'others', msg: '--inherit-fd is restore-only option' } },
  { long: 'empty-ns', arg: 'required', list: true, section: 'special', metavar: 'net', help: "Create a namespace, but don't restore its properties\n(assuming it will be restored by action scripts)",
    criu: [D, R], where: 'net.c dump_net_ns (dump); cr-restore.c, net.c prepare_net_ns_* (restore)', ours: [D, R], why: 'net.c: only dump and restore of a net namespace read opts.empty_ns' },
  { long: 'join-ns', short: 'J', arg: 'required', list: true, section: 'special', metavar: 'NS:{PID|NS_FILE}[,OPTIONS]', help: 'Join existing namespace and restore process in it.\nNamespace can be specified as either pid or file path.\nOPTIONS can be used to specify parameters for userns:\n    user:PID,UID,GID',
    criu: [R], where: 'namespaces.c: join_namespaces (restore)', ours: [R], why: 'namespaces.c: only restore joins namespaces' },
  { long: 'veth-pair', arg: 'required', list: true, section: 'special', metavar: 'IN=OUT', help: 'restore veth device IN with its peer named OUT',
    criu: [R], where: 'net.c: veth_pair_add, used when restoring links', ours: [R], why: 'net.c: only restore creates veth devices' },
  { long: 'file-validation', arg: 'required', section: 'special', metavar: 'METHOD', help: "pass the validation method to be used; argument\ncan be 'filesize' or 'buildid' (default).",
    criu: [D, R], where: 'files-reg.c: store_validation_data (dump), validate_file (restore)', why: 'files-reg.c: only dump and restore of regular files read it' },
  { long: 'skip-file-rwx-check', arg: 'none', bool: { field: 'skip_file_rwx_check', def: false, no: true }, section: 'special', help: 'Skip checking file permissions\n(r/w/x for u/g/o) on restore.',
    criu: [R], where: 'files-reg.c: open_path', ours: [R], why: 'files-reg.c: only restore opens files by path' },
  { long: 'deprecated', arg: 'none', bool: { field: 'deprecated_ok', def: false, no: true }, section: 'special', help: 'allow deprecated image formats (also CRIU_DEPRECATED=1)',
    criu: [R], where: 'config.c deprecated_ok(), asked by cr-restore.c, timer.c, eventpoll.c, fsnotify.c, tty.c when reading old images', why: 'config.c deprecated_ok() is asked only while restoring old images' },
  { long: 'close', arg: 'required', list: true, section: 'other', metavar: 'FD',
    criu: [...MAIN, SW], where: 'config.c: close(fd) while parsing', why: '' },
  { long: 'ms', arg: 'none', section: 'other',
    criu: [], where: 'config.c', why: '', rejects: { on: 'others', msg: '--ms is deprecated; see "Check options" of criu --help' } },
  // ---- Check
  { long: 'extra', arg: 'none', bool: { field: 'check_extra_features', def: false, no: true }, section: 'check', help: 'add check for extra kernel features',
    criu: [C], where: 'cr-check.c: cr_check', why: 'cr-check.c: only check reads it' },
  { long: 'experimental', arg: 'none', bool: { field: 'check_experimental_features', def: false, no: true }, section: 'check', help: 'add check for experimental kernel features',
    criu: [C], where: 'cr-check.c: cr_check', why: 'cr-check.c: only check reads it' },
  { long: 'all', arg: 'none', section: 'check', help: 'same as --extra --experimental',
    criu: [C], where: 'cr-check.c: cr_check', ours: [C], why: 'cr-check.c: only check reads it' },
  { long: 'feature', arg: 'required', list: true, section: 'check', metavar: 'FEAT', help: 'only check a particular feature',
    criu: [C], where: 'cr-check.c: check_add_feature, cr_check', ours: [C], why: 'cr-check.c: only check runs the chosen feature (CRIU still rejects an unknown name on any command)' },
  // ---- Logging
  { long: 'log-file', short: 'o', arg: 'required', section: 'logging', metavar: 'FILE', help: 'log file name',
    criu: MAIN, where: 'crtools.c: log_init(opts.output)', ours: [D, R, C, SV, EX, SH], why: swrk, whyOn: { swrk } },
  { long: 'log-pid', arg: 'none', bool: { field: 'log_file_per_pid', def: false, no: true }, section: 'logging', help: 'enable per-process logging to separate FILE.pid files',
    criu: [R], where: 'log.c log_init_by_pid, from cr-restore.c restore_task_with_children', why: 'log.c: only restore forks criu processes per task that call log_init_by_pid' },
  { long: 'verbosity', short: 'v', arg: 'optional', section: 'logging', metavar: 'NUM',
    criu: MAIN, where: 'crtools.c: log_set_loglevel(opts.log_level)', ours: [D, R, C, SV, EX, SH], why: swrk, whyOn: { swrk } },
  { long: 'display-stats', arg: 'none', bool: { field: 'display_stats', def: false, no: true }, section: 'logging', help: 'print out dump/restore stats',
    criu: [D, P, R], where: 'stats.c: write_stats', ours: [D, R], why: 'stats.c: only dump, pre-dump and restore write stats' },
  // ---- Memory
  { long: 'track-mem', arg: 'none', bool: { field: 'track_mem', def: false, no: true }, section: 'memory', help: 'turn on memory changes tracker in kernel',
    criu: [D], where: 'mem.c task_reset_dirty_track; image.c inventory', why: 'mem.c: only dump and pre-dump track memory (config.c check_options still refuses it on a kernel without soft-dirty)',
    whyOn: { 'pre-dump': 'cr-dump.c: cr_pre_dump_tasks enforces memory tracking anyway' } },
  { long: 'prev-images-dir', arg: 'required', section: 'memory', metavar: 'DIR', help: 'path to images from previous dump (relative to -D)',
    criu: [D, P, R, LP, C, PS, DD, CD, CC, EX, SH], where: 'image.c open_image_dir: links DIR as the images dir\'s parent; mem.c, pagemap.c read through it', why: 'crtools.c: service does not open the images dir', whyOn: { swrk } },
  { long: 'page-server', arg: 'none', bool: { field: 'use_page_server', def: false, no: true }, section: 'memory', help: 'send pages to page server (see options below as well)',
    criu: [D, P, LP], where: 'page-xfer.c connect_to_page_server (dump, pre-dump); uffd.c (lazy-pages)', why: 'page-xfer.c/uffd.c: only dump, pre-dump and lazy-pages talk to a page server' },
  { long: 'auto-dedup', arg: 'none', bool: { field: 'auto_dedup', def: false, no: true }, section: 'memory', help: 'when used on dump it will deduplicate "old" data in\npages images of previous dump\nwhen used on restore, as soon as page is restored, it\nwill be punched from the image',
    criu: [D, P, R, PS, LP], where: 'page-xfer.c write_pagemap_loc; pagemap.c read_local_page; cr-restore.c', why: 'page-xfer.c, pagemap.c: no pages are written or read on this command' },
  { long: 'pre-dump-mode', arg: 'required', section: 'memory', metavar: 'MODE', help: 'splice - parasite based pre-dumping (default)\nread   - process_vm_readv syscall based pre-dumping',
    criu: [P], where: 'mem.c: generate_vma_iovs, parasite_dump_pages_seized (mdc->pre_dump)', why: 'mem.c: only pre-dump (mdc->pre_dump) reads opts.pre_dump_mode' },
  // ---- Page/Service server
  { long: 'address', arg: 'required', section: 'server', metavar: 'ADDR', help: 'address of server or service',
    criu: [D, P, LP, PS, SV], where: 'page-xfer.c cr_page_server, connect_to_page_server; cr-service.c (socket path)', ours: [SV], why: 'page-xfer.c, cr-service.c: only a page server, its clients and service read opts.addr',
    onlyWith: { opt: 'page-server', on: [D, P, LP] } },
  { long: 'port', arg: 'required', section: 'server', metavar: 'PORT', help: 'port of page server',
    criu: [D, P, LP, PS], where: 'page-xfer.c cr_page_server; util.c setup_tcp_client', why: 'page-xfer.c: only a page server and its clients read opts.port',
    onlyWith: { opt: 'page-server', on: [D, P, LP] } },
  { long: 'ps-socket', arg: 'required', section: 'server', metavar: 'FD', help: 'use specified FD as page server socket',
    criu: [D, P, LP, PS], where: 'page-xfer.c: cr_page_server, connect_to_page_server', why: 'page-xfer.c: only a page server and its clients read opts.ps_socket',
    onlyWith: { opt: 'page-server', on: [D, P, LP] } },
  { long: 'daemon', arg: 'none', bool: { field: 'restore_detach', def: false, no: true }, section: 'server', help: 'run in the background after creating socket',
    criu: [R, PS, LP, SV], where: 'crtools.c: opts.daemon_mode (the same field as --restore-detached)', ours: [R, SV],
    why: 'crtools.c: opts.daemon_mode (restore_detach) is read by restore, page-server, lazy-pages and service only' },
  { long: 'status-fd', arg: 'required', section: 'server', metavar: 'FD', help: 'write \\0 to the FD and close it once process is ready\nto handle requests',
    criu: [PS, LP, SV], where: 'util.c: status_ready (page server, lazy-pages, service)', ours: [SV], why: 'util.c: status_ready() is called by page-server, lazy-pages and service only' },
  ...(['tls-cacert', 'tls-cacrl', 'tls-cert', 'tls-key'] as const).map((long): Opt => ({
    long, arg: 'required', section: 'server', metavar: 'FILE',
    help: { 'tls-cacert': 'trust certificates signed only by this CA', 'tls-cacrl': 'path to CA certificate revocation list file', 'tls-cert': 'path to TLS certificate file', 'tls-key': 'path to TLS private key file' }[long],
    criu: [D, P, LP, PS], where: 'tls.c: tls_x509_init', why: 'tls.c: only a page server and its clients use TLS', onlyWith: { opt: 'page-server', on: [D, P, LP] },
  })),
  { long: 'tls', arg: 'none', bool: { field: 'tls', def: false, no: true }, section: 'server', help: 'use TLS to secure remote connection',
    criu: [D, P, LP, PS], where: 'page-xfer.c, tls.c', why: 'tls.c: only a page server and its clients use TLS', onlyWith: { opt: 'page-server', on: [D, P, LP] } },
  { long: 'tls-no-cn-verify', arg: 'none', bool: { field: 'tls_no_cn_verify', def: false, no: false }, section: 'server', help: 'do not verify common name in server certificate',
    criu: [D, P, LP], where: 'tls.c: tls_x509_verify_peer_cert', why: 'tls.c: only page server clients verify a certificate', onlyWith: { opt: 'page-server', on: [D, P, LP] } },
  // ---- Configuration files
  { long: 'config', arg: 'required', section: 'config', metavar: 'FILEPATH', help: 'pass a specific configuration file',
    criu: [...MAIN, SW], where: 'config.c: pre_parse, next_config', ours: [...MAIN, SW], why: '' },
  { long: 'no-default-config', arg: 'none', section: 'config', help: 'forbid usage of default configuration files',
    criu: [...MAIN, SW], where: 'config.c: pre_parse', ours: [...MAIN, SW], why: '' },
  // ---- Other
  { long: 'help', short: 'h', arg: 'none', section: 'other', help: 'show this text', criu: [...MAIN, SW], where: 'crtools.c: usage', ours: [...MAIN, SW], why: '' },
  { long: 'version', short: 'V', arg: 'none', section: 'other', help: 'show version', criu: [...MAIN, SW], where: 'config.c: prints CRIU_VERSION', ours: [...MAIN, SW], why: '' },
];

// exec and show only report that they are gone (crtools.c), so every other option is moot there
const EXEC_SHOW_KEEP = new Set([
  'images-dir',
  'work-dir',
  'log-file',
  'verbosity',
  'prev-images-dir',
  'close',
  'config',
  'no-default-config',
  'help',
  'version',
  'ms',
  'exec-cmd',
  'inherit-fd',
  'stream',
  'mntns-compat-mode',
]);
for (const o of OPTS) {
  if (EXEC_SHOW_KEEP.has(o.long)) continue;
  o.whyOn = {
    ...o.whyOn,
    exec: 'crtools.c: the exec action only reports that it is deprecated',
    show: 'crtools.c: the show action only reports that it is deprecated',
  };
}

/** the long_opts[] order of config.c (getopt_long lists an ambiguous abbreviation's candidates in it) */
export const CRIU_LONG_ORDER =
  'tree leave-stopped leave-running restore-detached no-restore-detached restore-sibling no-restore-sibling daemon no-daemon images-dir work-dir log-file join-ns root ext-unix-sk help tcp-established no-tcp-established close log-pid no-log-pid version evasive-devices no-evasive-devices pidfile veth-pair action-script link-remap no-link-remap shell-job no-shell-job file-locks no-file-locks page-server no-page-server address port prev-images-dir ms track-mem no-track-mem auto-dedup no-auto-dedup libdir cpu-cap force-irmap no-force-irmap ext-mount-map exec-cmd manage-cgroups cgroup-root inherit-fd feature skip-mnt enable-fs enable-external-sharing enable-external-masters freeze-cgroup ghost-limit irmap-scan-path lsm-profile timeout external empty-ns lazy-pages extra no-extra experimental no-experimental all cgroup-props cgroup-props-file cgroup-dump-controller skip-in-flight no-skip-in-flight deprecated no-deprecated display-stats no-display-stats weak-sysctls no-weak-sysctls status-fd tcp-close no-tcp-close verbosity ps-socket stream no-stream config no-default-config tls-cacert tls-cacrl tls-cert tls-key tls no-tls tls-no-cn-verify cgroup-yard pre-dump-mode file-validation skip-file-rwx-check no-skip-file-rwx-check lsm-mount-context network-lock mntns-compat-mode no-mntns-compat-mode unprivileged no-unprivileged ghost-fiemap no-ghost-fiemap allow-uprobes no-allow-uprobes'.split(
    ' ',
  );

export const byLong = new Map(OPTS.map((o) => [o.long, o]));

export type Verdict =
  { kind: 'acts' } | { kind: 'refused' } | { kind: 'ignored'; why: string; warn?: string } | { kind: 'rejects'; msg: string; usage: boolean };

/** What happens to option `o` on command `cmd` (with `set` telling which other options are in effect). */
export function verdict(o: Opt, cmd: Cmd, set: (long: string) => boolean = () => false): Verdict {
  if (o.rejects && (o.rejects.on === 'others' ? !o.criu.includes(cmd) : o.rejects.on.includes(cmd))) {
    return { kind: 'rejects', msg: o.rejects.msg.replace('%s', cmd.split(' ')[0]), usage: !!o.rejects.usage };
  }
  const special = o.whyOn?.[cmd];
  let criuActs = o.criu.includes(cmd);
  if (cmd === 'swrk' && !o.whyOn?.swrk && !criuActs) {
    // swrk keeps the command line's opts as the defaults of every request it serves
    criuActs = o.criu.some((c) => ([D, P, R, C, PS, LP] as string[]).includes(c));
    if (criuActs) return { kind: 'refused' };
  }
  if (cmd === 'service' && criuActs === false && !special) return { kind: 'ignored', why: notService(`--${o.long}`) };
  if (criuActs && !special) {
    if (o.onlyWith?.on.includes(cmd) && !set(o.onlyWith.opt)) {
      return { kind: 'ignored', why: `${o.where.split(':')[0]}: ${cmd} reads --${o.long} only with --${o.onlyWith.opt}` };
    }
    return o.ours?.includes(cmd) ? { kind: 'acts' } : { kind: 'refused' };
  }
  return { kind: 'ignored', why: special ?? o.why, warn: o.warnOn?.[cmd] };
}
