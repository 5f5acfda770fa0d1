// Sections of the `crit x DIR html` page: the process tree, sessions and groups, fd tables, the
// links between tasks (pipes, fifos, sockets) and the sizes of the folder's files.
import type { DumpView, FileSize, SharedObject, TaskView } from './html-model.js';
import { esc, fmtBytes } from './html-text.js';

function badges(t: TaskView): string {
  const b: string[] = [];
  if (t.sid === t.pid) b.push('session leader');
  if (t.pgid === t.pid) b.push('group leader');
  if (t.state !== 'alive') b.push(t.state);
  return b.map((x) => `<span class="badge">${esc(x)}</span>`).join(' ');
}

function threadsHtml(t: TaskView): string {
  const items = t.threads.map((th) => `<li class="thread" data-tid="${th.tid}">${th.tid}${th.comm ? ` <span class="comm">${esc(th.comm)}</span>` : ''}</li>`);
  return `<div class="threads">${t.threads.length} thread${t.threads.length > 1 ? 's' : ''}: <ul>${items.join('')}</ul></div>`;
}

function taskNode(t: TaskView): string {
  return (
    `<div class="node"><a href="#task-${t.pid}"><span class="pid">${t.pid}</span></a> <span class="comm">${esc(t.comm)}</span> ${badges(t)}` +
    `<div class="ids">ppid ${t.ppid} · pgid ${t.pgid} · sid ${t.sid}</div>${threadsHtml(t)}</div>`
  );
}

/** The process tree as nested lists: a child's item lies in its parent's list. */
export function treeHtml(tasks: TaskView[]): string {
  const pids = new Set(tasks.map((t) => t.pid));
  const kids = new Map<number, TaskView[]>();
  for (const t of tasks) if (pids.has(t.ppid)) kids.set(t.ppid, [...(kids.get(t.ppid) ?? []), t]);
  const item = (t: TaskView): string => {
    const k = kids.get(t.pid) ?? [];
    return `<li class="proc" data-pid="${t.pid}" data-ppid="${t.ppid}">${taskNode(t)}${k.length ? `<ul class="children">${k.map(item).join('')}</ul>` : ''}</li>`;
  };
  return `<ul class="tree">${tasks
    .filter((t) => !pids.has(t.ppid))
    .map(item)
    .join('')}</ul>`;
}

/** Sessions holding process groups holding tasks, as nested boxes. */
export function sessionsHtml(tasks: TaskView[]): string {
  const sessions = new Map<number, Map<number, TaskView[]>>();
  for (const t of tasks) {
    const groups = sessions.get(t.sid) ?? new Map<number, TaskView[]>();
    groups.set(t.pgid, [...(groups.get(t.pgid) ?? []), t]);
    sessions.set(t.sid, groups);
  }
  const out: string[] = [];
  for (const [sid, groups] of sessions) {
    const gs = [...groups].map(
      ([pgid, ts]) =>
        `<div class="group" data-pgid="${pgid}"><div class="cap">process group ${pgid}</div>${ts.map((t) => `<span class="member" data-pid="${t.pid}">${t.pid} ${esc(t.comm)}</span>`).join(' ')}</div>`,
    );
    out.push(`<div class="session" data-sid="${sid}"><div class="cap">session ${sid}</div>${gs.join('')}</div>`);
  }
  return `<div class="sessions">${out.join('')}</div>`;
}

/** A task's fd table. */
export function fdsHtml(t: TaskView): string {
  if (t.zombie) return '<p>A zombie keeps no fds.</p>';
  const rows = t.fds.map(
    (f) =>
      `<tr class="fd" data-fd="${f.fd}" data-type="${esc(f.type)}"${f.link ? ` data-link="${esc(f.link)}"` : ''}><td class="num">${f.fd}</td><td>${esc(f.type)}</td><td class="what">${esc(f.what)}</td><td class="num">${f.fileId}</td></tr>`,
  );
  const shared = t.fdTableShared.length ? `<p>This fd table (${t.filesId}) is shared with ${t.fdTableShared.join(', ')}.</p>` : '';
  return (
    `${shared}<table class="fds"><thead><tr><th>fd</th><th>type</th><th>points to</th><th>file id</th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
    `<p class="small">cwd ${esc(t.cwd)} · root ${esc(t.root)} · exe ${esc(t.exe)}</p>`
  );
}

/** Pipes and sockets several tasks hold: the tasks on top, the objects below, a line per holder. */
export function linksSvg(tasks: TaskView[], links: SharedObject[]): string {
  if (!links.length) return '<p>No pipe, fifo or socket joins two tasks.</p>';
  const TW = 150,
    TSTEP = 180,
    OSTEP = 170;
  const width = Math.max(tasks.length * TSTEP, links.length * OSTEP) + 40;
  const tx = new Map(tasks.map((t, i) => [t.pid, (width - tasks.length * TSTEP) / 2 + i * TSTEP + TSTEP / 2]));
  const ox = (i: number): number => (width - links.length * OSTEP) / 2 + i * OSTEP + OSTEP / 2;
  const parts = tasks.map((t) => {
    const x = tx.get(t.pid)!;
    return `<g class="link-task" data-pid="${t.pid}"><rect x="${x - TW / 2}" y="10" width="${TW}" height="34" rx="5"/><text x="${x}" y="25" text-anchor="middle">${t.pid}</text><text class="small" x="${x}" y="38" text-anchor="middle">${esc(t.comm.slice(0, 22))}</text></g>`;
  });
  for (const [i, l] of links.entries()) {
    const x = ox(i);
    const edges = [...l.holders].map(([pid, how], j) => {
      const from = tx.get(pid)!;
      // the label sits on the curve, each holder's at another height so that they do not overlap
      const t = 0.45 + 0.15 * (j % 3),
        u = 1 - t;
      const lx = u * u * u * from + 3 * u * u * t * from + 3 * u * t * t * x + t * t * t * x;
      const ly = u * u * u * 44 + 3 * u * u * t * 110 + 3 * u * t * t * 110 + t * t * t * 170;
      return (
        `<path class="edge" data-pid="${pid}" d="M${from} 44 C${from} 110 ${x} 110 ${x} 170"/>` +
        `<text class="small fdlabel" x="${lx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle">${esc(how.join(', '))}</text>`
      );
    });
    const pids = [...l.holders.keys()].join(' ');
    parts.push(
      `<g class="link" data-object="${esc(l.key)}" data-pids="${pids}">${edges.join('')}<circle cx="${x}" cy="178" r="8"/>` +
        `<text x="${x}" y="202" text-anchor="middle">${esc(l.what)}</text><title>${esc(`${l.what}: ${pids}`)}</title></g>`,
    );
  }
  return `<svg class="links" xmlns="http://www.w3.org/2000/svg" width="${width}" height="215" viewBox="0 0 ${width} 215">${parts.join('')}</svg>`;
}

export function linksList(links: SharedObject[]): string {
  const items = links.map((l) => {
    const holders = [...l.holders].map(([pid, how]) => `${pid} (${how.join(', ')})`).join(', ');
    return `<li class="link-item" data-object="${esc(l.key)}">${esc(l.what)} joins ${esc(holders)}</li>`;
  });
  return items.length ? `<ul>${items.join('')}</ul>` : '';
}

function groupSizes(sizes: FileSize[]): Map<string, FileSize[]> {
  const groups = new Map<string, FileSize[]>();
  for (const s of sizes) groups.set(s.kind, [...(groups.get(s.kind) ?? []), s]);
  return new Map([...groups].sort((a, b) => b[1].reduce((n, s) => n + s.bytes, 0) - a[1].reduce((n, s) => n + s.bytes, 0)));
}

/** Every file of the folder with its size, grouped by kind, and a bar of the groups' shares. */
export function sizesHtml(view: DumpView): string {
  const groups = groupSizes(view.sizes);
  const total = view.sizes.reduce((n, s) => n + s.bytes, 0);
  const rows: string[] = [];
  const bar: string[] = [];
  let x = 0;
  for (const [gi, [kind, files]] of [...groups].entries()) {
    const sum = files.reduce((n, s) => n + s.bytes, 0);
    rows.push(
      `<tr class="size-group" data-kind="${esc(kind)}"><th colspan="2">${esc(kind)} (${files.length})</th><td class="num bytes">${sum}</td><td>${fmtBytes(sum)}</td></tr>`,
    );
    for (const f of files) {
      rows.push(
        `<tr class="file-size" data-file="${esc(f.name)}"><td></td><td class="mono">${esc(f.name)}</td><td class="num bytes">${f.bytes}</td><td>${fmtBytes(f.bytes)}</td></tr>`,
      );
    }
    const w = total ? (sum / total) * 800 : 0;
    bar.push(
      `<rect class="kind-${gi % 8}" x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="18"><title>${esc(`${kind}: ${sum} bytes`)}</title></rect>`,
    );
    x += w;
  }
  rows.push(`<tr class="size-total"><th colspan="2">all ${view.sizes.length} files</th><td class="num bytes">${total}</td><td>${fmtBytes(total)}</td></tr>`);
  return (
    `<svg class="sizebar" xmlns="http://www.w3.org/2000/svg" width="800" height="18" viewBox="0 0 800 18">${bar.join('')}</svg><p class="legend">Each kind's share of the bytes (linear).</p>` +
    `<table class="sizes"><thead><tr><th>kind</th><th>file</th><th>bytes</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`
  );
}
