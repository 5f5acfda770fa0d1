// Image types of CRIU 4.2: file name, magic numbers and what each file holds.

import type { MessageName } from './gen/types.js';

/** First magic of every image file except inventory.img. */
export const IMG_COMMON_MAGIC = 0x54564319;
/** First magic of service files (stats-dump, stats-restore, irmap-cache). */
export const IMG_SERVICE_MAGIC = 0x55105940;
/** inventory.img starts with its own magic only. */
export const INVENTORY_MAGIC = 0x58313116;
/** Magic of CRIU's kerndat cache file (not an image of a dump). */
export const KDAT_MAGIC = 0x57023458;

/**
 * How entries and their trailing payloads are laid out:
 * - plain:   every entry is `message`;
 * - pagemap: a pagemap_head, then pagemap_entry items;
 * - ghost:   a ghost_file_entry, then either the file contents up to the end of the
 *            file, or (chunks = true) ghost_chunk_entry items each followed by `len` bytes.
 */
export type ImageLayout = 'plain' | 'pagemap' | 'ghost';

/**
 * Raw bytes that follow an entry:
 * - pipe: pipe_data_entry.bytes;  skq: sk_packet_entry.length;
 * - tcp:  tcp_stream_entry inq_len + outq_len (in queue, then out queue);
 * - bpf:  bpfmap_data_entry keys_bytes + values_bytes;
 * - sem:  nsems u16 values padded to 8 bytes;  shm: size bytes padded to 4 (none if in_pagemaps);
 * - msg:  qnum times (u32 length, ipc_msg, msize bytes padded to 8).
 */
export type ExtraKind = 'pipe' | 'skq' | 'tcp' | 'bpf' | 'sem' | 'shm' | 'msg';

export interface ImageKind {
  /** Name used by crit's JSON "magic" key (CRIU's magic.h name without _MAGIC). */
  name: string;
  /** Type magic; 0 for raw images, which have no header. */
  magic: number;
  /** File name patterns as CRIU formats them (%u, %lu, %d, %x, %s). */
  files: string[];
  /** protobuf message of the entries (the first entry for pagemap/ghost layouts). */
  message?: string;
  layout: ImageLayout;
  extra?: ExtraKind;
  /** Starts with IMG_SERVICE_MAGIC instead of IMG_COMMON_MAGIC. */
  service?: boolean;
  /** No header and no protobuf entries (pages-N.img, iptables dumps, tarballs ...). */
  raw?: boolean;
}

/**
 * The message of each image kind's entries (its first entry for PAGEMAP and GHOST_FILE, whose
 * later entries are pagemap_entry and ghost_chunk_entry): the one list the table below and the
 * typed readers and writers (typed.ts) are built from.
 */
export const KIND_MESSAGE = {
  INVENTORY: 'inventory_entry',
  FDINFO: 'fdinfo_entry',
  PAGEMAP: 'pagemap_head',
  REG_FILES: 'reg_file_entry',
  EXT_FILES: 'ext_file_entry',
  NS_FILES: 'ns_file_entry',
  EVENTFD_FILE: 'eventfd_file_entry',
  EVENTPOLL_FILE: 'eventpoll_file_entry',
  EVENTPOLL_TFD: 'eventpoll_tfd_entry',
  SIGNALFD: 'signalfd_entry',
  INOTIFY_FILE: 'inotify_file_entry',
  INOTIFY_WD: 'inotify_wd_entry',
  FANOTIFY_FILE: 'fanotify_file_entry',
  FANOTIFY_MARK: 'fanotify_mark_entry',
  CORE: 'core_entry',
  IDS: 'task_kobj_ids_entry',
  MM: 'mm_entry',
  VMAS: 'vma_entry',
  PIPES: 'pipe_entry',
  PIPES_DATA: 'pipe_data_entry',
  FIFO: 'fifo_entry',
  FIFO_DATA: 'pipe_data_entry',
  PSTREE: 'pstree_entry',
  SIGACT: 'sa_entry',
  UNIXSK: 'unix_sk_entry',
  INETSK: 'inet_sk_entry',
  PACKETSK: 'packet_sock_entry',
  NETLINK_SK: 'netlink_sk_entry',
  SK_QUEUES: 'sk_packet_entry',
  ITIMERS: 'itimer_entry',
  POSIX_TIMERS: 'posix_timer_entry',
  CREDS: 'creds_entry',
  UTSNS: 'utsns_entry',
  IPC_VAR: 'ipc_var_entry',
  IPCNS_SHM: 'ipc_shm_entry',
  IPCNS_MSG: 'ipc_msg_entry',
  IPCNS_SEM: 'ipc_sem_entry',
  FS: 'fs_entry',
  REMAP_FPATH: 'remap_file_path_entry',
  GHOST_FILE: 'ghost_file_entry',
  MEMFD_INODE: 'memfd_inode_entry',
  TCP_STREAM: 'tcp_stream_entry',
  MNTS: 'mnt_entry',
  NETDEV: 'net_device_entry',
  NETNS: 'netns_entry',
  AUTOFS: 'autofs_entry',
  TTY_FILES: 'tty_file_entry',
  TTY_INFO: 'tty_info_entry',
  TTY_DATA: 'tty_data_entry',
  FILE_LOCKS: 'file_lock_entry',
  RLIMIT: 'rlimit_entry',
  TUNFILE: 'tunfile_entry',
  CGROUP: 'cgroup_entry',
  TIMERFD: 'timerfd_entry',
  CPUINFO: 'cpuinfo_entry',
  SECCOMP: 'seccomp_entry',
  USERNS: 'userns_entry',
  FILES: 'file_entry',
  TIMENS: 'timens_entry',
  PIDNS: 'pidns_entry',
  BPFMAP_FILE: 'bpfmap_file_entry',
  BPFMAP_DATA: 'bpfmap_data_entry',
  APPARMOR: 'apparmor_entry',
  PIDFD: 'pidfd_entry',
  STATS: 'stats_entry',
  IRMAP_CACHE: 'irmap_cache_entry',
  BINFMT_MISC: 'binfmt_misc_entry',
  SIGNAL: 'siginfo_entry',
} as const satisfies Record<string, MessageName>;
export type KindName = keyof typeof KIND_MESSAGE;

function k<N extends KindName>(name: N, magic: number, files: string | string[], message: (typeof KIND_MESSAGE)[N], more: Partial<ImageKind> = {}): ImageKind {
  return { name, magic, files: Array.isArray(files) ? files : [files], message, layout: 'plain', ...more };
}
function raw(name: string, files: string | string[]): ImageKind {
  return { name, magic: 0, files: Array.isArray(files) ? files : [files], layout: 'plain', raw: true };
}

// prettier-ignore
export const IMAGE_KINDS: readonly ImageKind[] = [
  k('INVENTORY', 0x58313116, 'inventory.img', 'inventory_entry'),
  k('FDINFO', 0x56213732, 'fdinfo-%u.img', 'fdinfo_entry'),
  k('PAGEMAP', 0x56084025, ['pagemap-%lu.img', 'pagemap-shmem-%lu.img'], 'pagemap_head', { layout: 'pagemap' }),
  k('REG_FILES', 0x50363636, 'reg-files.img', 'reg_file_entry'),
  k('EXT_FILES', 0x59255641, 'ext-files.img', 'ext_file_entry'),
  k('NS_FILES', 0x61394011, 'ns-files.img', 'ns_file_entry'),
  k('EVENTFD_FILE', 0x44523722, 'eventfd.img', 'eventfd_file_entry'),
  k('EVENTPOLL_FILE', 0x45023858, 'eventpoll.img', 'eventpoll_file_entry'),
  k('EVENTPOLL_TFD', 0x44433746, 'eventpoll-tfd.img', 'eventpoll_tfd_entry'),
  k('SIGNALFD', 0x57323820, 'signalfd.img', 'signalfd_entry'),
  k('INOTIFY_FILE', 0x48424431, 'inotify.img', 'inotify_file_entry'),
  k('INOTIFY_WD', 0x54562009, 'inotify-wd.img', 'inotify_wd_entry'),
  k('FANOTIFY_FILE', 0x55096122, 'fanotify.img', 'fanotify_file_entry'),
  k('FANOTIFY_MARK', 0x56506035, 'fanotify-mark.img', 'fanotify_mark_entry'),
  k('CORE', 0x55053847, 'core-%u.img', 'core_entry'),
  k('IDS', 0x54432030, 'ids-%u.img', 'task_kobj_ids_entry'),
  k('MM', 0x57492820, 'mm-%u.img', 'mm_entry'),
  k('VMAS', 0x54123737, 'vmas-%u.img', 'vma_entry'),
  k('PIPES', 0x56513555, 'pipes.img', 'pipe_entry'),
  k('PIPES_DATA', 0x56453709, 'pipes-data.img', 'pipe_data_entry', { extra: 'pipe' }),
  k('FIFO', 0x58364939, 'fifo.img', 'fifo_entry'),
  k('FIFO_DATA', 0x59333054, 'fifo-data.img', 'pipe_data_entry', { extra: 'pipe' }),
  k('PSTREE', 0x50273030, 'pstree.img', 'pstree_entry'),
  k('SIGACT', 0x55344201, 'sigacts-%u.img', 'sa_entry'),
  k('UNIXSK', 0x54373943, 'unixsk.img', 'unix_sk_entry'),
  k('INETSK', 0x56443851, 'inetsk.img', 'inet_sk_entry'),
  k('PACKETSK', 0x60454618, 'packetsk.img', 'packet_sock_entry'),
  k('NETLINK_SK', 0x58005614, 'netlinksk.img', 'netlink_sk_entry'),
  k('SK_QUEUES', 0x56264026, 'sk-queues.img', 'sk_packet_entry', { extra: 'skq' }),
  k('ITIMERS', 0x57464056, 'itimers-%u.img', 'itimer_entry'),
  k('POSIX_TIMERS', 0x52603957, 'posix-timers-%u.img', 'posix_timer_entry'),
  k('CREDS', 0x54023547, 'creds-%u.img', 'creds_entry'),
  k('UTSNS', 0x54473203, 'utsns-%u.img', 'utsns_entry'),
  k('IPC_VAR', 0x53115007, 'ipcns-var-%u.img', 'ipc_var_entry'),
  k('IPCNS_SHM', 0x46283044, 'ipcns-shm-%u.img', 'ipc_shm_entry', { extra: 'shm' }),
  k('IPCNS_MSG', 0x55453737, 'ipcns-msg-%u.img', 'ipc_msg_entry', { extra: 'msg' }),
  k('IPCNS_SEM', 0x59573019, 'ipcns-sem-%u.img', 'ipc_sem_entry', { extra: 'sem' }),
  k('FS', 0x51403912, 'fs-%u.img', 'fs_entry'),
  k('REMAP_FPATH', 0x59133954, 'remap-fpath.img', 'remap_file_path_entry'),
  k('GHOST_FILE', 0x52583605, 'ghost-file-%x.img', 'ghost_file_entry', { layout: 'ghost' }),
  k('MEMFD_INODE', 0x48453499, 'memfd.img', 'memfd_inode_entry'),
  k('TCP_STREAM', 0x51465506, 'tcp-stream-%x.img', 'tcp_stream_entry', { extra: 'tcp' }),
  k('MNTS', 0x55563928, 'mountpoints-%u.img', 'mnt_entry'),
  k('NETDEV', 0x57373951, 'netdev-%u.img', 'net_device_entry'),
  k('NETNS', 0x55933752, 'netns-%u.img', 'netns_entry'),
  k('AUTOFS', 0x49353943, 'autofs-%u.img', 'autofs_entry'),
  k('BINFMT_MISC', 0x67343323, ['binfmt-misc.img', 'binfmt-misc-%u.img'], 'binfmt_misc_entry'),
  k('TTY_FILES', 0x59433025, 'tty.img', 'tty_file_entry'),
  k('TTY_INFO', 0x59453036, 'tty-info.img', 'tty_info_entry'),
  k('TTY_DATA', 0x59413026, 'tty-data.img', 'tty_data_entry'),
  k('FILE_LOCKS', 0x54323616, 'filelocks.img', 'file_lock_entry'),
  k('RLIMIT', 0x57113925, 'rlimit-%u.img', 'rlimit_entry'),
  k('SIGNAL', 0x59255647, ['signal-s-%u.img', 'signal-p-%u.img'], 'siginfo_entry'),
  k('TUNFILE', 0x57143751, 'tunfile.img', 'tunfile_entry'),
  k('CGROUP', 0x59383330, 'cgroup.img', 'cgroup_entry'),
  k('TIMERFD', 0x50493712, 'timerfd.img', 'timerfd_entry'),
  k('CPUINFO', 0x61404013, 'cpuinfo.img', 'cpuinfo_entry'),
  k('SECCOMP', 0x64413049, 'seccomp.img', 'seccomp_entry'),
  k('USERNS', 0x55474906, 'userns-%u.img', 'userns_entry'),
  k('FILES', 0x56303138, 'files.img', 'file_entry'),
  k('TIMENS', 0x43114433, 'timens-%u.img', 'timens_entry'),
  k('PIDNS', 0x61157326, 'pidns-%u.img', 'pidns_entry'),
  k('BPFMAP_FILE', 0x57506142, 'bpfmap-file.img', 'bpfmap_file_entry'),
  k('BPFMAP_DATA', 0x64324033, 'bpfmap-data.img', 'bpfmap_data_entry', { extra: 'bpf' }),
  k('APPARMOR', 0x59423047, 'apparmor.img', 'apparmor_entry'),
  k('PIDFD', 0x54435556, 'pidfd.img', 'pidfd_entry'),
  k('STATS', 0x57093306, 'stats-%s', 'stats_entry', { service: true }),
  k('IRMAP_CACHE', 0x57004059, 'irmap-cache', 'irmap_cache_entry', { service: true }),
  raw('PAGES', ['pages-%u.img', 'pages-shmem-%ld.img']),
  raw('IFADDR', 'ifaddr-%u.img'),
  raw('ROUTE', 'route-%u.img'),
  raw('ROUTE6', 'route6-%u.img'),
  raw('RULE', 'rule-%u.img'),
  raw('IPTABLES', 'iptables-%u.img'),
  raw('IP6TABLES', 'ip6tables-%u.img'),
  raw('NFTABLES', 'nftables-%u.img'),
  raw('TMPFS_IMG', 'tmpfs-%u.tar.gz.img'),
  raw('TMPFS_DEV', 'tmpfs-dev-%u.tar.gz.img'),
  raw('NETNF_CT', 'netns-ct-%u.img'),
  raw('NETNF_EXP', 'netns-exp-%u.img'),
];

const byName = new Map<string, ImageKind>();
const byMagic = new Map<number, ImageKind>();
for (const kind of IMAGE_KINDS) {
  byName.set(kind.name, kind);
  if (!kind.raw) byMagic.set(kind.magic, kind);
}

/** The image kind with this crit name ("CORE", "PAGEMAP", ...), if any. */
export function kindByName(name: string): ImageKind | undefined {
  return byName.get(name);
}

/** The image kind with this type magic, if any. */
export function kindByMagic(magic: number): ImageKind | undefined {
  return byMagic.get(magic);
}

function patternToRegExp(p: string): RegExp {
  const parts = p.split(/(%l?[udx]|%ld|%s)/);
  let re = '';
  for (const part of parts) {
    if (part === '%u' || part === '%lu') re += '\\d+';
    else if (part === '%d' || part === '%ld') re += '-?\\d+';
    else if (part === '%x') re += '[0-9a-f]+';
    else if (part === '%s') re += '.+';
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const fileMatchers: Array<[RegExp, ImageKind]> = [];
for (const kind of IMAGE_KINDS) for (const f of kind.files) fileMatchers.push([patternToRegExp(f), kind]);
// Longer literal prefixes first, so that "pagemap-shmem-1.img" is not taken for "pagemap-%lu.img" etc.
fileMatchers.sort((a, b) => b[0].source.length - a[0].source.length);

/** The image kind CRIU uses for a file of this name (basename), e.g. core-12.img -> CORE. */
export function kindForFileName(fileName: string): ImageKind | undefined {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  for (const [re, kind] of fileMatchers) if (re.test(base)) return kind;
  return undefined;
}

/** Name of a magic number as pycriu's magic table spells it (IMG_COMMON, CORE, ...). */
export function magicName(magic: number): string | undefined {
  if (magic === IMG_COMMON_MAGIC) return 'IMG_COMMON';
  if (magic === IMG_SERVICE_MAGIC) return 'IMG_SERVICE';
  if (magic === KDAT_MAGIC) return 'KDAT';
  return byMagic.get(magic)?.name;
}
