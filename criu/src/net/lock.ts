// The network lock of the host network namespace, as CRIU 4.2 (netfilter.c, net.c): while a
// TCP connection is dumped and until its restore ends, the packets of that connection are
// dropped, so that the peer sees silence (it retransmits) rather than a reset. Only the tool's
// own packets, marked SOCCR_MARK (0xC114), pass.
//
//  - iptables (CRIU 4.2's built-in default; ours where nft is missing): per connection, a DROP rule in INPUT and one in OUTPUT
//    (`iptables -w -t filter -I INPUT --protocol tcp -m mark ! --mark 0xC114 --source PEER
//    --sport P --destination SELF --dport P -j DROP` and its mirror), ip6tables for IPv6;
//    removed with -D once the connection is repaired off.
//  - nftables (our default where nft is installed): one table `inet CRIU-<run id>` (the dump's run id, which inventory.img keeps as
//    dump_criu_run_id) with chains input and output (mark accept first) and sets conns4/conns6 of
//    (saddr . sport . daddr . dport) whose elements are dropped; made when the dump starts,
//    deleted at the restore's end (or at once after a -R or failed dump).
//  - skip: nothing.
//
// Beyond CRIU (for a server that is dumped and restored in place): SYNs to the tree's listening
// TCP ports are dropped too from before the tree is frozen until the restore ends (iptables: one
// rule per listener in INPUT, `--syn`; nftables: a rule in the same input chain), so a client that
// connects meanwhile is not queued on a listener the dump would have to refuse or lose; its SYN is
// retransmitted and served by the restored listener.
//
// In the host network namespace CRIU sends no network-lock/network-unlock notification
// (network_lock() returns before run_scripts without CLONE_NEWNET): neither do we. A tree with a
// network namespace of its own is locked through `lockNetns` (the whole namespace, CRIU's
// network_lock_internal) after the network-lock notification, and unlocked after network-unlock
// (net/netns-lock.ts).
import * as fs from 'node:fs';
import { log } from '../log.js';
import { childProcess, nsenterNet } from '../sys/tools.js';
import { CriuError } from '../errors.js';

export type LockMethod = 'iptables' | 'nftables' | 'skip';
/** inventory_entry.network_lock_method: CRIU's enum NETWORK_LOCK_METHOD */
export const LOCK_METHODS: readonly LockMethod[] = ['iptables', 'nftables', 'skip'];
export const lockMethodValue = (m: LockMethod): number => LOCK_METHODS.indexOf(m);
/** the method of an inventory value; an image without the field was locked with iptables (CRIU's fallback) */
export function lockMethodOf(v: number | undefined): LockMethod {
  if (v === undefined) return 'iptables';
  const m = LOCK_METHODS[v];
  if (!m) throw new CriuError(`inventory.img: unknown network_lock_method ${v}`, 'the image is damaged, or of a newer CRIU');
  return m;
}
/**
 * The method when --network-lock is not given: nftables where `nft` is installed, else iptables.
 * CRIU 4.2 builds in iptables (NETWORK_LOCK_DEFAULT), which a distribution may change at build
 * time; nftables is the one that needs no per-connection rules and is what current systems have.
 * The method is written to inventory.img, so a restore uses the dump's whichever the default;
 * a default that locked nothing is written as CRIU 4.2's iptables (`recordedLock`), so such
 * images stay those CRIU writes and a CRIU built without nftables restores them.
 */
export function defaultLock(): LockMethod {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d && fs.existsSync(`${d}/nft`)) ? 'nftables' : 'iptables';
}

/** One end of a connection or a listener: family, the address bytes (4 or 16), the port. */
export interface Endpoint {
  family: number;
  addr: Buffer;
  port: number;
}
export interface Conn {
  src: Endpoint;
  dst: Endpoint;
}

const AF_INET = 2;

function run(cmd: string, args: string[], mayFail = false): boolean {
  log.debug(`\tRunning ${cmd} ${args.join(' ')}`);
  const r = childProcess().spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim() || `exit status ${r.status}`;
    if (mayFail) {
      log.debug(`${cmd} ${args.join(' ')}: ${why}`);
      return false;
    }
    throw new CriuError(`network lock: ${cmd} ${args.join(' ')} failed: ${why}`, {
      object: cmd,
      hint:
        r.error && /ENOENT/.test(r.error.message)
          ? `install ${cmd === 'nft' ? 'nftables' : 'iptables'}, or choose another --network-lock`
          : 'the kernel needs netfilter (CONFIG_NETFILTER_XT_MARK for iptables, nf_tables for nftables)',
    });
  }
  return true;
}

/** IPv4 inside IPv6 (::ffff:a.b.c.d) is locked as IPv4, as CRIU does */
function plain(e: Endpoint): Endpoint {
  if (e.family !== AF_INET && e.addr.length === 16 && e.addr.readUInt32BE(8) === 0xffff && e.addr.readBigUInt64BE(0) === 0n)
    return { family: AF_INET, addr: e.addr.subarray(12, 16), port: e.port };
  return e.family === AF_INET ? { ...e, addr: e.addr.subarray(0, 4) } : e;
}
function ntop(e: Endpoint): string {
  if (e.family === AF_INET) return [...e.addr.subarray(0, 4)].join('.');
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(e.addr.readUInt16BE(i).toString(16));
  return g.join(':');
}
const isAny = (e: Endpoint): boolean => e.addr.every((b) => b === 0);

export class NetLock {
  private tableMade = false;
  /** whether this lock holds (or held) anything: a connection or a listener's SYNs */
  used = false;
  private readonly syns: Endpoint[] = [];
  constructor(
    readonly method: LockMethod,
    /** the dump's criu run id (nftables names its table after it) */
    readonly runId: string,
  ) {}

  get table(): string {
    return `inet CRIU-${this.runId}`;
  }

  private nft(cmd: string, mayFail = false): boolean {
    return run('nft', [cmd], mayFail);
  }

  /** nftables_init_connection_lock: the table, its chains and sets (nothing for iptables and skip) */
  init(): void {
    if (this.method !== 'nftables' || this.tableMade) return;
    const t = this.table;
    this.nft(`create table ${t}`);
    this.tableMade = true;
    try {
      for (const chain of ['output', 'input']) {
        this.nft(`add chain ${t} ${chain} { type filter hook ${chain} priority 0; }`);
        this.nft(`add rule ${t} ${chain} meta mark 0xC114 accept`);
      }
      this.nft(`add set ${t} conns4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; }`);
      for (const chain of ['output', 'input']) this.nft(`add rule ${t} ${chain} ip saddr . tcp sport . ip daddr . tcp dport @conns4 drop`);
      this.nft(`add set ${t} conns6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; }`);
      for (const chain of ['output', 'input']) this.nft(`add rule ${t} ${chain} ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 drop`);
    } catch (e) {
      this.removeTable();
      throw e;
    }
  }

  private iptables(op: '-I' | '-D', chain: 'INPUT' | 'OUTPUT', from: Endpoint, to: Endpoint, mayFail = false): boolean {
    const cmd = from.family === AF_INET ? 'iptables' : 'ip6tables';
    const args = ['-w', '-t', 'filter', op, chain, '--protocol', 'tcp', '-m', 'mark', '!', '--mark', '0xC114'];
    args.push('--source', ntop(from), '--sport', String(from.port), '--destination', ntop(to), '--dport', String(to.port), '-j', 'DROP');
    return run(cmd, args, mayFail);
  }

  /** lock_connection: before the socket is put in repair mode */
  lockConnection(c: Conn): void {
    const src = plain(c.src),
      dst = plain(c.dst);
    if (this.method === 'iptables') {
      this.iptables('-I', 'INPUT', dst, src);
      try {
        this.iptables('-I', 'OUTPUT', src, dst);
      } catch (e) {
        this.iptables('-D', 'INPUT', dst, src, true);
        throw e;
      }
    } else if (this.method === 'nftables') {
      this.init();
      const set = src.family === AF_INET ? 'conns4' : 'conns6';
      this.nft(`add element ${this.table} ${set} { ${ntop(dst)} . ${dst.port} . ${ntop(src)} . ${src.port} }`);
      this.nft(`add element ${this.table} ${set} { ${ntop(src)} . ${src.port} . ${ntop(dst)} . ${dst.port} }`);
    }
    this.used = this.method !== 'skip';
    log.info(`Locked ${ntop(src)}:${src.port} - ${ntop(dst)}:${dst.port} connection (${this.method})`);
  }

  /** unlock_connection: iptables removes the connection's rules; nftables drops the whole table in unlockAll */
  unlockConnection(c: Conn): void {
    if (this.method !== 'iptables') return;
    const src = plain(c.src),
      dst = plain(c.dst);
    const a = this.iptables('-D', 'INPUT', dst, src, true);
    const b = this.iptables('-D', 'OUTPUT', src, dst, true);
    if (!a || !b) log.warn(`Failed to unlock TCP connection ${ntop(src)}:${src.port} - ${ntop(dst)}:${dst.port}`);
    else log.info(`Unlocked ${ntop(src)}:${src.port} - ${ntop(dst)}:${dst.port} connection`);
  }

  private synRule(op: '-I' | '-D', l: Endpoint, family: number, mayFail: boolean): boolean {
    const cmd = family === AF_INET ? 'iptables' : 'ip6tables';
    const args = ['-w', '-t', 'filter', op, 'INPUT', '--protocol', 'tcp', '--syn', '-m', 'mark', '!', '--mark', '0xC114'];
    if (!isAny(l) && family === l.family) args.push('--destination', ntop(l));
    args.push('--dport', String(l.port), '-m', 'comment', '--comment', this.synTag, '-j', 'DROP');
    return run(cmd, args, mayFail);
  }
  /** the comment of this dump's SYN rules, so that a restore finds exactly them */
  private get synTag(): string {
    return `criu-ts:${this.runId}`;
  }

  /** (restore) the SYN rules this dump left with iptables: found by their comment, deleted */
  releaseHeldSyns(): void {
    if (this.method !== 'iptables') return;
    for (const cmd of ['iptables', 'ip6tables']) {
      const r = childProcess().spawnSync(`${cmd}-save`, ['-t', 'filter'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
      if (r.error || r.status !== 0) continue;
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('-A INPUT ') || !line.split(' ').some((w) => w.replace(/"/g, '') === this.synTag)) continue;
        run(
          cmd,
          [
            '-w',
            '-t',
            'filter',
            '-D',
            ...line
              .slice(3)
              .split(' ')
              .map((w) => w.replace(/^"(.*)"$/, '$1')),
          ],
          true,
        );
        log.info(`Released new connections held by ${cmd}: ${line}`);
      }
    }
  }
  /** an IPv6 listener on :: takes IPv4 too: hold both */
  private synFamilies(l: Endpoint): number[] {
    return l.family === AF_INET ? [AF_INET] : isAny(l) ? [AF_INET, l.family] : [l.family];
  }

  /** (beyond CRIU) hold new connections to a listener: its clients' SYNs are dropped until releaseSyns */
  holdSyns(l0: Endpoint): void {
    const l = plain(l0);
    if (this.method === 'skip' || this.syns.some((s) => s.port === l.port && s.family === l.family && s.addr.equals(l.addr))) return;
    if (this.method === 'iptables') {
      const done: number[] = [];
      try {
        for (const fam of this.synFamilies(l)) {
          this.synRule('-I', l, fam, false);
          done.push(fam);
        }
      } catch (e) {
        for (const fam of done) this.synRule('-D', l, fam, true);
        throw e;
      }
    } else {
      this.init();
      const match = isAny(l) ? '' : `${l.family === AF_INET ? 'ip' : 'ip6'} daddr ${ntop(l)} `;
      this.nft(`add rule ${this.table} input ${match}tcp dport ${l.port} tcp flags & (syn | ack) == syn drop`);
    }
    this.syns.push(l);
    this.used = true;
    log.info(`Holding new connections to ${ntop(l)}:${l.port} (${this.method})`);
  }

  /** the listeners whose SYNs are held */
  held(): readonly Endpoint[] {
    return this.syns;
  }

  /** stop holding SYNs to a listener (iptables; nftables drops them with its table) */
  releaseSyns(l0: Endpoint): void {
    const l = plain(l0);
    const i = this.syns.findIndex((s) => s.port === l.port && s.family === l.family && s.addr.equals(l.addr));
    if (i >= 0) this.syns.splice(i, 1);
    if (this.method === 'iptables') for (const fam of this.synFamilies(l)) this.synRule('-D', l, fam, true);
  }

  private removeTable(): void {
    if (this.nft(`delete table ${this.table}`, true)) log.info(`Deleted nftables table ${this.table}`);
    this.tableMade = false;
  }

  /**
   * network_unlock for the host namespace: nftables deletes its table (each iptables rule goes
   * with its connection): the one this run made, or with `dumped` the one the dump of the images
   * made (a restore). A dump that made none runs no nft at all (child_process and nft cost a
   * small dump tens of milliseconds).
   */
  unlockAll(dumped = false): void {
    if (this.method === 'nftables' && (this.tableMade || dumped)) this.removeTable();
    for (const l of [...this.syns]) this.releaseSyns(l);
  }
}

// ---------------------------------------------------------------- a tree in its own network namespace

/**
 * CRIU's network_lock_internal for a tree with a network namespace of its own: the whole
 * namespace is locked from inside (every packet dropped but the tool's, marked SOCCR_MARK).
 * nftables: table `inet CRIU-<run id>` with chains input and output, policy drop, mark accept;
 * iptables: a chain CRIU (mark accept, then DROP) jumped to first from INPUT and OUTPUT, by
 * iptables-restore --noflush (and ip6tables-restore). `restore`: the lock is made again in a
 * restored namespace (--empty-ns net, whose images are not restored); a table already there is fine.
 */
export function lockNetns(method: LockMethod, nsPath: string, runId: string, restore = false): void {
  if (method === 'skip') return;
  if (method === 'nftables') {
    const t = `inet CRIU-${runId}`;
    const cmds = [`create table ${t}`];
    for (const chain of ['output', 'input'])
      cmds.push(`add chain ${t} ${chain} { type filter hook ${chain} priority 0; policy drop; }`, `add rule ${t} ${chain} meta mark 0xC114 accept`);
    if (restore && runIn(nsPath, 'nft', ['list', 'table', ...t.split(' ')], true)) return;
    runIn(nsPath, 'nft', ['-f', '-'], false, cmds.join('\n') + '\n');
  } else {
    const conf = '*filter\n:CRIU - [0:0]\n-I INPUT -j CRIU\n-I OUTPUT -j CRIU\n-A CRIU -m mark --mark 0xC114 -j ACCEPT\n-A CRIU -j DROP\nCOMMIT\n';
    runIn(nsPath, 'iptables-restore', ['-w', '--noflush'], false, conf);
    if (fs.existsSync('/proc/net/if_inet6')) runIn(nsPath, 'ip6tables-restore', ['-w', '--noflush'], false, conf);
  }
  log.info(`Locked the network namespace ${nsPath} (${method})`);
}

/** CRIU's network_unlock_internal: the lock of lockNetns removed (failures logged: the tree runs on) */
export function unlockNetns(method: LockMethod, nsPath: string, runId: string): void {
  if (method === 'skip') return;
  let ok = true;
  if (method === 'nftables') ok = runIn(nsPath, 'nft', ['delete', 'table', 'inet', `CRIU-${runId}`], true);
  else {
    for (const cmd of fs.existsSync('/proc/net/if_inet6') ? ['iptables-restore', 'ip6tables-restore'] : ['iptables-restore']) {
      ok = runIn(nsPath, cmd, ['-w', '--noflush'], true, '*filter\n:CRIU - [0:0]\n-D INPUT -j CRIU\n-D OUTPUT -j CRIU\nCOMMIT\n') && ok;
      ok = runIn(nsPath, cmd, ['-w', '--noflush'], true, '*filter\n:CRIU - [0:0]\n-X CRIU\nCOMMIT\n') && ok;
    }
  }
  if (ok) log.info(`Unlocked the network namespace ${nsPath}`);
  else log.error(`network unlock of ${nsPath} (${method}) failed: see the log above`);
}

function runIn(nsPath: string, cmd: string, args: string[], mayFail: boolean, input?: string): boolean {
  log.debug(`\tRunning ${cmd} ${args.join(' ')} in ${nsPath}`);
  const r = childProcess().spawnSync('nsenter', nsenterNet(nsPath, cmd, args), {
    input,
    encoding: 'utf8',
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  if (!r.error && r.status === 0) return true;
  const why = r.error ? r.error.message : (r.stderr || '').trim() || `exit status ${r.status}`;
  if (mayFail) {
    log.debug(`${cmd} ${args.join(' ')}: ${why}`);
    return false;
  }
  throw new CriuError(`network lock of ${nsPath}: ${cmd} ${args.join(' ')} failed: ${why}`, {
    object: cmd,
    hint: `install ${cmd === 'nft' ? 'nftables' : 'iptables'}, or choose another --network-lock`,
  });
}

/** The method inventory.img records: the one given, or the default if it locked something, else CRIU 4.2's iptables. */
export function recordedLock(given: LockMethod | undefined, used: LockMethod, lockedSomething: boolean): LockMethod {
  if (given) return given;
  return lockedSomething ? used : 'iptables';
}
