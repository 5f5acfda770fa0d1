// Per-architecture facts: syscall numbers, register layouts, ptrace regsets.
// Only what differs between arches lives here; callers ask `arch` and never test process.arch.
import * as x86_64 from './x86_64.js';
import * as aarch64 from './aarch64.js';
import { NotSupportedError } from './errors.js';

export interface ArchSyscalls {
  read: number;
  write: number;
  close: number;
  openat: number;
  lseek: number;
  mmap: number;
  mprotect: number;
  munmap: number;
  mremap: number;
  madvise: number;
  brk: number;
  rt_sigaction: number;
  rt_sigprocmask: number;
  rt_sigtimedwait: number;
  rt_sigqueueinfo: number;
  rt_tgsigqueueinfo: number;
  sigaltstack: number;
  getpid: number;
  gettid: number;
  prctl: number;
  arch_prctl: number;
  preadv: number;
  pwritev: number;
  pipe2: number;
  vmsplice: number;
  splice: number;
  dup3: number;
  fcntl: number;
  chdir: number;
  fchdir: number;
  umask: number;
  setsid: number;
  setpgid: number;
  getitimer: number;
  setitimer: number;
  timer_gettime: number;
  timer_settime: number;
  timer_create: number;
  timer_getoverrun: number;
  set_robust_list: number;
  get_robust_list: number;
  set_tid_address: number;
  rseq: number;
  seccomp: number;
  clone3: number;
  close_range: number;
  recvmsg: number;
  sendmsg: number;
  socket: number;
  connect: number;
  setresuid: number;
  setresgid: number;
  getgroups: number;
  setgroups: number;
  capset: number;
  capget: number;
  setfsuid: number;
  setfsgid: number;
  pidfd_open: number;
  pidfd_send_signal: number;
  fanotify_init: number;
  fanotify_mark: number;
  mlock2: number;
  shmat: number;
  shmdt: number;
  mq_open: number;
  mq_unlink: number;
  mq_timedsend: number;
  mq_timedreceive: number;
  mq_getsetattr: number;
  munlock: number;
  pidfd_getfd: number;
  perf_event_open: number;
  kcmp: number;
  userfaultfd: number;
  memfd_create: number;
  process_vm_readv: number;
  process_vm_writev: number;
  sched_setaffinity: number;
  sched_getaffinity: number;
  get_thread_area: number;
  sched_setscheduler: number;
  sched_getscheduler: number;
  sched_getparam: number;
  setpriority: number;
  getpriority: number;
  prlimit64: number;
  restart_syscall: number;
  exit_group: number;
  kill: number;
  tgkill: number;
  personality: number;
  ioctl: number;
  fchown: number;
  fchmod: number;
  ftruncate: number;
  flock: number;
  unshare: number;
  setns: number;
  getuid: number;
  io_uring_setup: number;
  io_setup: number;
  io_submit: number;
  io_getevents: number;
  clock_gettime: number;
  timerfd_create: number;
  eventfd2: number;
  epoll_create1: number;
  epoll_ctl: number;
  signalfd4: number;
  inotify_init1: number;
  tee: number;
  mount: number;
  execve: number;
  wait4: number;
  waitid: number;
  statx: number;
  timerfd_settime: number;
  timerfd_gettime: number;
  inotify_add_watch: number;
  inotify_rm_watch: number;
  name_to_handle_at: number;
  open_by_handle_at: number;
  ppoll: number;
  epoll_pwait: number;
  shmget: number;
  shmctl: number;
  semget: number;
  semctl: number;
  msgget: number;
  msgsnd: number;
  msgrcv: number;
  msgctl: number;
  sethostname: number;
  setdomainname: number;
}

export interface Arch {
  name: 'x86_64' | 'aarch64';
  /** CRIU's core_entry.mtype value for this arch */
  criuMtype: number;
  sys: ArchSyscalls;
  /** general registers as PTRACE_GETREGSET(NT_PRSTATUS) returns them, in order */
  regNames: readonly string[];
  regsSize: number;
  /** the instruction that enters the kernel, and how long it is */
  syscallInsn: Buffer;
  /** register names for: syscall number, args 1..6, return value, pc, sp, orig syscall */
  abi: { nr: string; args: readonly string[]; ret: string; pc: string; sp: string; orig: string };
  /** regset that carries the full FPU/vector state */
  fpRegset: number;
  /** the ERESTART* → re-run rewind of the pc in bytes */
  syscallInsnLen: number;
  /** the end of the user address space (the kernel's TASK_SIZE; CRIU's kdat.task_size) */
  taskSize(): bigint;
}

const table: Record<string, Arch> = { x64: x86_64.arch, arm64: aarch64.arch };
const found = table[process.arch];
if (!found) throw new NotSupportedError(`architecture ${process.arch} (x86_64 and aarch64 are)`);
export const arch: Arch = found;
export const SYS = arch.sys;
