// timerfd: clock, settime flags, ticks not yet read, the time left and the interval, all from
// fdinfo (the kernel shows the time left, also for TFD_TIMER_ABSTIME timers). On restore the tool
// makes the timer, arms it with the time that was left (for an absolute timer: now + that), then
// puts the unread ticks back with TFD_IOC_SET_TICKS, as CRIU does (settime clears them). The
// settime flags go back as they were: TFD_TIMER_ABSTIME and TFD_TIMER_CANCEL_ON_SET (zdtm
// timerfd_cancel). An absolute timer of a wall clock also keeps the instant it expires at (fields
// of criu-ts's own), so that the restore arms it for that instant, not for now + the time left:
// a wall-clock alarm fires when it was set to, however long the tree spent dumped.
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

/** CLOCK_REALTIME and CLOCK_REALTIME_ALARM: the clocks whose instants mean the same after a restore */
const WALL_CLOCKS = new Set([0, 8]);

function addTime(a: { sec: bigint; nsec: bigint }, b: { sec: bigint; nsec: bigint }): { sec: bigint; nsec: bigint } {
  const nsec = a.nsec + b.nsec;
  return nsec >= NSEC ? { sec: a.sec + b.sec + 1n, nsec: nsec - NSEC } : { sec: a.sec + b.sec, nsec };
}

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
    const armed = t.itValue.sec !== 0n || t.itValue.nsec !== 0n;
    if (armed && t.settimeFlags & TFD_TIMER_ABSTIME && WALL_CLOCKS.has(t.clockid)) {
      // the fdinfo was read just before: its time left ends at this instant, give or take that
      const at = addTime(clockNow(t.clockid), t.itValue);
      tfd.abs_sec = at.sec;
      tfd.abs_nsec = at.nsec;
    }
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
    let value = { sec: BigInt(t.vsec), nsec: BigInt(t.vnsec) };
    const armed = value.sec !== 0n || value.nsec !== 0n;
    if (armed && t.settime_flags & TFD_TIMER_ABSTIME)
      value = t.abs_sec !== undefined ? { sec: BigInt(t.abs_sec), nsec: BigInt(t.abs_nsec ?? 0) } : addTime(clockNow(t.clockid), value);
    // a disarmed timer keeps its cancel-on-set mark (the kernel's might_cancel) only through a settime
    if (armed || t.settime_flags & TFD_TIMER_CANCEL_ON_SET) {
      const its = Buffer.alloc(32); // struct itimerspec { it_interval, it_value }
      its.writeBigInt64LE(BigInt(t.isec), 0);
      its.writeBigInt64LE(BigInt(t.insec), 8);
      its.writeBigInt64LE(value.sec, 16);
      its.writeBigInt64LE(value.nsec, 24);
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
