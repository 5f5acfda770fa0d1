// The memory map of a task for `crit x DIR html`: one inline SVG strip per task on a piecewise
// scale (each VMA's width grows with the logarithm of its size, the inside of a VMA is linear,
// the unmapped gaps between VMAs are cut to a fixed mark labelled with their size), the dumped
// runs of pages drawn inside each VMA, and a table of the VMAs.
import { PE } from '../images/consts.js';
import type { TaskView, VmaView, SharedObject } from './html-model.js';
import { esc, fmtBytes, hex } from './html-text.js';

const BAR_Y = 6;
const BAR_H = 34;
const PAGES_H = 12;
const GAP_W = 16;
const SVG_H = 64;

/** A VMA's width in pixels: 24 for one page, 22 more for each doubling. */
export function vmaWidth(pages: bigint): number {
  return Math.round(24 + 22 * Math.log2(Math.max(1, Number(pages))));
}

function pageClass(flags: number): string {
  if (flags & PE.PARENT) return 'pg-parent';
  if (flags & PE.LAZY) return 'pg-lazy';
  return 'pg-present';
}

function pageFlagsText(flags: number): string {
  const names = [
    [PE.PARENT, 'PE_PARENT'],
    [PE.LAZY, 'PE_LAZY'],
    [PE.PRESENT, 'PE_PRESENT'],
  ] as const;
  return (
    names
      .filter(([b]) => flags & b)
      .map(([, n]) => n)
      .join(' | ') || 'none'
  );
}

function prot(p: number): string {
  return (p & 1 ? 'r' : '-') + (p & 2 ? 'w' : '-') + (p & 4 ? 'x' : '-');
}

export function dumpedPages(v: VmaView): bigint {
  return v.runs.reduce((a, r) => a + r.pages, 0n);
}

/** The runs of dumped pages inside a VMA drawn at x..x+w (linear inside the VMA). */
function runsSvg(v: VmaView, x: number, w: number): string {
  const total = Number((v.vma.end - v.vma.start) / 4096n);
  const y = BAR_Y + BAR_H - PAGES_H - 2;
  return v.runs
    .map((r) => {
      const rx = x + 1 + (Number((r.start - v.vma.start) / 4096n) / total) * (w - 2);
      const rw = Math.max(2, (Number(r.pages) / total) * (w - 2));
      const title = `${r.pages} pages at ${hex(r.start)} ${pageFlagsText(r.flags)}`;
      return `<rect class="run ${pageClass(r.flags)}" data-pages="${r.pages}" x="${rx.toFixed(1)}" y="${y}" width="${rw.toFixed(1)}" height="${PAGES_H}"><title>${esc(title)}</title></rect>`;
    })
    .join('');
}

function vmaTitle(v: VmaView): string {
  const len = v.vma.end - v.vma.start;
  return `${hex(v.vma.start)}-${hex(v.vma.end)} ${prot(v.vma.prot)} ${fmtBytes(Number(len))} ${v.what}; ${dumpedPages(v)} of ${len / 4096n} pages dumped`;
}

/** The strip of one task's VMAs. */
export function memorySvg(t: TaskView, objectIndex: Map<string, number>): string {
  const parts: string[] = [];
  let x = 2;
  let prevEnd: bigint | undefined;
  let labelEnd = 0;
  for (const [i, v] of t.vmas.entries()) {
    if (prevEnd !== undefined && v.vma.start > prevEnd) {
      const gap = fmtBytes(Number(v.vma.start - prevEnd));
      parts.push(`<g class="gap"><path d="M${x + 4} ${BAR_Y + 4}l4 ${BAR_H - 8}M${x + 9} ${BAR_Y + 4}l4 ${BAR_H - 8}"/><title>unmapped: ${gap}</title></g>`);
      x += GAP_W;
    }
    const w = vmaWidth((v.vma.end - v.vma.start) / 4096n);
    const shared = v.object !== undefined ? objectIndex.get(v.object) : undefined;
    const sharedCls = shared !== undefined ? ` shared obj-${shared}` : '';
    const label = v.label.length * 6 > w - 4 ? v.label.slice(0, Math.max(1, Math.floor((w - 4) / 6) - 1)) + '…' : v.label;
    // the start address under the VMA, when it does not run into the one before
    const addr = v.vma.start.toString(16);
    const addrText = x >= labelEnd ? `<text class="addr" x="${x}" y="${BAR_Y + BAR_H + 12}">${addr}</text>` : '';
    if (addrText) labelEnd = x + addr.length * 5.5 + 4;
    parts.push(
      `<g class="vma ${v.cls}${sharedCls}" data-index="${i}" data-start="${hex(v.vma.start)}" data-end="${hex(v.vma.end)}"${v.object ? ` data-object="${esc(v.object)}"` : ''}>` +
        `<rect class="body" x="${x}" y="${BAR_Y}" width="${w}" height="${BAR_H}"/>` +
        runsSvg(v, x, w) +
        `<text x="${x + 3}" y="${BAR_Y + 13}">${esc(label)}</text>` +
        addrText +
        `<title>${esc(vmaTitle(v))}</title></g>`,
    );
    x += w + 1;
    prevEnd = v.vma.end;
  }
  const width = Math.ceil(Math.max(x, labelEnd) + 4);
  return `<svg class="memmap" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${SVG_H}" viewBox="0 0 ${width} ${SVG_H}" role="img" aria-label="memory map of ${t.pid}">${parts.join('')}</svg>`;
}

/** The table of one task's VMAs, row for row with the drawing. */
export function vmaTable(t: TaskView, objectIndex: Map<string, number>): string {
  const rows = t.vmas.map((v, i) => {
    const pages = (v.vma.end - v.vma.start) / 4096n;
    const runs = v.runs.map((r) => `${r.pages}@${hex(r.start)} ${pageFlagsText(r.flags)}`).join(', ');
    const shared = v.object !== undefined && objectIndex.has(v.object) ? ` <span class="swatch obj-${objectIndex.get(v.object)}">shared</span>` : '';
    return (
      `<tr class="vma-row" data-index="${i}"><td class="mono">${hex(v.vma.start)}-${hex(v.vma.end)}</td><td class="mono">${prot(v.vma.prot)}</td>` +
      `<td class="num">${pages}</td><td class="num">${dumpedPages(v)}</td><td>${esc(v.what)}${shared}</td><td class="mono small">${esc(runs) || '—'}</td></tr>`
    );
  });
  return (
    `<details><summary>${t.vmas.length} VMAs</summary><table class="vmas"><thead><tr><th>range</th><th>prot</th><th>pages</th><th>dumped</th><th>maps</th><th>dumped runs (pages@address flags)</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table></details>`
  );
}

/** The list of memory objects several tasks map, with their colour. */
export function memObjectsHtml(objs: SharedObject[], objectIndex: Map<string, number>): string {
  if (!objs.length) return '<p>No memory object is mapped by more than one task.</p>';
  const items = objs.map((o) => {
    const holders = [...o.holders].map(([pid, at]) => `${pid} at ${at.join(', ')}`).join('; ');
    return `<li class="mem-object" data-object="${esc(o.key)}"><span class="swatch obj-${objectIndex.get(o.key)}">&nbsp;</span> ${esc(o.what)}: ${esc(holders)}</li>`;
  });
  return `<ul class="objects">${items.join('')}</ul>`;
}

export const MEM_LEGEND =
  '<p class="legend">Scale: piecewise. A VMA is 24 px wide for one page plus 22 px per doubling of its size (logarithmic); inside a VMA the scale is linear; ' +
  'the unmapped gaps between VMAs are cut to a fixed ⫽ mark (hover it for its size). ' +
  'Colours: <span class="swatch anon">anon</span> <span class="swatch heap">heap</span> <span class="swatch stack">stack</span> <span class="swatch file">file</span> ' +
  '<span class="swatch shmem">shared anon</span> <span class="swatch kernel">vdso/vvar/vsyscall</span>; dumped pages: <span class="swatch pg-present">present</span> ' +
  '<span class="swatch pg-lazy">lazy</span> <span class="swatch pg-parent">in parent</span>; a VMA with no strip under part of it has a hole there (not dumped). ' +
  'A VMA mapping an object other tasks map too has a coloured frame.</p>';
