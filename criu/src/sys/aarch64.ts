import type { Arch } from './arch.js';

// asm-generic syscall table
const sys = {
  read: 63, write: 64, close: 57, openat: 56, lseek: 62, mmap: 222, mprotect: 226, munmap: 215, mremap: 216,
  madvise: 233, brk: 214, rt_sigaction: 134, rt_sigprocmask: 135, rt_sigtimedwait: 137, rt_sigqueueinfo: 138, rt_tgsigqueueinfo: 240,
  sigaltstack: 132, getpid: 172, gettid: 178, prctl: 167, arch_prctl: -1, preadv: 69, pwritev: 70,
  pipe2: 59, vmsplice: 75, splice: 76, tee: 77, dup3: 24, fcntl: 25, chdir: 49, fchdir: 50, umask: 166, setsid: 157,
  setpgid: 154, getitimer: 102, setitimer: 103, timer_gettime: 108, timer_settime: 110, timer_create: 107, timer_getoverrun: 109,
  set_robust_list: 99, get_robust_list: 100, set_tid_address: 96, rseq: 293, seccomp: 277, clone3: 435,
  close_range: 436, recvmsg: 212, sendmsg: 211, socket: 198, connect: 203, setresuid: 147, setresgid: 149,
  setgroups: 159, capset: 91, capget: 90, setfsuid: 151, setfsgid: 152, pidfd_open: 434, pidfd_getfd: 438,
  kcmp: 272, userfaultfd: 282, memfd_create: 279, process_vm_readv: 270, process_vm_writev: 271,
  sched_setaffinity: 122, sched_getaffinity: 123, get_thread_area: -1 /* none */, sched_setscheduler: 119, sched_getscheduler: 120,
  sched_getparam: 121, setpriority: 140, getpriority: 141, prlimit64: 261, restart_syscall: 128,
  exit_group: 94, kill: 129, tgkill: 131, personality: 92, ioctl: 29, fchown: 55, fchmod: 52, ftruncate: 46,
  unshare: 97, setns: 268, getuid: 174, io_uring_setup: 425, clock_gettime: 113, timerfd_create: 85,
  eventfd2: 19, epoll_create1: 20, epoll_ctl: 21, signalfd4: 74, inotify_init1: 26, mount: 40, execve: 221,
  wait4: 260, waitid: 95, statx: 291,
  timerfd_settime: 86, timerfd_gettime: 87, inotify_add_watch: 27, inotify_rm_watch: 28,
  name_to_handle_at: 264, open_by_handle_at: 265,
  ppoll: 73, epoll_pwait: 22,
};

// struct user_pt_regs: x0..x30, sp, pc, pstate
const regNames = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc', 'pstate'] as const;

export const arch: Arch = {
  name: 'aarch64',
  criuMtype: 3, // AARCH64
  sys,
  regNames,
  regsSize: regNames.length * 8,
  syscallInsn: Buffer.from([0x01, 0x00, 0x00, 0xd4]), // svc #0
  syscallInsnLen: 4,
  // aarch64 has no orig_x0 in user_pt_regs: the syscall number is changed through NT_ARM_SYSTEM_CALL
  abi: { nr: 'x8', args: ['x0', 'x1', 'x2', 'x3', 'x4', 'x5'], ret: 'x0', pc: 'pc', sp: 'sp', orig: 'x8' },
  fpRegset: 2, // NT_PRFPREG (struct user_fpsimd_state)
};
