// Pure helpers of the bench: medians and spreads, number formatting, markdown tables.

/** The median of the finite numbers in xs (the mean of the middle two for an even count); null if none. */
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** min, max, median and the relative spread (max - min) / median of the finite numbers in xs. */
export function spread(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (!v.length) return null;
  const min = Math.min(...v),
    max = Math.max(...v),
    med = median(v);
  return { n: v.length, min, max, median: med, rel: med ? (max - min) / med : 0 };
}

/** Seconds with 3 significant decimals for small values: 0.0123, 0.123, 1.23, 12.3. */
export function fmtS(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 0.01) return s.toFixed(4);
  if (s < 10) return s.toFixed(3);
  return s.toFixed(1);
}

/** "median (min–max)" of a spread, or just the median when there is one sample. */
export function fmtSpread(sp, fmt = fmtS) {
  if (!sp) return '–';
  if (sp.n < 2 || sp.min === sp.max) return fmt(sp.median);
  return `${fmt(sp.median)} (${fmt(sp.min)}–${fmt(sp.max)})`;
}

export function fmtBytes(b) {
  if (b === null || b === undefined || !Number.isFinite(b)) return '–';
  if (b < 1024) return `${b} B`;
  if (b < 1 << 20) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1 << 30) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  return `${(b / 2 ** 30).toFixed(2)} GiB`;
}

/** A rate in MB/s (1e6 B/s), or '–'. */
export function mbps(bytes, seconds) {
  if (!bytes || !seconds || !Number.isFinite(bytes) || !Number.isFinite(seconds)) return null;
  return bytes / seconds / 1e6;
}

export function fmtPct(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(x * 100)}%`;
}

/** A ratio a/b as "1.23×", '–' when either is missing. */
export function fmtRatio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || !b) return '–';
  return `${(a / b).toFixed(2)}×`;
}

function escapeCell(c) {
  return String(c ?? '–')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

/** A GitHub-flavoured markdown table; align is a string of 'l'/'r' per column (default all left). */
export function mdTable(headers, rows, align = '') {
  const sep = headers.map((_, i) => (align[i] === 'r' ? '---:' : '---'));
  const line = (cells) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return [line(headers), `| ${sep.join(' | ')} |`, ...rows.map(line)].join('\n') + '\n';
}

/** A plain-text table with padded columns, for the terminal. */
export function textTable(headers, rows, align = '') {
  const all = [headers, ...rows].map((r) => r.map((c) => String(c ?? '–')));
  const w = headers.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const pad = (s, i) => {
    const n = w[i] - [...s].length;
    return align[i] === 'r' ? ' '.repeat(n) + s : s + ' '.repeat(n);
  };
  const out = all.map((r) => r.map(pad).join('  ').trimEnd());
  out.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  return out.join('\n') + '\n';
}

/** OK/MISS of an upper-bound target; null value (not measured) is a MISS too. */
/** the marks of a ratio ours ÷ theirs: OK at ≤ 1.0, and the second mark at ≤ 0.8 */
export const RATIO_OK = 1.0,
  RATIO_FAST = 0.8;

/**
 * The verdict of one measure with --vs: ours ÷ theirs of the medians, 'OK ≤0.8', 'OK' or
 * 'MISS' (also where either side has no value: a refused or failed run is no win).
 */
export function judgeRatio(ours, theirs) {
  if (!Number.isFinite(ours) || !Number.isFinite(theirs) || !(theirs > 0)) return { ratio: null, verdict: 'MISS' };
  const ratio = ours / theirs;
  return { ratio, verdict: ratio <= RATIO_FAST ? `OK ≤${RATIO_FAST}` : ratio <= RATIO_OK ? 'OK' : 'MISS' };
}

export function judge(value, limit) {
  return value !== null && value !== undefined && Number.isFinite(value) && value <= limit ? 'OK' : 'MISS';
}
