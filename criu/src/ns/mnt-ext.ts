// Where mounts of a tree come from outside it (ns/mnt.ts): the tool's own mounts (the source
// of an external bind, and the mount whose peer group it joins: ns/mnt-prop.ts), and the mounts
// plugins make at the restore (RESTORE_EXT_MOUNT) in the tool's namespace, for the mount helper
// to clone into the tree's.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { MntEntry } from '../images/index.js';
import type { MountInfo } from '../proc/mountinfo.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { pluginCalls } from '../hooks.js';
import type { HostMount } from './mnt-prop.js';

// loaded when a mount namespace is met only (node:child_process costs ~18 ms to load)
type Cp = typeof import('node:child_process');
export function run(bin: string, args: string[], o: import('node:child_process').SpawnSyncOptions): { status: number | null; error?: Error; stderr: Buffer } {
  const r = (createRequire(import.meta.url)('node:child_process') as Cp).spawnSync(bin, args, o);
  return { status: r.status, error: r.error, stderr: Buffer.from(r.stderr ?? '') };
}

/** `p` is `of` or below it */
export const isSubpath = (p: string, of: string): boolean => of === '/' || p === of || p.startsWith(of.endsWith('/') ? of : `${of}/`);

const O_PATH = 0o10000000;

/** The tool's mount that holds `p` (the topmost of the longest mountpoint above it), open, with its propagation. */
export function toolMountOf(mine: MountInfo[], p: string): Omit<HostMount, 'ref'> & { fd: number } {
  const real = fs.realpathSync(p);
  let best: MountInfo | undefined;
  for (const m of mine) if (isSubpath(real, m.mountPoint) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  if (!best) throw new CriuError(`no mount of the tool's namespace holds ${p}`);
  return { fd: fs.openSync(best.mountPoint, O_PATH), shared: best.shared !== undefined, slave: best.master !== undefined, at: best.mountPoint };
}

/** The mounts a plugin dumped (with_plugin), each mounted by its plugin (RESTORE_EXT_MOUNT) at a directory of the tool's namespace the helper clones it from; returns their cleanup. */
export function pluginMounts(plan: { e: MntEntry; how: string; from?: string | MntEntry }[]): () => void {
  const dirs: string[] = [];
  const cleanup = (): void => {
    for (const d of dirs.splice(0)) {
      run('umount', ['-l', d], { stdio: 'ignore' });
      try {
        fs.rmdirSync(d); // never recursive: what a plugin mounted there is not ours to remove
      } catch (e) {
        log.warn(`cannot remove ${d}, where a plugin mounted a filesystem: ${(e as Error).message}`);
      }
    }
  };
  try {
    for (const p of plan.filter((x) => x.how === 'plugin')) {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), `criu-ext-mnt-${p.e.mnt_id}-`));
      dirs.push(d);
      log.debug(`Restoring external bind mount ${p.e.mountpoint} (mount ${p.e.mnt_id}) by a plugin at ${d}`);
      pluginCalls().restoreExtMount(p.e.mnt_id, d);
      p.from = d;
    }
  } catch (e) {
    cleanup();
    throw e;
  }
  return cleanup;
}
