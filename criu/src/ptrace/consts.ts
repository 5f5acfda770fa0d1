// ptrace(2) requests, options and events, and the regset notes the tool uses.
export const PTRACE = {
  TRACEME: 0,
  PEEKDATA: 2,
  PEEKUSER: 3,
  POKEDATA: 5,
  CONT: 7,
  KILL: 8,
  SINGLESTEP: 9,
  GETREGS: 12,
  SETREGS: 13,
  ATTACH: 16,
  DETACH: 17,
  SYSCALL: 24,
  SETOPTIONS: 0x4200,
  GETEVENTMSG: 0x4201,
  GETSIGINFO: 0x4202,
  SETSIGINFO: 0x4203,
  GETREGSET: 0x4204,
  SETREGSET: 0x4205,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
  LISTEN: 0x4208,
  PEEKSIGINFO: 0x4209,
  GETSIGMASK: 0x420a,
  SETSIGMASK: 0x420b,
  SECCOMP_GET_FILTER: 0x420c,
  SECCOMP_GET_METADATA: 0x420d,
  GET_SYSCALL_INFO: 0x420e,
  GET_RSEQ_CONFIGURATION: 0x420f,
} as const;

export const PTRACE_O = {
  TRACESYSGOOD: 1,
  TRACEFORK: 1 << 1,
  TRACEVFORK: 1 << 2,
  TRACECLONE: 1 << 3,
  TRACEEXEC: 1 << 4,
  TRACEVFORKDONE: 1 << 5,
  TRACEEXIT: 1 << 6,
  TRACESECCOMP: 1 << 7,
  EXITKILL: 1 << 20,
  SUSPEND_SECCOMP: 1 << 21,
} as const;

export const PTRACE_EVENT = { FORK: 1, VFORK: 2, CLONE: 3, EXEC: 4, VFORK_DONE: 5, EXIT: 6, SECCOMP: 7, STOP: 128 } as const;
export const PTRACE_PEEKSIGINFO_SHARED = 1;

export const NT = {
  PRSTATUS: 1,
  PRFPREG: 2,
  X86_XSTATE: 0x202,
  ARM_TLS: 0x401,
  ARM_SYSTEM_CALL: 0x404,
  ARM_SVE: 0x405,
  ARM_PACA_KEYS: 0x407,
  ARM_PACG_KEYS: 0x408,
  ARM_TAGGED_ADDR_CTRL: 0x409,
  ARM_PAC_ENABLED_KEYS: 0x40a,
  ARM_SSVE: 0x40b,
  ARM_ZA: 0x40c,
} as const;

export const SIG = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
} as const;
export const SIGMAX = 64;
export const SIGINFO_SIZE = 128;

// Kernel-internal syscall-restart codes seen in a task stopped inside a syscall
export const ERESTARTSYS = 512,
  ERESTARTNOINTR = 513,
  ERESTARTNOHAND = 514,
  ERESTART_RESTARTBLOCK = 516;
