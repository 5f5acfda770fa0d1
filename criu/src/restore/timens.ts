// Clocks that keep going: a restored tree lives in a new time namespace whose CLOCK_MONOTONIC
// and CLOCK_BOOTTIME go on from the values saved at the dump (timens-ID.img), as CRIU does, so a
// task asleep until an absolute deadline of the old host wakes on time here. The namespace is
// made by the launcher before the first puppet exists (its offsets can be written only while
// no task is inside).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TimensEntry, Timespec } from '../images/index.js';
import { readMessagesOf } from '../images/typed.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { BadImage, asBadImage, type DumpImages } from './images.js';
import type { Launcher } from './launcher.js';

type Clock = Partial<Timespec> | undefined;

export interface ClockPlan {
  /** the image the clocks come from, or null when the restore keeps the host's clocks */
  image: string | null;
  /** saved CLOCK_MONOTONIC and CLOCK_BOOTTIME, ns */
  monotonic: bigint;
  boottime: bigint;
  /** why the host's clocks are kept (no image, no time namespaces in this kernel) */
  why?: string;
}

const G = 1_000_000_000n;
const ns = (t: Clock): bigint => BigInt(t?.tv_sec ?? 0) * G + BigInt(t?.tv_nsec ?? 0);

/**
 * Which clocks the tree gets, read before any process is made. A tree whose root was in the
 * dumping tool's time namespace has its clocks in timens-0.img; one that lived in a time
 * namespace of its own (as every tree restored by CRIU or by us does) in timens-ID.img, ID
 * being its time_ns_id. Tasks in a time namespace other than the root's are refused.
 */
export function planClocks(img: DumpImages, kernelHasTimens = fs.existsSync('/proc/self/ns/time')): ClockPlan {
  const root = img.tasks[0];
  const own = root.ids?.time_ns_id;
  for (const t of img.tasks) {
    if (t.zombie || t.ids?.time_ns_id === undefined || t.ids.time_ns_id === own) continue;
    throw new NotSupportedError(
      `task ${t.pid}: time namespace ${t.ids.time_ns_id}, not the one of the root task ${root.pid} (${own})`,
      'nested time namespaces are restored with containers, not yet',
    );
  }
  const hostId = img.inventory.root_ids?.time_ns_id;
  const id = own !== undefined && hostId !== undefined && own !== hostId ? own : 0;
  const name = `timens-${id}.img`;
  const file = path.join(img.dir, name);
  if (!kernelHasTimens) return { image: null, monotonic: 0n, boottime: 0n, why: 'this kernel has no time namespaces' };
  if (!fs.existsSync(file)) {
    if (id !== 0) throw new CriuError(`task ${root.pid}: image ${name} of its time namespace is missing in ${img.dir}`, 'was the dump complete?');
    return { image: null, monotonic: 0n, boottime: 0n, why: `${name} is not in the images (clocks were not dumped)` };
  }
  const entries: Partial<TimensEntry>[] = asBadImage(() => readMessagesOf(file, 'TIMENS'));
  if (!entries.length) {
    if (id !== 0) throw new CriuError(`${name}: no timens_entry`, 'the images are damaged');
    return { image: null, monotonic: 0n, boottime: 0n, why: `${name} is empty (clocks were not dumped)` };
  }
  const e = entries[0];
  // a clock the kernel cannot be set to: nanoseconds past a second, seconds past KTIME_SEC_MAX
  for (const [clock, field, max] of [
    ['monotonic', 'tv_sec', 4611686018n],
    ['monotonic', 'tv_nsec', G - 1n],
    ['boottime', 'tv_sec', 4611686018n],
    ['boottime', 'tv_nsec', G - 1n],
  ] as const) {
    const v = BigInt(e[clock]?.[field] ?? 0);
    if (v > max) throw new BadImage(name, 0, `${clock}.${field}`, `${v} is out of range (0..${max})`);
  }
  return { image: name, monotonic: ns(e.monotonic), boottime: ns(e.boottime) };
}

const fmt = (v: bigint): string => {
  const neg = v < 0n,
    a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / G}.${String(a % G).padStart(9, '0')}`;
};

/** Puts the puppets to come into the planned time namespace (or says why not, at -v4). */
export function enterClocks(plan: ClockPlan, launcher: Launcher): void {
  if (!plan.image) {
    log.debug(`timens: the tree keeps the host's clocks: ${plan.why}`);
    return;
  }
  let off: { monotonic: bigint; boottime: bigint };
  try {
    off = launcher.enterTimens(plan.monotonic, plan.boottime);
  } catch (e) {
    throw new CriuError(
      `${plan.image}: cannot make a time namespace whose clocks go on from monotonic ${fmt(plan.monotonic)} s, boottime ${fmt(plan.boottime)} s: ${(e as Error).message}`,
      'the tool needs CAP_SYS_ADMIN and CAP_SYS_TIME; a clock far ahead of this host may be out of the range the kernel accepts',
    );
  }
  log.debug(
    `timens: a new time namespace from ${plan.image}: clocks go on from monotonic ${fmt(plan.monotonic)} s, boottime ${fmt(plan.boottime)} s ` +
      `(offsets to this host: monotonic ${fmt(off.monotonic)} s, boottime ${fmt(off.boottime)} s)`,
  );
}
