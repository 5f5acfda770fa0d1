// `crit x DIR html`: one self-contained HTML page of an images folder (inline CSS and SVG, no
// script, nothing loaded from elsewhere): the process tree with threads, sessions and groups,
// each task's memory map with what was dumped, its fds and the pipes and sockets joining tasks,
// and the size of every file of the folder.
import { buildDumpView, type DumpView, type TaskView } from './html-model.js';
import { memorySvg, vmaTable, memObjectsHtml, MEM_LEGEND, dumpedPages } from './html-mem.js';
import { treeHtml, sessionsHtml, fdsHtml, linksSvg, linksList, sizesHtml } from './html-parts.js';
import { esc } from './html-text.js';

const OBJECT_COLOURS = ['#d62728', '#9467bd', '#17becf', '#e377c2', '#bcbd22', '#ff7f0e', '#8c564b', '#1f77b4'];
const KIND_COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#9c755f'];

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}h3{font-size:1.05em}
.mono,td.mono{font-family:ui-monospace,monospace}.small{font-size:.85em;color:#555}.num{text-align:right;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
.tree,.tree ul{list-style:none;padding-left:1.6em;margin:0}.tree{padding-left:0}
.tree li{position:relative;margin:.3em 0}.children>li::before{content:"";position:absolute;left:-1.1em;top:-.3em;height:1.3em;width:.9em;border-left:1px solid #888;border-bottom:1px solid #888}
.node{display:inline-block;border:1px solid #999;border-radius:5px;padding:3px 8px;background:#f7f7fb}
.pid{font-weight:bold}.comm{font-family:ui-monospace,monospace}.ids{font-size:.85em;color:#555}
.threads ul{display:inline;padding:0}.threads li{display:inline;margin-right:.6em}
.badge{font-size:.75em;background:#e8eefc;border:1px solid #9ab;border-radius:3px;padding:0 4px}
.sessions{display:flex;gap:1em;flex-wrap:wrap}.session,.group{border:1px solid #888;border-radius:5px;padding:4px 8px;margin:4px}
.session{background:#fbf8ef}.group{background:#eef7ee;display:inline-block}.cap{font-size:.8em;color:#555}
.member{display:inline-block;border:1px solid #aaa;border-radius:3px;padding:0 4px;background:#fff;margin:2px}
.task{border:1px solid #ccc;border-radius:6px;padding:.2em 1em 1em;margin:1em 0}
.scroll{overflow-x:auto}
svg text{font:11px system-ui,sans-serif;fill:#222}svg text.addr{font:9px ui-monospace,monospace;fill:#666}
.vma rect.body{stroke:#555;stroke-width:1}.vma.shared rect.body{stroke-width:3}
.anon rect.body,.swatch.anon{fill:#dde3ea;background:#dde3ea}.heap rect.body,.swatch.heap{fill:#f3e0c2;background:#f3e0c2}
.stack rect.body,.swatch.stack{fill:#fbd3b5;background:#fbd3b5}.file rect.body,.swatch.file{fill:#cfe8e0;background:#cfe8e0}
.shmem rect.body,.swatch.shmem{fill:#f6d4e8;background:#f6d4e8}.kernel rect.body,.swatch.kernel{fill:#ddd0f0;background:#ddd0f0}
.other rect.body{fill:#eee}
.pg-present{fill:#2a7a2a;background:#2a7a2a;color:#fff}.pg-lazy{fill:#8fc63f;background:#8fc63f}.pg-parent{fill:#3b6fc4;background:#3b6fc4;color:#fff}
.gap path{stroke:#555;stroke-width:1.5;fill:none}
.swatch{display:inline-block;padding:0 5px;border-radius:3px;border:1px solid #888;font-size:.85em}
.links rect{fill:#f7f7fb;stroke:#666}.links .edge{fill:none;stroke:#c44;stroke-width:1.5}.links circle{fill:#c44}
.links .fdlabel{paint-order:stroke;stroke:#fff;stroke-width:3px}.links .link:hover .edge{stroke:#06c;stroke-width:3}
.sizebar rect{stroke:#fff;stroke-width:.5}.size-group th{background:#f3f3f3}
${OBJECT_COLOURS.map((c, i) => `.obj-${i} rect.body{stroke:${c}}.swatch.obj-${i}{background:${c};color:#fff}`).join('')}
${KIND_COLOURS.map((c, i) => `.kind-${i}{fill:${c}}`).join('')}
`;

function taskSection(t: TaskView, objectIndex: Map<string, number>): string {
  const pages = t.vmas.reduce((n, v) => n + dumpedPages(v), 0n);
  return (
    `<section class="task" id="task-${t.pid}" data-pid="${t.pid}"><h3>${t.pid} <span class="comm">${esc(t.comm)}</span></h3>` +
    `<h4>memory: ${t.vmas.length} VMAs, ${pages} pages dumped</h4><div class="scroll">${memorySvg(t, objectIndex)}</div>${vmaTable(t, objectIndex)}` +
    `<h4>fds</h4>${fdsHtml(t)}</section>`
  );
}

/** The whole page for a view of a dump. */
export function renderPage(view: DumpView): string {
  const objectIndex = new Map(view.memObjects.map((o, i) => [o.key, i % OBJECT_COLOURS.length]));
  const title = `criu images: ${view.dir}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // nothing may load from elsewhere, and no script may run
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>`,
    `<h1>${esc(title)}</h1>`,
    `<p>${view.tasks.length} tasks, ${view.tasks.reduce((n, t) => n + t.threads.length, 0)} threads. Made by crit x DIR html.</p>`,
    '<h2 id="tree">Process tree</h2>',
    treeHtml(view.tasks),
    '<h3>Sessions and process groups</h3>',
    sessionsHtml(view.tasks),
    '<h2 id="links">Pipes and sockets joining tasks</h2>',
    `<div class="scroll">${linksSvg(view.tasks, view.links)}</div>`,
    linksList(view.links),
    '<h2 id="shared-memory">Memory mapped by several tasks</h2>',
    memObjectsHtml(view.memObjects, objectIndex),
    '<h2 id="tasks">Tasks: memory and fds</h2>',
    MEM_LEGEND,
    ...view.tasks.map((t) => taskSection(t, objectIndex)),
    '<h2 id="sizes">Image files</h2>',
    sizesHtml(view),
    '</body></html>',
    '',
  ].join('\n');
}

/** The page of the images in `dir`. */
export function dumpHtml(dir: string): string {
  return renderPage(buildDumpView(dir));
}
