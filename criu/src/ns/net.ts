// The network namespace of a tree, empty but for lo (CRIU's net.c): netns-ID.img (NetnsEntry:
// the ipv4/ipv6 conf of `all` and `default`, net.unix.max_dgram_qlen, net.ipv4.ping_group_range),
// netdev-ID.img (lo: flags, MTU, its own ipv4/ipv6 conf), and as CRIU writes them the raw
// outputs of the tools it runs inside the namespace: ifaddr-ID.img (`ip addr save`),
// route-ID.img and route6-ID.img (`ip route save`, `ip -6 route save`), rule-ID.img
// (`ip rule save`), iptables-ID.img / ip6tables-ID.img (the legacy iptables-save, as a CRIU built
// with nftables runs it; empty where there is none), nftables-ID.img (`nft list ruleset`),
// netns-ct-ID.img / netns-exp-ID.img (conntrack: empty).
// Refused by name: a link other than lo, a route the kernel did not make itself, a rule other
// than the default ones, a firewall rule other than the dump's own network lock.
// Restore, in CRIU's order: the namespace's conf, lo (RTM_SETLINK: flags and MTU, then its
// conf), then `ip addr/route/rule restore`, the firewall (iptables-restore, nft -f).
// Sockets the tool makes for a tree in its own network namespace are made in it (`adopt`: the
// socket() wrapper of sys/libc.ts), at the dump (diag sockets) and at the restore.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import type { NetDeviceEntry, NetnsEntry, SysctlEntry } from '../images/index.js';
import { readMessagesOf, writeMessages } from '../images/typed.js';
import { links, linkEntry, restoreLinks, needsToolNet, openToolNet, closeToolNet, fillTunQueues, type ToolNet } from './net-links.js';
import { socketsIn } from '../net/tree-netns.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { childProcess, toolPath, nsenterNet } from '../sys/tools.js';
import { sysctlRead, CLONE_NEWNET } from './sysv.js';
import { badImage, type NsKind } from './kind.js';

/** CRIU 4.2's devconfs4, in its order (the image's conf4 arrays follow it) */
export const DEVCONFS4 = [
  'accept_local',
  'accept_redirects',
  'accept_source_route',
  'arp_accept',
  'arp_announce',
  'arp_filter',
  'arp_ignore',
  'arp_notify',
  'bootp_relay',
  'disable_policy',
  'disable_xfrm',
  'force_igmp_version',
  'forwarding',
  'igmpv2_unsolicited_report_interval',
  'igmpv3_unsolicited_report_interval',
  'log_martians',
  'medium_id',
  'promote_secondaries',
  'proxy_arp',
  'proxy_arp_pvlan',
  'route_localnet',
  'rp_filter',
  'secure_redirects',
  'send_redirects',
  'shared_media',
  'src_valid_mark',
  'tag',
  'ignore_routes_with_linkdown',
  'drop_gratuitous_arp',
  'drop_unicast_in_l2_multicast',
];
/** CRIU 4.2's devconfs6, in its order */
export const DEVCONFS6 = [
  'accept_dad',
  'accept_ra',
  'accept_ra_defrtr',
  'accept_ra_from_local',
  'accept_ra_min_hop_limit',
  'accept_ra_mtu',
  'accept_ra_pinfo',
  'accept_ra_rt_info_max_plen',
  'accept_ra_rtr_pref',
  'accept_redirects',
  'accept_source_route',
  'autoconf',
  'dad_transmits',
  'disable_ipv6',
  'drop_unicast_in_l2_multicast',
  'drop_unsolicited_na',
  'force_mld_version',
  'force_tllao',
  'forwarding',
  'hop_limit',
  'ignore_routes_with_linkdown',
  'keep_addr_on_down',
  'max_addresses',
  'max_desync_factor',
  'mldv1_unsolicited_report_interval',
  'mldv2_unsolicited_report_interval',
  'mtu',
  'ndisc_notify',
  'optimistic_dad',
  'proxy_ndp',
  'regen_max_retry',
  'router_probe_interval',
  'router_solicitation_delay',
  'router_solicitation_interval',
  'router_solicitations',
  'stable_secret',
  'suppress_frag_ndisc',
  'temp_prefered_lft',
  'temp_valid_lft',
  'use_oif_addrs_only',
  'use_optimistic',
  'use_tempaddr',
];
const CTL_STR = 5,
  CTL_32 = 6;

/** the raw images, in CRIU's _CR_FD_NETNS order */
const RAW = ['ifaddr', 'route', 'route6', 'rule', 'iptables', 'ip6tables', 'nftables', 'netns-ct', 'netns-exp'] as const;
type RawName = (typeof RAW)[number];

export interface NetDump {
  /** dumped with --empty-ns net: netns-ID.img and netdev-ID.img hold no entry */
  empty?: boolean;
  /** dumped as external (--external net[INO]:KEY): netns-ID.img holds the key only */
  external?: boolean;
  netns: NetnsEntry;
  links: NetDeviceEntry[];
  raw: Partial<Record<RawName, Buffer>>;
  /** dump: the ifindexes of veth (macvlan) links whose peer (parent) is in another namespace (no peer_nsid written) */
  externalPeers?: number[];
  /** restore: the tool's own network namespace, where such peers are made (and macvlans' parents are) */
  tool?: ToolNet;
}

// ---------------------------------------------------------------- what the tool is told

// ---------------------------------------------------------------- sysctls

function readConf(proto: 'ipv4' | 'ipv6', tgt: string, names: string[]): SysctlEntry[] {
  return names.map((n) => {
    const str = proto === 'ipv6' && n === 'stable_secret';
    const e: SysctlEntry = { type: str ? CTL_STR : CTL_32 };
    const v = sysctlRead(`net/${proto}/conf/${tgt}/${n}`);
    if (v === undefined) return e;
    if (str) e.sarg = v;
    else e.iarg = Number(v) | 0;
    return e;
  });
}

/** a sysctl of the namespace set when it differs (CRIU writes the same values; one read is cheaper than a failed write) */
function writeSysctl(name: string, e: SysctlEntry): void {
  const want = e.type === CTL_STR ? e.sarg : e.iarg === undefined ? undefined : String(e.iarg);
  if (want === undefined) return;
  const now = sysctlRead(name);
  if (now === undefined) {
    log.warn(`net: /proc/sys/${name} is not in this kernel: ${want} not restored`);
    return;
  }
  if (now.replace(/\s+/g, ' ') === want.replace(/\s+/g, ' ')) return;
  try {
    fs.writeFileSync(`/proc/sys/${name}`, want);
  } catch (err) {
    throw new CriuError(`cannot write ${JSON.stringify(want)} to /proc/sys/${name} in the restored network namespace: ${(err as Error).message}`, {
      object: `/proc/sys/${name}`,
      hint: 'this kernel refuses the dumped value',
    });
  }
}

function writeConf(proto: 'ipv4' | 'ipv6', tgt: string, names: string[], conf: SysctlEntry[] | undefined): void {
  if (!conf) return;
  if (conf.length > names.length) log.warn(`net: the image has ${conf.length - names.length} ${proto} sysctls of ${tgt} this tool does not know`);
  let redirects = -1;
  names.forEach((n, i) => {
    if (i >= conf.length) return;
    // accept_redirects goes last: forwarding changes it
    if (n === 'accept_redirects') redirects = i;
    else writeSysctl(`net/${proto}/conf/${tgt}/${n}`, conf[i]);
  });
  if (redirects >= 0 && redirects < conf.length) writeSysctl(`net/${proto}/conf/${tgt}/accept_redirects`, conf[redirects]);
}

function readNetns(): NetnsEntry {
  const e: NetnsEntry = {
    def_conf4: readConf('ipv4', 'default', DEVCONFS4),
    all_conf4: readConf('ipv4', 'all', DEVCONFS4),
    def_conf6: readConf('ipv6', 'default', DEVCONFS6),
    all_conf6: readConf('ipv6', 'all', DEVCONFS6),
  };
  const qlen = sysctlRead('net/unix/max_dgram_qlen');
  if (qlen !== undefined) e.unix_conf = [{ type: CTL_32, iarg: Number(qlen) | 0 }];
  const pgr = sysctlRead('net/ipv4/ping_group_range');
  if (pgr !== undefined) {
    // the default "1 0" (no group may make ICMP echo sockets) is left out, as CRIU does
    const [a, b] = pgr.split(/\s+/).map(Number);
    e.ipv4_sysctl = [a === 1 && b === 0 ? { type: CTL_STR } : { type: CTL_STR, sarg: `${a}\t${b}` }];
  }
  return e;
}

function restoreNetnsConf(e: NetnsEntry): void {
  if (e.def_conf && !e.def_conf4)
    throw new NotSupportedError('netns image: the ipv4 conf in the pre-sysctl_entry form (def_conf)', 'images of CRIU before 3.x');
  writeConf('ipv4', 'all', DEVCONFS4, e.all_conf4);
  writeConf('ipv4', 'default', DEVCONFS4, e.def_conf4);
  writeConf('ipv6', 'all', DEVCONFS6, e.all_conf6);
  writeConf('ipv6', 'default', DEVCONFS6, e.def_conf6);
  if (e.unix_conf?.length) writeSysctl('net/unix/max_dgram_qlen', e.unix_conf[0]);
  if (e.ipv4_sysctl?.length) writeSysctl('net/ipv4/ping_group_range', e.ipv4_sysctl[0]);
}

// ---------------------------------------------------------------- the tools CRIU runs inside

/** a command run inside the network namespace of task `pid` (nsenter), its stdout; undefined when it may fail and did */
function inNet(pid: number, cmd: string[], opts: { input?: Buffer; mayFail?: boolean } = {}): Buffer | undefined {
  log.debug(`\tRunning ${cmd.join(' ')} in the network namespace of task ${pid}`);
  // stdin from a file, as CRIU's restore_ip_dump (a tmpfile): `ip route restore` seeks in it
  let stdin: number | 'ignore' = 'ignore';
  if (opts.input) {
    const f = path.join(os.tmpdir(), `criu-ts-net-${process.pid}-${Date.now()}`);
    fs.writeFileSync(f, opts.input, { mode: 0o600 });
    stdin = fs.openSync(f, 'r');
    fs.unlinkSync(f);
  }
  let r: ReturnType<typeof spawnOut>;
  try {
    r = spawnOut(pid, cmd, stdin);
  } finally {
    if (typeof stdin === 'number') fs.closeSync(stdin);
  }
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.toString().trim() || `exit status ${r.status}`;
    if (opts.mayFail) {
      log.debug(`${cmd.join(' ')}: ${why}`);
      return undefined;
    }
    throw new CriuError(`network namespace of task ${pid}: ${cmd.join(' ')} failed: ${why}`, {
      object: cmd[0],
      hint: /ENOENT/.test(why)
        ? `install ${cmd[0] === 'nft' ? 'nftables' : cmd[0].startsWith('ip') && !cmd[0].includes('tables') ? 'iproute2' : 'iptables'}`
        : 'see the error of the tool',
    });
  }
  return r.stdout;
}

const spawnOut = (pid: number, cmd: string[], stdin: number | 'ignore') =>
  childProcess().spawnSync('nsenter', nsenterNet(`/proc/${pid}/ns/net`, cmd[0], cmd.slice(1)), {
    stdio: [stdin, 'pipe', 'pipe'],
    timeout: 30_000,
    maxBuffer: 256 << 20,
  });

const have = (bin: string): boolean => toolPath(bin) !== null;

const json = (b: Buffer | undefined): Record<string, unknown>[] => {
  const t = b?.toString().trim();
  return t ? (JSON.parse(t) as Record<string, unknown>[]) : [];
};

function refuse(pid: number, what: string, hint: string): never {
  throw new NotSupportedError(`task ${pid}: its network namespace has ${what}`, hint);
}

/** `ip route save` keeps table main: a route of another table that the kernel did not make (for an address) is refused */
function checkRoutes(pid: number, v6: boolean): void {
  for (const r of json(inNet(pid, ['ip', '-j', '-d', ...(v6 ? ['-6'] : ['-4']), 'route', 'show', 'table', 'all']))) {
    if (r.protocol === 'kernel' || r.table === undefined || r.table === 'main') continue;
    if (v6 && r.table === 'local' && r.protocol === undefined) continue; // the v6 local and multicast routes of the addresses
    const what = [
      r.type && r.type !== 'unicast' ? r.type : '',
      r.dst,
      r.dev ? `dev ${String(r.dev)}` : '',
      r.table ? `table ${String(r.table)}` : '',
      `proto ${String(r.protocol ?? 'boot')}`,
    ];
    refuse(
      pid,
      `an IPv${v6 ? 6 : 4} route ${what.filter(Boolean).join(' ')}`,
      'routes of tables other than main are not dumped yet (ip route save keeps table main)',
    );
  }
}

const legacySave = (v6: boolean): string => (v6 ? 'ip6tables-legacy-save' : 'iptables-legacy-save');

/** --empty-ns net at the dump (CRIU's opts.empty_ns): the namespace's contents are not dumped, only its (empty) images written */
let dumpEmpty = false;
export function setDumpEmptyNet(empty: boolean, external: readonly string[] = []): void {
  dumpEmpty = empty;
  dumpExternals = external.filter((x) => x.startsWith('net['));
}

/** --external net[INO]:KEY (runc's extRootNetNS): a namespace of that inode is dumped as external, by its key only */
let dumpExternals: string[] = [];

/** the key of an external network namespace in the images (netns-ID.img's ext_key), if it is one */
export function externalNetKey(dir: string, id: number): string | undefined {
  const f = path.join(dir, `netns-${id}.img`);
  return fs.existsSync(f) ? readMessagesOf(f, 'NETNS')[0]?.ext_key : undefined;
}

/** every raw image, empty (a namespace dumped without its contents) */
const emptyRaw = (): NetDump['raw'] => Object.fromEntries(RAW.map((n) => [n, Buffer.alloc(0)]));

function dumpNet(pid: number): NetDump {
  const ino = fs.statSync(`/proc/${pid}/ns/net`).ino;
  for (const x of dumpExternals) {
    const m = /^net\[(\d+)\]:(.+)$/.exec(x);
    if (!m) throw new CriuError(`Invalid external resource ${x}`, 'the form is net[INODE]:KEY');
    if (Number(m[1]) !== ino) continue;
    log.info(`task ${pid}: its network namespace (inode ${ino}) is external: dumped as ${m[2]}`);
    return { netns: { ext_key: m[2] }, links: [], raw: emptyRaw(), external: true };
  }
  if (dumpEmpty) {
    log.info(`task ${pid}: its network namespace is dumped empty (--empty-ns net)`);
    return { netns: {}, links: [], raw: emptyRaw(), empty: true };
  }
  const d: NetDump = { netns: readNetns(), links: [], raw: {} };
  const v6 = fs.existsSync('/proc/net/if_inet6');
  d.externalPeers = [];
  const all = links();
  for (const l of all) {
    const { e, external } = linkEntry(l, `task ${pid}`, all);
    d.links.push({ ...e, conf4: readConf('ipv4', l.name, DEVCONFS4), conf6: v6 ? readConf('ipv6', l.name, DEVCONFS6) : [] });
    if (external) d.externalPeers.push(l.index);
  }
  checkRoutes(pid, false);
  if (v6) checkRoutes(pid, true);
  const nft = have('nft') ? inNet(pid, ['nft', 'list', 'ruleset']) : undefined;
  const legacy: [string, Buffer | undefined][] = [false, true]
    .filter((six) => (six ? v6 : true) && have(legacySave(six)))
    .map((six) => [legacySave(six), inNet(pid, [legacySave(six)], { mayFail: true })]);
  d.raw.ifaddr = inNet(pid, ['ip', 'addr', 'save']);
  d.raw.route = inNet(pid, ['ip', 'route', 'save']);
  if (v6) d.raw.route6 = inNet(pid, ['ip', '-6', 'route', 'save']);
  const rule = inNet(pid, ['ip', 'rule', 'save'], { mayFail: true });
  if (rule) d.raw.rule = rule;
  else log.warn('Check if "ip rule save" is supported!');
  for (const [cmd, out] of legacy) d.raw[cmd.startsWith('ip6') ? 'ip6tables' : 'iptables'] = out ?? Buffer.alloc(0);
  d.raw.nftables = nft ?? Buffer.alloc(0);
  d.raw['netns-ct'] = Buffer.alloc(0);
  d.raw['netns-exp'] = Buffer.alloc(0);
  return d;
}

function restoreNet(d: NetDump, pid: number): void {
  if (d.empty) return log.info(`task ${pid}: the images hold an empty network namespace (dumped with --empty-ns net)`);
  restoreNetnsConf(d.netns);
  const held: HeldDad = [];
  try {
    restoreLinks(d.links, d.tool, () => holdDad(d, held));
  } finally {
    closeToolNet(d.tool);
    d.tool = undefined;
  }
  const raw = (n: RawName): Buffer | undefined => (d.raw[n]?.length ? d.raw[n] : undefined);
  if (raw('ifaddr')) inNet(pid, ['ip', 'addr', 'restore'], { input: raw('ifaddr') });
  for (const [name, e] of held) writeSysctl(name, e);
  for (const nde of d.links) {
    writeConf('ipv4', nde.name, DEVCONFS4, nde.conf4);
    writeConf('ipv6', nde.name, DEVCONFS6, nde.conf6);
  }
  if (raw('route')) inNet(pid, ['ip', 'route', 'restore'], { input: raw('route') });
  if (raw('route6')) inNet(pid, ['ip', 'route', 'restore'], { input: raw('route6') });
  if (raw('rule')) {
    // the kernel's default rules go first, else restore makes them twice (fib_default_rules_init)
    inNet(pid, ['ip', 'rule', 'flush']);
    inNet(pid, ['ip', 'rule', 'delete', 'table', 'local']);
    inNet(pid, ['ip', 'rule', 'restore'], { input: raw('rule') });
  }
  if (raw('iptables')) inNet(pid, [have('iptables-legacy-restore') ? 'iptables-legacy-restore' : 'iptables-restore', '-w'], { input: raw('iptables') });
  if (raw('ip6tables')) inNet(pid, [have('ip6tables-legacy-restore') ? 'ip6tables-legacy-restore' : 'ip6tables-restore', '-w'], { input: raw('ip6tables') });
  if (raw('nftables')) inNet(pid, ['nft', '-f', '-'], { input: raw('nftables') });
  for (const n of ['netns-ct', 'netns-exp'] as const)
    if (raw(n)) throw new NotSupportedError(`${n} image: conntrack entries`, 'conntrack entries are restored with containers, not yet');
}

type HeldDad = [name: string, dumped: SysctlEntry][];

/**
 * Before the links come up: IPv6 DAD off (accept_dad 0 on `all` and on each link, the dumped
 * values kept in `held` for after `ip addr restore`). The kernel does DAD when either says so, and
 * an address that had passed DAD at the dump would be tentative again for a second or two, its
 * local route missing meanwhile; one that was still tentative comes back as passed.
 */
function holdDad(d: NetDump, held: HeldDad): void {
  const at = DEVCONFS6.indexOf('accept_dad');
  const confs: [string, SysctlEntry[] | undefined][] = [
    ['all', d.netns.all_conf6],
    ...d.links.map((l): [string, SysctlEntry[] | undefined] => [l.name, l.conf6]),
  ];
  for (const [tgt, conf] of confs) {
    const e = conf?.[at];
    if (e?.iarg === undefined || e.iarg === 0) continue;
    const name = `net/ipv6/conf/${tgt}/accept_dad`;
    if (sysctlRead(name) === undefined) continue;
    writeSysctl(name, { type: CTL_32, iarg: 0 });
    held.push([name, e]);
  }
}

const rawName = (n: RawName, id: number): string => `${n}-${id}.img`;

// ---------------------------------------------------------------- sockets of the tree

export const net: NsKind<NetDump> = {
  name: 'net',
  cloneFlag: CLONE_NEWNET,
  dump: (pid) => dumpNet(pid ?? 0),
  write(dir, id, d) {
    fillTunQueues(d.links, `netns ${id}`); // what the tree's tun fds showed, now that every fd is dumped
    // a link's peer is in this namespace (lo's is lo itself): CRIU writes the namespace's id; a veth's outside: none
    const links = d.links.map((l) => (d.externalPeers?.includes(l.ifindex) ? l : { ...l, peer_nsid: l.peer_nsid ?? id }));
    const names = [
      writeMessages(dir, `netdev-${id}.img`, 'NETDEV', links),
      writeMessages(dir, `netns-${id}.img`, 'NETNS', d.empty ? [] : d.external ? [{ ext_key: d.netns.ext_key }] : [d.netns]),
    ];
    for (const n of RAW) {
      const b = d.raw[n];
      if (!b) continue;
      fs.writeFileSync(path.join(dir, rawName(n, id)), b, { mode: 0o600 });
      names.push(rawName(n, id));
    }
    return names;
  },
  load(dir, id) {
    const ns = readMessagesOf(path.join(dir, `netns-${id}.img`), 'NETNS');
    if (ns.length > 1) throw badImage(`netns-${id}.img`, 'entries:', `${ns.length}, one expected`);
    // none: dumped with --empty-ns net; restored as a new namespace with lo down (CRIU: read_netns_conf finds no entry)
    if (!ns.length) return { empty: true, netns: {}, links: [], raw: {} };
    if (ns[0].ext_key)
      throw new CriuError(
        `Unable to find an external netns: ${ns[0].ext_key}`,
        `give it with --inherit-fd fd[N]:${ns[0].ext_key} (an fd of the namespace), or --join-ns net:PATH`,
      );
    const d: NetDump = { netns: ns[0], links: readMessagesOf(path.join(dir, `netdev-${id}.img`), 'NETDEV'), raw: {} };
    // a veth's peer (a macvlan's parent) outside is in the tool's own namespace: opened while the tool is there
    if (needsToolNet(d.links)) d.tool = openToolNet();
    for (const n of RAW) {
      const f = path.join(dir, rawName(n, id));
      if (fs.existsSync(f)) d.raw[n] = fs.readFileSync(f);
    }
    return d;
  },
  restore: (d, pid) => restoreNet(d, pid ?? 0),
  adopt: (pid) => socketsIn(pid),
  describe: (d) => `${d.links.map((l) => `${l.name} ${l.flags & 1 ? 'up' : 'down'} mtu ${l.mtu}`).join(', ')}, ${d.raw.ifaddr?.length ?? 0} bytes of addresses`,
};
