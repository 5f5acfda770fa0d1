// `--external file[MNT_ID:INODE]` on dump (CRIU's external.c, files-reg.c dump_one_reg_file): a
// regular file the caller will hand back at restore. Its reg_file_entry gets the key as its name
// and `ext` set, and the restore takes it only from `--inherit-fd fd[N]:file[MNT_ID:INODE]`
// (reg.ts). The key is CRIU's `file[%x:%lx]`: the mount id (fdinfo's mnt_id) and the inode, in
// hex. unix[] and tty[] are external.ts's; any other kind is refused by name.
import { NotSupportedError, CriuError } from '../errors.js';
import { setRegDumpOptions, DEFAULT_GHOST_LIMIT } from './reg-opts.js';

/** CRIU's key of a file: `file[<mnt_id hex>:<inode hex>]`. */
export const externalFileKey = (mntId: number, ino: bigint | number): string => `file[${mntId.toString(16)}:${BigInt(ino).toString(16)}]`;

/** The `file[…]` keys of the --external arguments; any other kind is refused. */
export function parseExternalFiles(args: readonly string[]): Set<string> {
  const keys = new Set<string>();
  for (const a of args) {
    const m = /^([a-z_]+)\[/.exec(a);
    if (!m) throw new CriuError(`Invalid external resource: ${a}`, { hint: 'the form is KIND[ID]…, e.g. file[MNT_ID:INODE] (hex)' });
    if (['unix', 'tty', 'mnt', 'net', 'veth'].includes(m[1])) continue; // external.ts, ns/mnt-opts.ts, ns/net.ts, ns/net-links.ts
    if (m[1] !== 'file')
      throw new NotSupportedError(`--external ${m[1]}[…]`, { object: a, hint: 'only --external file[MNT_ID:INODE] is taken by criu-ts yet' });
    const f = /^file\[([0-9a-fA-F]+):([0-9a-fA-F]+)\]$/.exec(a);
    if (!f)
      throw new CriuError(`Invalid external file: ${a}`, {
        hint: 'the form is file[MNT_ID:INODE], both in hex (as fdinfo mnt_id and the inode, CRIU prints them so)',
      });
    keys.add(externalFileKey(parseInt(f[1], 16), BigInt(`0x${f[2]}`)));
  }
  return keys;
}

/** The dump's options for regular files and devices (reg-opts.ts), from the engine's options; refuses other --external kinds. */
export function configureRegDump(o: {
  linkRemap?: boolean;
  evasiveDevices?: boolean;
  ghostLimit?: number;
  leaveRunning?: boolean;
  external?: readonly string[];
}): void {
  setRegDumpOptions({
    linkRemap: o.linkRemap ?? false,
    evasiveDevices: o.evasiveDevices ?? false,
    ghostLimit: o.ghostLimit ?? DEFAULT_GHOST_LIMIT,
    leaveRunning: o.leaveRunning ?? false,
    externalFiles: parseExternalFiles(o.external ?? []),
  });
}
