// /proc/PID/mountinfo.
import { readProcText, ProcParseError, unescapeOctal } from './util.js';

export interface MountInfo {
  mntId: number;
  parentId: number;
  major: number;
  minor: number;
  /** root of the mount inside its filesystem (unescaped) */
  root: string;
  /** mount point relative to the reader's root (unescaped) */
  mountPoint: string;
  /** per-mount options ("rw,nosuid,relatime") */
  options: string;
  /** optional fields as printed ("shared:1", "master:2", "propagate_from:3", "unbindable") */
  optional: string[];
  shared?: number;
  master?: number;
  propagateFrom?: number;
  unbindable: boolean;
  /** "ext4", or "fuse.sshfs" with its subtype */
  fstype: string;
  /** mount source (unescaped), "none" when the fs gave none */
  source: string;
  superOptions: string;
}

export function parseMountinfoLine(line: string, file = 'mountinfo', lineNo = 0): MountInfo {
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0 || f.length < sep + 4) throw new ProcParseError(file, lineNo, line, 'not a mountinfo line');
  const [maj, min] = f[2].split(':').map(Number);
  const mntId = Number(f[0]),
    parentId = Number(f[1]);
  if (![mntId, parentId, maj, min].every(Number.isInteger)) throw new ProcParseError(file, lineNo, line, 'bad ids');
  const optional = f.slice(6, sep);
  const m: MountInfo = {
    mntId,
    parentId,
    major: maj,
    minor: min,
    root: unescapeOctal(f[3]),
    mountPoint: unescapeOctal(f[4]),
    options: f[5],
    optional,
    unbindable: false,
    fstype: unescapeOctal(f[sep + 1]),
    source: unescapeOctal(f[sep + 2]),
    superOptions: f.slice(sep + 3).join(' '),
  };
  for (const o of optional) {
    const c = o.indexOf(':');
    const n = c < 0 ? NaN : Number(o.slice(c + 1));
    if (o.startsWith('shared:')) m.shared = n;
    else if (o.startsWith('master:')) m.master = n;
    else if (o.startsWith('propagate_from:')) m.propagateFrom = n;
    else if (o === 'unbindable') m.unbindable = true;
  }
  return m;
}

export function parseMountinfo(text: string, file = 'mountinfo'): MountInfo[] {
  const out: MountInfo[] = [];
  const ls = text.split('\n');
  for (let i = 0; i < ls.length; i++) if (ls[i] !== '') out.push(parseMountinfoLine(ls[i], file, i + 1));
  return out;
}

export function readMountinfo(pid: number): MountInfo[] {
  return parseMountinfo(readProcText(pid, 'mountinfo'), `/proc/${pid}/mountinfo`);
}
