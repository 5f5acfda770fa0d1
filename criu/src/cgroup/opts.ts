// The command line's cgroup options (CRIU's --manage-cgroups, --cgroup-root,
// --cgroup-dump-controller), set by cli/commands.ts for one dump or restore.
import { CriuError } from '../errors.js';

/** CRIU's modes (cr_options.h CG_MODE_*), with the value its restore log prints */
export const CG_MODES = { ignore: 0, none: 1, props: 2, soft: 4, full: 8, strict: 16 } as const;
export type CgMode = keyof typeof CG_MODES;

export interface CgroupOptions {
  mode: CgMode;
  /** --cgroup-root [CTL:]/PATH, in the order given; ctl undefined: every controller */
  roots: { ctl?: string; path: string }[];
  /** --cgroup-dump-controller: only these hierarchies (the middle field of /proc/PID/cgroup) */
  dumpControllers: string[];
  /** --cgroup-yard: a directory with every hierarchy mounted already (cpu,cpuacct/, systemd/, unified/ …) */
  yard?: string;
}

let opts: CgroupOptions = { mode: 'soft', roots: [], dumpControllers: [] };

export function setCgroupOptions(o: { manage?: string | null; roots?: readonly string[]; dumpControllers?: readonly string[]; yard?: string }): void {
  const m = o.manage ?? 'soft';
  if (!(m in CG_MODES)) throw new CriuError(`Unknown cgroups mode \`${m}' selected`);
  const roots = (o.roots ?? []).map((r) => {
    const c = r.indexOf(':');
    return c < 0 ? { path: r } : { ctl: r.slice(0, c), path: r.slice(c + 1) };
  });
  opts = { mode: m as CgMode, roots, dumpControllers: [...(o.dumpControllers ?? [])], yard: o.yard };
}

export const cgroupOptions = (): CgroupOptions => opts;

/** the root for every controller without one of its own: the last --cgroup-root without a controller, as CRIU keeps it */
export const globalRoot = (): string | undefined => [...opts.roots].reverse().find((r) => r.ctl === undefined)?.path;
