// timerfd: clock, settime flags, ticks not yet read, the time left and the interval, all from
// fdinfo (the kernel shows the time left, also for TFD_TIMER_ABSTIME timers). On restore the tool
// makes the timer, arms it with the time that was left (for an absolute timer: now + that), then
// puts the unread ticks back with TFD_IOC_SET_TICKS, as CRIU does (settime clears them). The
// settime flags go back as they were: TFD_TIMER_ABSTIME and TFD_TIMER_CANCEL_ON_SET (zdtm
// timerfd_cancel).
import type { FileKind } from './kind.js';
import { syscall, addrOf, ioctl } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FileError, partOf } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { FdTypes, type FileEntry, type TimerfdEntry } from '../images/gen/types.js';

const TFD_CLOEXEC = O_CLOEXEC;
export const TFD_TIMER_ABSTIME = 1;
/** a CLOCK_REALTIME absolute timer whose read fails with ECANCELED once the clock is set */
export const TFD_TIMER_CANCEL_ON_SET = 2;
/** _IOW('T', 0, u64) */
const TFD_IOC_SET_TICKS = 0x40085400;
const NSEC = 1_000_000_000n;

function clockNow(clockid: number): { sec: bigint; nsec: bigint } {
  const ts = Buffer.alloc(16);
  syscall('clock_gettime', clockid, addrOf(ts));
  return { sec: ts.readBigInt64LE(0), nsec: ts.readBigInt64LE(8) };
}

export const timerfdKind: FileKind = {
  name: 'timerfd',
  type: FdTypes.TIMERFD,
  field: 'tfd',
  priority: 420,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'timerfd',
  dump: (ctx, id): FileEntry => {
    const t = ctx.info.timerfd;
    if (!t) throw new NotSupportedError(`${where(ctx, 'timerfd')}: no clockid/it_value lines in its fdinfo`);
    const tfd: TimerfdEntry = {
      id,
      flags: fileFlags(ctx),
      fown: dumpFown(ctx, ctx.takeFd(), 'timerfd'),
      clockid: t.clockid,
      ticks: t.ticks,
      settime_flags: t.settimeFlags,
      vsec: t.itValue.sec,
      vnsec: t.itValue.nsec,
      isec: t.itInterval.sec,
      insec: t.itInterval.nsec,
    };
    return { type: FdTypes.TIMERFD, id, tfd };
  },
  open: (_ctx, e, _s, who) => {
    const t = partOf(e, 'tfd', who);
    let fd: number;
    try {
      fd = Number(syscall('timerfd_create', t.clockid, TFD_CLOEXEC));
    } catch (err) {
      throw new FileError(who, `cannot create timerfd ${t.id} on clock ${t.clockid}: ${(err as Error).message}`, { object: `timerfd ${t.id}` });
    }
    restoreFileParams(fd, t.flags, t.fown);
    let vsec = BigInt(t.vsec),
      vnsec = BigInt(t.vnsec);
    const armed = vsec !== 0n || vnsec !== 0n;
    if (armed && t.settime_flags & TFD_TIMER_ABSTIME) {
      const now = clockNow(t.clockid);
      vsec += now.sec;
      vnsec += now.nsec;
      if (vnsec >= NSEC) {
        vsec += 1n;
        vnsec -= NSEC;
      }
    }
    // a disarmed timer keeps its cancel-on-set mark (the kernel's might_cancel) only through a settime
    if (armed || t.settime_flags & TFD_TIMER_CANCEL_ON_SET) {
      const its = Buffer.alloc(32); // struct itimerspec { it_interval, it_value }
      its.writeBigInt64LE(BigInt(t.isec), 0);
      its.writeBigInt64LE(BigInt(t.insec), 8);
      its.writeBigInt64LE(vsec, 16);
      its.writeBigInt64LE(vnsec, 24);
      syscall('timerfd_settime', fd, t.settime_flags, addrOf(its), 0);
    }
    if (BigInt(t.ticks) !== 0n) {
      const ticks = Buffer.alloc(8);
      ticks.writeBigUInt64LE(BigInt(t.ticks));
      try {
        ioctl(fd, TFD_IOC_SET_TICKS, ticks);
      } catch (err) {
        throw new FileError(who, `cannot put back ${t.ticks} ticks of timerfd ${t.id}: ${(err as Error).message}`, {
          object: `timerfd ${t.id}`,
          hint: 'the kernel needs CONFIG_CHECKPOINT_RESTORE for TFD_IOC_SET_TICKS',
        });
      }
    }
    return fd;
  },
};
