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
import type { Injector } from '../ptrace/inject.js';
import { clockNs, CLOCK, errnoName } from '../sys/libc.js';

type Clock = Partial<Timespec> | undefined;

export interface ClockPlan {
  /** the image the clocks come from, or null when the restore keeps the host's clocks */
  image: string | null;
  /** saved CLOCK_MONOTONIC and CLOCK_BOOTTIME, ns */
  monotonic: bigint;
  boottime: bigint;
  /** why the host's clocks are kept (no image, no time namespaces in this kernel) */
  why?: string;
  /**
   * time namespaces below the root's, by the task whose children live in it: made by an
   * unshare(CLONE_NEWTIME) injected in that task's puppet before its first child is forked
   */
  nested: Map<number, NestedClock>;
  /** the offsets the root's namespace got (set by enterClocks) */
  offsets?: { monotonic: bigint; boottime: bigint };
}

export interface NestedClock {
  id: number;
  image: string;
  monotonic: bigint;
  boottime: bigint;
  entered: boolean;
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
  const nested = planNested(img, kernelHasTimens);
  const hostId = img.inventory.root_ids?.time_ns_id;
  const id = own !== undefined && hostId !== undefined && own !== hostId ? own : 0;
  const name = `timens-${id}.img`;
  const file = path.join(img.dir, name);
  if (!kernelHasTimens) return { image: null, monotonic: 0n, boottime: 0n, why: 'this kernel has no time namespaces', nested };
  if (!fs.existsSync(file)) {
    if (id !== 0) throw new CriuError(`task ${root.pid}: image ${name} of its time namespace is missing in ${img.dir}`, 'was the dump complete?');
    return { image: null, monotonic: 0n, boottime: 0n, why: `${name} is not in the images (clocks were not dumped)`, nested };
  }
  const e = readClocks(img.dir, name, id !== 0);
  if (!e) return { image: null, monotonic: 0n, boottime: 0n, why: `${name} is empty (clocks were not dumped)`, nested };
  return { image: name, monotonic: e.monotonic, boottime: e.boottime, nested };
}

/** the saved clocks of timens-ID.img (null: empty, allowed for timens-0.img only) */
function readClocks(dir: string, name: string, required: boolean): { monotonic: bigint; boottime: bigint } | null {
  const entries: Partial<TimensEntry>[] = asBadImage(() => readMessagesOf(path.join(dir, name), 'TIMENS'));
  if (!entries.length) {
    if (required) throw new CriuError(`${name}: no timens_entry`, 'the images are damaged');
    return null;
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
  return { monotonic: ns(e.monotonic), boottime: ns(e.boottime) };
}

/**
 * The time namespaces below the root's: a task in another time namespace than its parent's is
 * in the one its parent made (unshare) before forking it; all of that parent's live children
 * must be in it (they are forked after the unshare).
 */
function planNested(img: DumpImages, kernelHasTimens: boolean): Map<number, NestedClock> {
  const byPid = new Map(img.tasks.map((t) => [t.pid, t]));
  const out = new Map<number, NestedClock>();
  for (const t of img.tasks.slice(1)) {
    const parent = byPid.get(t.pstree.ppid);
    const id = t.ids?.time_ns_id;
    if (t.zombie || !parent || id === undefined || id === parent.ids?.time_ns_id) continue;
    const kids = img.tasks.filter((k) => k.pstree.ppid === parent.pid && !k.zombie);
    const off = kids.find((k) => k.ids?.time_ns_id !== id);
    if (off)
      throw new NotSupportedError(
        `task ${off.pid}: time namespace ${off.ids?.time_ns_id}, while its sibling ${t.pid} is in ${id}`,
        'the children of a task are restored all in its namespace or all in the one it made',
      );
    if (!kernelHasTimens) throw new NotSupportedError(`task ${t.pid}: time namespace ${id} below its parent's`, 'this kernel has no time namespaces');
    const image = `timens-${id}.img`;
    if (!fs.existsSync(path.join(img.dir, image)))
      throw new CriuError(`task ${t.pid}: image ${image} of its time namespace is missing in ${img.dir}`, 'was the dump complete?');
    out.set(parent.pid, { id, image, ...readClocks(img.dir, image, true)!, entered: false });
  }
  return out;
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
    off = plan.offsets = launcher.enterTimens(plan.monotonic, plan.boottime);
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

const CLONE_NEWTIME = 0x80;

/**
 * Before `parent` forks its first child: the time namespace its children live in, made by an
 * injected unshare(CLONE_NEWTIME) (the puppet still has the tool's credentials) and given its
 * offsets from the tool through /proc/PARENT/timens_offsets, before any task is in it. Its
 * clocks keep their distance to the root's namespace's, as at the dump.
 */
export function enterChildClocks(plan: ClockPlan, parent: { pid: number; inj: Injector }): void {
  const n = plan.nested.get(parent.pid);
  if (!n || n.entered) return;
  const now = { monotonic: clockNs(CLOCK.MONOTONIC), boottime: clockNs(CLOCK.BOOTTIME) };
  const off = (k: 'monotonic' | 'boottime'): bigint => (plan.image && plan.offsets ? plan.offsets[k] + n[k] - plan[k] : n[k] - now[k]);
  const line = (clock: number, v: bigint): string => {
    const sec = v >= 0n ? v / G : -((-v + G - 1n) / G);
    return `${clock} ${sec} ${v - sec * G}\n`;
  };
  const r = parent.inj.call('unshare', CLONE_NEWTIME);
  if (r < 0n)
    throw new CriuError(`task ${parent.pid}: cannot make time namespace ${n.id} for its children (unshare): ${errnoName(Number(-r))}`, { task: parent.pid });
  const text = line(CLOCK.MONOTONIC, off('monotonic')) + line(CLOCK.BOOTTIME, off('boottime'));
  try {
    fs.writeFileSync(`/proc/${parent.pid}/timens_offsets`, text);
  } catch (e) {
    throw new CriuError(`${n.image}: cannot set the offsets of time namespace ${n.id} (${text.trim().replace(/\n/g, ', ')}): ${(e as Error).message}`, {
      task: parent.pid,
      hint: 'the tool needs CAP_SYS_TIME; a clock far from this host may be out of the range the kernel accepts',
    });
  }
  n.entered = true;
  log.debug(`timens: task ${parent.pid}'s children get time namespace ${n.id} from ${n.image} (offsets ${fmt(off('monotonic'))} s, ${fmt(off('boottime'))} s)`);
}
