// The one report of a matrix run: REPORT/index.html, a table of test × (kernel, CPU, flavor)
// whose cells link to that run in its cell's Playwright report (and the cell's console, output
// and kept images), rows whose outcome differs between cells marked with the reasons; and
// REPORT/junit.xml, every cell's JUnit suites named by their cell.
import * as fs from 'node:fs';
import * as path from 'node:path';

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** the zdtm summary rows of a cell's run (zdtm/runner/summary-reporter.mjs); none when it did not run */
export function readRows(cellDir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(cellDir, 'report', 'summary.json'), 'utf8')).rows;
  } catch {
    return [];
  }
}

const secs = (ms) => (ms ? `${(ms / 1000).toFixed(0)} s` : '-');

function headCell(m) {
  const link = (f, label) => (fs.existsSync(path.join(m.dir, f)) ? `<a href="cells/${esc(m.id)}/${f}">${label}</a>` : '');
  const state = m.error ? `<div class="err" title="${esc(m.error)}">did not finish</div>` : '';
  return `<th class="cellhead" colspan="${m.flavors.length}" data-cell="${esc(m.id)}">
    <div class="kernel">${esc(m.kernel ?? m.series ?? m.id)}</div>
    <div class="cpu">${esc(m.arch)} · ${esc(m.cpu ?? '-')} · ${esc(m.accel ?? '-')}</div>
    <div class="times">boot ${secs(m.bootMs)} · all ${secs(m.ms)}</div>
    <div class="counts"><span class="ok">${m.counts?.ok ?? 0}</span> / <span class="FAIL">${m.counts?.FAIL ?? 0}</span> / <span class="skip">${(m.counts?.skip ?? 0) + (m.counts?.fixme ?? 0)}</span></div>
    ${state}<div class="links">${[link('report/html/index.html', 'report'), link('console.log', 'console'), link('out.log', 'output'), link('kept', 'kept')].filter(Boolean).join(' · ')}</div>
  </th>`;
}

/** writes index.html and junit.xml of the matrix; returns the HTML's path */
export function writeMatrix(report, metas) {
  const cells = metas.map((m) => {
    const rows = readRows(path.join(report, 'cells', m.id));
    const flavors = [...new Set(rows.map((r) => r.project.replace(/^zdtm-/, '')).filter(Boolean))].sort();
    return { ...m, dir: path.join(report, 'cells', m.id), rows, flavors: flavors.length ? flavors : ['-'] };
  });
  const tests = [...new Set(cells.flatMap((c) => c.rows.map((r) => r.title)))].sort();
  const body = tests.map((t) => {
    const outcomes = [];
    const tds = cells.flatMap((c) =>
      c.flavors.map((f) => {
        const r = c.rows.find((x) => x.title === t && x.project === `zdtm-${f}`);
        if (!r) return '<td class="none">·</td>';
        outcomes.push({ cell: c.id, flavor: f, status: r.status, what: r.what });
        const tip = [r.what, ...(r.detail ?? [])].filter(Boolean).join('\n');
        const href = `cells/${encodeURIComponent(c.id)}/report/html/index.html#?q=${encodeURIComponent(t)}`;
        return `<td class="${esc(r.status)}" data-cell="${esc(c.id)}" data-flavor="${esc(f)}" title="${esc(tip)}"><a href="${href}">${esc(r.status)}</a></td>`;
      }),
    );
    const kinds = new Set(outcomes.map((o) => o.status));
    const differs = kinds.size > 1;
    // the cells of one reason together: "6.1/h, 6.1/ns: skip <why>"
    const reasons = new Map();
    for (const o of differs ? outcomes.filter((x) => x.status !== 'ok') : []) {
      const k = `${o.status} ${o.what ?? ''}`.trim();
      reasons.set(k, [...(reasons.get(k) ?? []), `${o.cell}/${o.flavor}`]);
    }
    const why = [...reasons].map(([k, where]) => `${where.join(', ')}: ${k}`).join('; ');
    return `<tr class="${differs ? 'differs' : ''}" data-test="${esc(t)}"><th class="test">${esc(t)}</th>${tds.join('')}<td class="why">${esc(why)}</td></tr>`;
  });
  const flavorRow = cells.flatMap((c) => c.flavors.map((f) => `<th class="flavor">${esc(f)}</th>`)).join('');
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>zdtm matrix</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: center; }
th.test { text-align: left; font-family: monospace; font-weight: normal; }
th.cellhead { background: #f4f4f8; vertical-align: top; }
.kernel { font-weight: bold; } .cpu, .times, .links { font-weight: normal; font-size: 11px; color: #555; }
td.ok { background: #cdeccd; } td.FAIL { background: #f4b4b4; font-weight: bold; }
td.skip, td.fixme { background: #eee; color: #777; } td.none { color: #bbb; }
td a { color: inherit; text-decoration: none; display: block; }
span.ok { color: #197a19; } span.FAIL { color: #b11; } span.skip { color: #777; }
.err { color: #b11; font-weight: bold; }
tr.differs th.test::after { content: " ≠"; color: #b60; font-weight: bold; }
td.why { text-align: left; font-size: 11px; color: #855; max-width: 40em; }
</style></head><body>
<h1>zdtm matrix</h1>
<p>${cells.length} cells, ${tests.length} tests; ${new Date().toISOString()}. A cell links to its run in the cell's report; ≠ marks a test whose outcome differs between cells, with the reasons.</p>
<table id="matrix">
<thead><tr><th rowspan="2">test</th>${cells.map(headCell).join('')}<th rowspan="2">differs because</th></tr>
<tr>${flavorRow}</tr></thead>
<tbody>
${body.join('\n')}
</tbody></table>
</body></html>
`;
  const file = path.join(report, 'index.html');
  fs.writeFileSync(file, html);
  writeJunit(report, cells);
  return file;
}

function writeJunit(report, cells) {
  const suites = [];
  for (const c of cells) {
    let xml = '';
    try {
      xml = fs.readFileSync(path.join(c.dir, 'report', 'junit.xml'), 'utf8');
    } catch {
      const msg = esc(c.error ?? 'no JUnit report');
      suites.push(
        `<testsuite name="${esc(c.id)}" tests="1" failures="1" errors="0" skipped="0"><testcase name="${esc(c.id)}: the cell" classname="${esc(c.id)}"><failure message="${msg}">${msg}</failure></testcase></testsuite>`,
      );
      continue;
    }
    for (const m of xml.matchAll(/<testsuite\b[\s\S]*?<\/testsuite>/g)) suites.push(m[0].replace(/<testsuite name="/, `<testsuite name="${esc(c.id)} › `));
  }
  fs.writeFileSync(
    path.join(report, 'junit.xml'),
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="zdtm matrix">\n${suites.join('\n')}\n</testsuites>\n`,
  );
}
