// A dependency-free SVG line plot: time (s) against memory size (MiB, log2 axis).
//   series: [{ label, color, dash?, points: [{ x, y, lo?, hi?, tag? }] }]

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** "nice" tick values covering [0, max] (1, 2, 5 × 10^k steps). */
export function niceTicks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count,
    p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

export function plotSvg({ title, series, xLabel = 'memory (MiB, log scale)', yLabel = 'time (s)', width = 900, height = 540 }) {
  const m = { l: 70, r: 270, t: 40, b: 60 };
  const pw = width - m.l - m.r,
    ph = height - m.t - m.b;
  const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && p.x > 0 && Number.isFinite(p.y));
  const xs = pts.map((p) => Math.log2(p.x));
  let x0 = Math.floor(Math.min(...xs, 6)),
    x1 = Math.ceil(Math.max(...xs, 11));
  if (x1 === x0) x1 = x0 + 1;
  const yTicks = niceTicks(Math.max(...pts.map((p) => Math.max(p.y, p.hi ?? 0)), 0.1));
  const y1 = yTicks[yTicks.length - 1];
  const X = (x) => m.l + ((Math.log2(x) - x0) / (x1 - x0)) * pw;
  const Y = (y) => m.t + ph - (y / y1) * ph;
  const o = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  o.push(`<rect width="100%" height="100%" fill="white"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  for (const t of yTicks) {
    o.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#ddd"/>`);
    o.push(`<text x="${m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (let e = x0; e <= x1; e++) {
    const v = 2 ** e;
    o.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${m.t}" y2="${m.t + ph}" stroke="#eee"/>`);
    o.push(`<text x="${X(v)}" y="${m.t + ph + 16}" text-anchor="middle">${v >= 1024 ? `${v / 1024} Gi` : `${v} Mi`}</text>`);
  }
  o.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  o.push(`<text x="${m.l + pw / 2}" y="${height - 18}" text-anchor="middle">${esc(xLabel)}</text>`);
  o.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const p = s.points.filter((q) => Number.isFinite(q.x) && q.x > 0 && Number.isFinite(q.y)).sort((a, b) => a.x - b.x);
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    if (s.line !== false && p.length > 1) {
      o.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${p.map((q) => `${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join(' ')}"/>`,
      );
    }
    for (const q of p) {
      if (Number.isFinite(q.lo) && Number.isFinite(q.hi) && q.hi > q.lo) {
        o.push(`<line x1="${X(q.x)}" x2="${X(q.x)}" y1="${Y(q.lo)}" y2="${Y(q.hi)}" stroke="${s.color}"/>`);
      }
      o.push(
        s.marker === 'square'
          ? `<rect x="${X(q.x) - 4}" y="${Y(q.y) - 4}" width="8" height="8" fill="${s.color}"><title>${esc(`${s.label} ${q.tag ?? ''} ${q.y.toFixed(3)} s`)}</title></rect>`
          : `<circle cx="${X(q.x)}" cy="${Y(q.y)}" r="4" fill="${s.color}"><title>${esc(`${s.label} ${q.tag ?? ''} ${q.y.toFixed(3)} s`)}</title></circle>`,
      );
      if (q.tag && s.line === false) o.push(`<text x="${X(q.x) + 6}" y="${Y(q.y) - 6}" font-size="10" fill="${s.color}">${esc(q.tag)}</text>`);
    }
    const ly = m.t + 10 + i * 20,
      lx = m.l + pw + 16;
    o.push(
      s.line === false
        ? `<rect x="${lx + 8}" y="${ly - 4}" width="8" height="8" fill="${s.color}"/>`
        : `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    o.push(`<text x="${lx + 30}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
