// What the command line says is outside the dumped tree and allowed to stay there: CRIU's
// `--external RES` list (external.c: add_external, external_lookup_id) and the legacy
// `-x/--ext-unix-sk[=INO,...]` (opts.ext_unix_sk; its inodes join the list as `unix[INO]`, as
// sk-unix.c unix_sk_ids_parse does). Only `unix[INO]` is acted on yet: any other kind of
// resource is refused by name before anything is touched. The engines set it once per run
// (useExternals); the unix kind reads it (dump: a peer outside the tree; restore: a connect to it).
import { CriuError, NotSupportedError } from '../errors.js';

export interface Externals {
  /** -x/--ext-unix-sk given (with or without inodes) */
  extUnixSk: boolean;
  /** the unix sockets (their inodes) named by `unix[INO]` or --ext-unix-sk=INO */
  unixInodes: number[];
  /** the terminals named by `tty[RDEV:DEV]` (hex, as CRIU's tty_d_name prints them): dumped as external (tty.ts) */
  ttys?: string[];
}

export const noExternals = (): Externals => ({ extUnixSk: false, unixInodes: [], ttys: [] });

let current: Externals = noExternals();

/** Set by the engine at the start of a dump or restore (undefined: none). */
export function useExternals(x: Externals | undefined): void {
  current = x ?? noExternals();
}
export const externals = (): Externals => current;

/** Is the tree's unix socket of inode `ino` named as external (CRIU's unix_sk_exception_lookup_id)? */
export const unixException = (ino: number): boolean => current.unixInodes.includes(ino);

/**
 * The `--external` values and the `--ext-unix-sk` values ('' for the bare flag) of one command
 * line. A resource of a kind other than unix is refused: `not supported yet: --external KIND[...]`.
 */
export function parseExternals(external: readonly string[], extUnixSk: readonly string[] | undefined): Externals {
  const out: Externals = { extUnixSk: extUnixSk !== undefined, unixInodes: [], ttys: [] };
  for (const v of extUnixSk ?? []) {
    for (const part of v.split(',')) {
      if (!part.trim()) continue;
      const ino = parseInt(part, 10);
      if (!(ino > 0)) throw new CriuError(`Can't parse unix socket inode from optarg: ${v}`);
      out.unixInodes.push(ino >>> 0);
    }
  }
  for (const r of external) {
    const m = /^([a-z]+)\[(.*)\](.*)$/s.exec(r);
    const kind = m?.[1] ?? r.split(/[[:]/)[0];
    if (kind === 'tty' && m && m[3] === '') {
      out.ttys!.push(r); // CRIU keeps the string and compares it whole (external_lookup_id)
      continue;
    }
    // external-file.ts (a dump's reg files), ns/mnt.ts (mounts), ns/net-links.ts (veth peers, macvlan parents)
    if (kind === 'file' || kind === 'mnt' || kind === 'veth' || kind === 'net' || kind === 'macvlan') continue;
    if (kind !== 'unix')
      throw new NotSupportedError(`--external ${kind}[...]`, {
        object: r,
        hint: 'only unix[INO], tty[RDEV:DEV], file[MNT_ID:INODE], mnt[…], net[INO]:KEY, veth[IFNAME]:OUTNAME and macvlan[IFNAME]:OUTNAME external resources are handled yet',
      });
    const ino = Number(m?.[2]);
    if (!m || m[3] !== '' || !Number.isInteger(ino) || ino <= 0) throw new CriuError(`Invalid external resource ${r}: expected unix[INODE]`);
    out.unixInodes.push(ino);
  }
  return out;
}
