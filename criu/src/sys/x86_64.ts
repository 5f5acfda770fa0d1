import type { Arch } from './arch.js';

const sys = {
  read: 0, write: 1, close: 3, lseek: 8, mmap: 9, mprotect: 10, munmap: 11, brk: 12,
  rt_sigaction: 13, rt_sigprocmask: 14, rt_sigtimedwait: 128, ioctl: 16, preadv: 295, pwritev: 296, mremap: 25, madvise: 28,
  getpid: 39, socket: 41, connect: 42, sendmsg: 46, recvmsg: 47, execve: 59, exit_group: 231,
  wait4: 61, kill: 62, fcntl: 72, ftruncate: 77, chdir: 80, fchdir: 81, fchmod: 91, fchown: 93, umask: 95,
  getuid: 102, setpgid: 109, setsid: 112, setgroups: 116, setresuid: 117, setresgid: 119,
  setfsuid: 122, setfsgid: 123, capget: 125, capset: 126, sigaltstack: 131, personality: 135,
  getpriority: 140, setpriority: 141, sched_getparam: 143, sched_setscheduler: 144, sched_getscheduler: 145,
  prctl: 157, arch_prctl: 158, mount: 165, gettid: 186, tgkill: 234, set_tid_address: 218,
  restart_syscall: 219, timer_create: 222, timer_getoverrun: 225, timer_settime: 223, timer_gettime: 224, clock_gettime: 228,
  getitimer: 36, setitimer: 38, set_robust_list: 273, get_robust_list: 274, splice: 275, tee: 276, vmsplice: 278,
  sched_setaffinity: 203, sched_getaffinity: 204, get_thread_area: 211, rt_sigqueueinfo: 129, rt_tgsigqueueinfo: 297,
  epoll_ctl: 233, timerfd_create: 283, eventfd2: 290, epoll_create1: 291, dup3: 292, pipe2: 293,
  inotify_init1: 294, signalfd4: 289, prlimit64: 302, setns: 308, unshare: 272, process_vm_readv: 310,
  process_vm_writev: 311, kcmp: 312, seccomp: 317, memfd_create: 319, userfaultfd: 323, statx: 332,
  rseq: 334, io_uring_setup: 425, pidfd_open: 434, clone3: 435, close_range: 436, pidfd_getfd: 438,
  openat: 257, waitid: 247,
  timerfd_settime: 286, timerfd_gettime: 287, inotify_add_watch: 254, inotify_rm_watch: 255,
  name_to_handle_at: 303, open_by_handle_at: 304,
  ppoll: 271, epoll_pwait: 281,
};

// struct user_regs_struct
const regNames = ['r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di',
  'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'] as const;

export const arch: Arch = {
  name: 'x86_64',
  criuMtype: 1, // X86_64
  sys,
  regNames,
  regsSize: regNames.length * 8,
  syscallInsn: Buffer.from([0x0f, 0x05]),
  syscallInsnLen: 2,
  abi: { nr: 'ax', args: ['di', 'si', 'dx', 'r10', 'r8', 'r9'], ret: 'ax', pc: 'ip', sp: 'sp', orig: 'orig_ax' },
  fpRegset: 0x202, // NT_X86_XSTATE
};
