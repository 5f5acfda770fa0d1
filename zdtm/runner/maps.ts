// /proc/PID/maps compared field by field, not as text: the kernel pads the inode column so that
// the path starts at a fixed column, so the same VMA prints with a different number of blanks
// when its inode (or address) has a different width. One parser for the zdtm harness
// (state.ts) and the unit tests that compare a task's maps before and after a restore. It is
// the tests' own, independent of the tool's parser (criu/src/proc/maps.ts) that it checks.

export interface MapsEntry {
  start: bigint;
  end: bigint;
  /** "rw-p" */
  perms: string;
  offset: bigint;
  /** "fe:01", as printed (hex major:minor) */
  dev: string;
  inode: string;
  /** the rest of the line without the padding before it ("" for anonymous memory); may contain blanks */
  path: string;
}

export type MapsField = 'dev' | 'inode';

const LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;

/** Parses maps text; a line that is not a VMA line throws, naming the line. */
export function parseMapsText(text: string, what = 'maps'): MapsEntry[] {
  const out: MapsEntry[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l) return;
    const m = LINE.exec(l);
    if (!m) throw new Error(`${what}:${i + 1}: not a /proc/PID/maps line: "${l}"`);
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3],
      offset: BigInt(`0x${m[4]}`),
      dev: m[5],
      inode: String(BigInt(m[6])),
      path: m[7] ?? '',
    });
  });
  return out;
}

const hex = (n: bigint, w: number) => n.toString(16).padStart(w, '0');

/** One VMA as one canonical line (single blanks, fixed widths), without the ignored fields. */
export function formatMapsEntry(e: MapsEntry, ignore: readonly MapsField[] = []): string {
  const f = [`${hex(e.start, 8)}-${hex(e.end, 8)}`, e.perms, hex(e.offset, 8)];
  if (!ignore.includes('dev')) f.push(e.dev);
  if (!ignore.includes('inode')) f.push(e.inode);
  if (e.path) f.push(e.path);
  return f.join(' ');
}

/**
 * The fields of every VMA (start-end, perms, offset, dev, inode, path), one canonical line each:
 * two maps texts that differ only in padding give equal arrays. For expect(...).toEqual(...).
 */
export function mapsFields(text: string, ignore: readonly MapsField[] = []): string[] {
  return parseMapsText(text).map((e) => formatMapsEntry(e, ignore));
}

/** True when the two maps texts list the same VMAs with the same fields. */
export function sameMaps(a: string, b: string, ignore: readonly MapsField[] = []): boolean {
  const x = mapsFields(a, ignore);
  const y = mapsFields(b, ignore);
  return x.length === y.length && x.every((l, i) => l === y[i]);
}
