// The command line's options for mounts (ns/mnt.ts), set by cli/commands.ts for one dump or
// restore: --external mnt[…], --ext-mount-map, --root, --skip-mnt, --enable-external-sharing/-masters.
import { CriuError } from '../errors.js';

export interface MntOptions {
  /** --ext-mount-map auto (or --external mnt[]): binds of the tool's filesystems are found by themselves */
  auto: boolean;
  /** dump: --external mnt[MOUNTPOINT]:KEY and -M MOUNTPOINT:KEY; restore: mnt[KEY]:PATH and -M KEY:PATH */
  map: Map<string, string>;
  /** --root PATH: the restored root mount is a bind of PATH */
  root?: string;
  /** --skip-mnt */
  skip: string[];
  /** --enable-external-sharing: an autodetected external mount may be a peer of the tool's mounts */
  sharing: boolean;
  /** --enable-external-masters: an autodetected external mount may be a slave of the tool's mounts */
  masters: boolean;
}
let opts: MntOptions = { auto: false, map: new Map(), skip: [], sharing: false, masters: false };

/** From the command line: --external mnt[…], --ext-mount-map, --root, --skip-mnt. */
export function setMntOptions(o: {
  external?: readonly string[];
  extMountMap?: readonly string[];
  root?: string;
  skip?: readonly string[];
  sharing?: boolean;
  masters?: boolean;
}): void {
  const map = new Map<string, string>();
  let auto = false;
  for (const r of o.external ?? []) {
    const m = /^mnt\[(.*)\](?::(.*))?$/s.exec(r);
    if (!m) continue;
    if (m[1] === '') auto = true;
    else map.set(m[1], m[2] ?? '');
  }
  for (const v of o.extMountMap ?? []) {
    if (v === 'auto') {
      auto = true;
      continue;
    }
    const c = v.indexOf(':');
    if (c <= 0) throw new CriuError(`--ext-mount-map ${v}: KEY:VALUE or auto expected`);
    map.set(v.slice(0, c), v.slice(c + 1));
  }
  opts = { auto, map, root: o.root, skip: [...(o.skip ?? [])], sharing: o.sharing === true, masters: o.masters === true };
}

export const mntOptions = (): MntOptions => opts;
