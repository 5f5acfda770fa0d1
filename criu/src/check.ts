// `criu check`: probe the kernel features the tool relies on. Each probe really exercises the
// feature (a puppet is seized and a syscall injected; a PID is asked of clone3 …).
import * as fs from 'node:fs';
import { addrOf, syscall, kcmp, KCMP, pidfdOpen, pidfdGetfd, close, ioctl, E, getpid, tryKill, SysError, prctl } from './sys/libc.js';
import { socket, setsockopt, getsockopt, shutdown } from './sys/libc.js';
import { AF_INET, bind, listen, connect, getsockname } from './sys/net.js';
import { arch } from './sys/arch.js';
import { hasPagemapScan } from './proc/pagemap.js';
import { hasGuardScan } from './mem/guard.js';
import { freeHugePages, defaultHugePageSize } from './mem/hugetlb.js';

/** free huge pages the zdtm hugetlb tests need at once */
const HUGETLB_TEST_PAGES = 4;
import { Launcher } from './restore/launcher.js';
import { Puppet } from './restore/puppet.js';
import { CriuError } from './errors.js';
import { socketProbes } from './files/sk-probes.js';

interface Probe {
  name: string;
  required: boolean;
  what: string;
  cost?: string;
  run: () => void;
}

function nsExists(ns: string): () => void {
  return () => {
    fs.readlinkSync(`/proc/self/ns/${ns}`);
  };
}

/** A puppet on any free PID (or a chosen one), seized; the probe body runs on it. */
function withPuppet(fn: (p: Puppet) => void, pid = 0): void {
  const l = new Launcher();
  let p: Puppet | null = null;
  try {
    const s = l.spawnPuppet({ pid, transportFd: 100 });
    p = Puppet.spawned(s.pid, s.transport, 100, !l.external);
    if (pid && s.pid !== pid) throw new CriuError(`clone3 gave pid ${s.pid}, not ${pid}`);
    fn(p);
  } finally {
    p?.kill();
    l.close();
  }
}

const SOL_TCP = 6,
  TCP_REPAIR = 19,
  TCP_TIMESTAMP = 24,
  TCP_REPAIR_WINDOW = 29;
function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
/** A fresh IPv4 TCP socket for the probe, closed after it. */
function withTcp(fn: (fd: number) => void): void {
  const fd = socket(AF_INET, 1 /* SOCK_STREAM */ | 0o2000000, 6);
  try {
    fn(fd);
  } finally {
    close(fd);
  }
}

function freePid(): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let i = 0; i < 100; i++) {
    const pid = Math.floor(max / 2 + Math.random() * (max / 2 - 10));
    if (!fs.existsSync(`/proc/${pid}`)) return pid;
  }
  throw new CriuError('no free pid found');
}

const probes: Probe[] = [
  {
    name: 'ptrace_seize',
    required: true,
    what: 'PTRACE_SEIZE/INTERRUPT and syscall injection',
    run: () =>
      withPuppet((p) => {
        if (p.inj.call('getpid') !== BigInt(p.pid)) throw new CriuError('injected getpid returned the wrong pid');
      }),
  },
  { name: 'clone3_set_tid', required: true, what: 'clone3() with set_tid (restore on the same PIDs)', run: () => withPuppet(() => undefined, freePid()) },
  {
    name: 'get_rseq_conf',
    required: true,
    what: 'PTRACE_GET_RSEQ_CONFIGURATION',
    run: () =>
      withPuppet((p) => {
        p.t.rseqConf();
      }),
  },
  {
    name: 'pidfd_getfd',
    required: true,
    what: 'pidfd_open() and pidfd_getfd()',
    run: () => {
      const pfd = pidfdOpen(getpid());
      try {
        close(pidfdGetfd(pfd, 0));
      } finally {
        close(pfd);
      }
    },
  },
  {
    name: 'kcmp',
    required: true,
    what: 'kcmp() to find shared files and memory',
    run: () => {
      kcmp(getpid(), getpid(), KCMP.FILE, 0, 0);
    },
  },
  {
    name: 'mm_map',
    required: true,
    what: 'prctl(PR_SET_MM, PR_SET_MM_MAP)',
    run: () => {
      // PR_SET_MM_MAP_SIZE writes the size of struct prctl_mm_map the kernel expects
      const b = Buffer.alloc(4);
      prctl(35, 15, addrOf(b), 0, 0);
      if (b.readUInt32LE(0) !== 104) throw new CriuError(`struct prctl_mm_map is ${b.readUInt32LE(0)} bytes here, 104 expected`);
    },
  },
  {
    name: 'pagemap_scan',
    required: false,
    what: 'PAGEMAP_SCAN ioctl (fast page scan)',
    cost: 'pages are found through /proc/PID/pagemap, slower on large sparse memory',
    run: () => {
      if (!hasPagemapScan()) throw new CriuError('absent');
    },
  },
  {
    // cr-check.c check_pagemap_scan_guard_pages: guard regions (MADV_GUARD_INSTALL) are found by it
    name: 'pagemap_scan_guard_pages',
    required: false,
    what: 'PAGEMAP_SCAN with PAGE_IS_GUARD (guard regions, MADV_GUARD_INSTALL; 6.14+)',
    cost: 'a task with guard regions cannot be dumped',
    run: () => {
      if (!hasGuardScan()) throw new CriuError('PAGEMAP_SCAN does not know PAGE_IS_GUARD');
    },
  },
  {
    // not a kernel feature but the host's: the zdtm hugetlb tests map a few huge pages
    name: 'hugetlb_pages',
    required: false,
    what: `${HUGETLB_TEST_PAGES} or more free huge pages of the default size (vm.nr_hugepages)`,
    cost: 'MAP_HUGETLB memory can be restored only where huge pages are free',
    run: () => {
      const free = freeHugePages(defaultHugePageSize());
      if (free < HUGETLB_TEST_PAGES) throw new CriuError(`${free} free huge pages of ${defaultHugePageSize() / 1024n} kB (vm.nr_hugepages)`);
    },
  },
  {
    name: 'uffd',
    required: false,
    what: 'userfaultfd()',
    cost: 'no lazy restore',
    run: () => {
      close(Number(syscall('userfaultfd', 1 /* UFFD_USER_MODE_ONLY */)));
    },
  },
  {
    name: 'uffd_wp_async',
    required: false,
    what: 'userfaultfd write-protect in async mode (dirty tracking for pre-dump)',
    cost: 'no incremental dumps (pre-dump) on this kernel',
    run: () => {
      const fd = Number(syscall('userfaultfd', 1));
      try {
        const api = Buffer.alloc(24);
        api.writeBigUInt64LE(0xaan, 0);
        api.writeBigUInt64LE((1n << 15n) | (1n << 12n), 8); // UFFD_FEATURE_WP_ASYNC | WP_UNPOPULATED
        ioctl(fd, 0xc018aa3fn, api);
      } finally {
        close(fd);
      }
    },
  },
  {
    name: 'mem_dirty_track',
    required: false,
    what: 'soft-dirty bits in /proc/PID/pagemap',
    cost: 'dirty tracking uses userfaultfd write-protect instead',
    run: () => {
      const page = Buffer.alloc(8192);
      const addr = (addrOf(page) + 4095n) & ~4095n;
      fs.writeFileSync('/proc/self/clear_refs', '4');
      page[Number(addr - addrOf(page))] = 1;
      const pm = fs.openSync('/proc/self/pagemap', 'r');
      const e = Buffer.alloc(8);
      try {
        fs.readSync(pm, e, 0, 8, Number(addr / 4096n) * 8);
      } finally {
        fs.closeSync(pm);
      }
      if (!(e.readBigUInt64LE(0) & (1n << 55n))) throw new CriuError('no soft-dirty bit after a write (CONFIG_MEM_SOFT_DIRTY is off)');
    },
  },
  {
    name: 'seccomp_suspend',
    required: false,
    what: 'PTRACE_O_SUSPEND_SECCOMP (needs CAP_SYS_ADMIN)',
    cost: 'tasks with seccomp filters cannot be handled',
    run: () =>
      withPuppet((p) => {
        p.t.setOptions((1 << 21) | (1 << 20));
      }),
  },
  { name: 'timens', required: false, what: 'time namespaces', run: nsExists('time') },
  { name: 'cgroupns', required: false, what: 'cgroup namespaces', run: nsExists('cgroup') },
  { name: 'userns', required: false, what: 'user namespaces', run: nsExists('user') },
  { name: 'ns_pid', required: false, what: 'pid namespaces', run: nsExists('pid') },
  {
    // cr-check.c check_ipc (part of CRIU's basic check): ns/ipc.ts recreates SysV objects on their ids through it
    name: 'ipc_next_id',
    required: false,
    what: '/proc/sys/kernel/sem_next_id readable and writable (SysV IPC objects restored with their ids)',
    cost: 'a tree in an IPC namespace of its own cannot be restored',
    run: () => fs.accessSync('/proc/sys/kernel/sem_next_id', fs.constants.R_OK | fs.constants.W_OK),
  },
  {
    // x86 GDT TLS slots: set_thread_area exists only with 32-bit emulation in the kernel
    name: 'gdt_tls',
    required: false,
    what: 'get_thread_area (x86 GDT TLS slots; kernels with IA32 emulation)',
    run: () => {
      if (arch.name !== 'x86_64') throw new CriuError(`no GDT on ${arch.name}`);
      const d = Buffer.alloc(16);
      d.writeUInt32LE(12, 0);
      syscall('get_thread_area', addrOf(d));
    },
  },
  {
    // memfd_create(MFD_NOEXEC_SEAL) and vm.memfd_noexec: Linux 6.3
    name: 'memfd_noexec',
    required: false,
    what: 'memfd_create(MFD_NOEXEC_SEAL) (Linux 6.3+)',
    run: () => close(Number(syscall('memfd_create', addrOf(Buffer.from('criu-check\0')), 0x8 /* MFD_NOEXEC_SEAL */))),
  },
  {
    // smaps shows VM_LOCKONFAULT as "lf" (older kernels print "??"): without it a VMA locked by
    // mlock2(MLOCK_ONFAULT) is dumped as plainly locked and restored with all its pages in
    name: 'smaps_lockonfault',
    required: false,
    what: 'the "lf" flag of an mlock2(MLOCK_ONFAULT) VMA in /proc/PID/smaps',
    cost: 'a VMA locked on fault is restored locked with every page present',
    run: () => lockOnFaultShown(),
  },
  { name: 'arm_sve', required: false, what: 'aarch64 SVE (the CPU and kernel)', run: () => armFeature('sve') },
  { name: 'arm_pac', required: false, what: 'aarch64 pointer authentication with generic and address keys', run: () => armFeature('paca', 'pacg') },
  {
    // CRIU's check_tcp and check_tcp_window: repair mode on a fresh TCP socket, its timestamp and window
    name: 'tcp_repair',
    required: false,
    what: 'TCP_REPAIR, TCP_TIMESTAMP and TCP_REPAIR_WINDOW (needs CAP_NET_ADMIN)',
    cost: 'established TCP connections cannot be dumped (--tcp-established)',
    run: () =>
      withTcp((sk) => {
        setsockopt(sk, SOL_TCP, TCP_REPAIR, int32(1));
        getsockopt(sk, SOL_TCP, TCP_TIMESTAMP, Buffer.alloc(4));
        getsockopt(sk, SOL_TCP, TCP_REPAIR_WINDOW, Buffer.alloc(20));
      }),
  },
  {
    // CRIU's kerndat_has_tcp_half_closed: repair mode on a connection shut down for writing
    name: 'tcp_half_closed',
    required: false,
    what: 'TCP_REPAIR on a half-closed connection',
    cost: 'half-closed TCP connections cannot be dumped',
    run: () =>
      withTcp((l) => {
        bind(l, { family: AF_INET, port: 0, addr: Buffer.from([127, 0, 0, 1]) });
        listen(l, 1);
        withTcp((c) => {
          connect(c, getsockname(l)!);
          shutdown(c, 1);
          setsockopt(c, SOL_TCP, TCP_REPAIR, int32(1));
        });
      }),
  },
  ...socketProbes,
  {
    name: 'no_new_privs',
    required: false,
    what: 'PR_GET_NO_NEW_PRIVS',
    run: () => {
      prctl(39);
    },
  },
];

/** the smaps of an mlock2(MLOCK_ONFAULT) page shows "lf" among its VmFlags */
function lockOnFaultShown(): void {
  const len = 4096;
  const at = syscall('mmap', 0, len, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  try {
    syscall('mlock2', at, len, 1 /* MLOCK_ONFAULT */);
    // the VMA that holds the page (a neighbour with the same flags may have merged with it)
    let inside = false,
      flags = '';
    for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
      if (m) inside = BigInt(`0x${m[1]}`) <= at && at < BigInt(`0x${m[2]}`);
      else if (inside && line.startsWith('VmFlags:')) flags = line.slice(8);
    }
    if (!flags.split(' ').includes('lf')) throw new CriuError(`an MLOCK_ONFAULT VMA shows VmFlags "${flags.trim()}", no "lf"`);
  } finally {
    syscall('munmap', at, len);
  }
}

/** the CPU features the kernel reports in /proc/cpuinfo (aarch64 "Features:" flags) all present */
function armFeature(...names: string[]): void {
  if (arch.name !== 'aarch64') throw new CriuError(`not on ${arch.name}`);
  const have = new Set((/^Features\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
  const lack = names.filter((n) => !have.has(n));
  if (lack.length) throw new CriuError(`the CPU lacks ${lack.join(', ')}`);
}

/** Where check's report goes: stdout and stderr for the command line, the log for the RPC. */
export interface CheckOutput {
  out: (s: string) => void;
  err: (s: string) => void;
}
const STDIO: CheckOutput = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Whether `criu check --feature NAME` says supported (silently): the RPC's FEATURE_CHECK asks it. */
export function featureSupported(name: string): boolean {
  const pr = probes.find((x) => x.name === name);
  if (!pr) return false;
  try {
    pr.run();
    return true;
  } catch {
    return false;
  }
}

export function check(o: { feature?: string[]; all: boolean }, w: CheckOutput = STDIO): number {
  if (o.feature?.length) {
    let rc = 0;
    for (const name of o.feature.flatMap((f) => f.split(','))) {
      const pr = probes.find((x) => x.name === name);
      if (!pr) {
        // a name of CRIU's list (the parser refused any other) for what criu-ts does not do yet
        w.out(`${name} is not supported: criu-ts does not checkpoint or restore what it stands for yet\n`);
        rc = 1;
        continue;
      }
      try {
        pr.run();
        w.out(`${name} is supported\n`);
      } catch (e) {
        w.out(`${name} is not supported: ${(e as Error).message}\n`);
        rc = 1;
      }
    }
    return rc;
  }
  let bad = 0;
  const missing: Probe[] = [];
  for (const pr of probes) {
    let err: string | null = null;
    try {
      pr.run();
    } catch (e) {
      err = e instanceof SysError ? e.code : (e as Error).message;
    }
    if (o.all) w.out(`${err ? 'no ' : 'yes'} ${pr.name.padEnd(16)} ${pr.what}${err ? ` (${err})` : ''}\n`);
    if (err && pr.required) {
      bad++;
      w.err(`Error: ${pr.name} (${pr.what}) is not available: ${err}\n`);
    }
    if (err && !pr.required) missing.push(pr);
  }
  if (bad) return 1;
  for (const m of missing) w.out(`Warn: ${m.name} is missing: ${m.cost ?? m.what}\n`);
  w.out('Looks good.\n');
  void E;
  void tryKill;
  return 0;
}
