// Text helpers of `crit x DIR html`: every string that comes from the images goes through esc().

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The text made safe inside HTML (and SVG) elements and quoted attributes. */
export function esc(s: string | number | bigint): string {
  // control characters (a comm or a path may hold any byte) are shown, not passed through
  return String(s)
    .replace(/[&<>"']/g, (c) => ENTITIES[c])
    .replace(/\p{Cc}/gu, (c) => (c === '\t' || c === '\n' || c === '\r' ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

/** A size in bytes the way a person reads it: 4 KiB, 1.5 MiB, 128 TiB. */
export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 || n >= 100 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ${units[u]}`;
}
