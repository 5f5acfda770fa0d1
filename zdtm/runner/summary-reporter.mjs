// Prints one line per zdtm test at the end of a run: outcome, flavor, name, verdict or the
// first line of the failure (and its first details), and where the kept files are. (ci/summary-reporter.mjs then
// prints the final "N passed, N failed, N skipped" line.) An error outside any test (a spec
// file that does not load) gets a FAIL row of its own.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export default class ZdtmSummary {
  /** options.json: also write the rows there (the VM matrix of ci/vm/ reads them) */
  constructor(options = {}) {
    this.rows = [];
    this.json = options.json;
  }
  printsToStdio() {
    return true;
  }
  onError(error) {
    const message = String(error.message ?? error.value ?? '')
      .replace(/\u001b\[[0-9;]*m/g, '')
      .split('\n')[0];
    if (/^Testing stopped early after \d+ maximum allowed failures/.test(message)) return;
    const file = error.location?.file;
    this.rows.push({ status: 'FAIL', project: '', title: file ? file.split('/').at(-1) : '(run)', secs: '-', what: `error outside any test: ${message}` });
  }
  onTestEnd(test, result) {
    const ann = (type) =>
      [...test.annotations, ...(result.annotations ?? [])]
        .filter((a) => a.type === type)
        .map((a) => a.description)
        .at(-1);
    const errLines = result.error?.message?.replace(/\u001b\[[0-9;]*m/g, '').split('\n') ?? [];
    const err = errLines[0];
    // a first line that ends in ":" announces its details (the state that differs): the first
    // few go under the row, so that a log's tail shows what failed
    const detail = err?.endsWith(':') ? errLines.slice(1, 7).filter((l) => l.trim()) : [];
    const skipReason = ann('skip') ?? ann('fixme');
    const status =
      result.status === 'passed' ? 'ok' : result.status === 'skipped' ? (test.annotations.some((a) => a.type === 'fixme') ? 'fixme' : 'skip') : 'FAIL';
    this.rows.push({
      status,
      project: test.parent?.project()?.name ?? '',
      title: test.title,
      secs: (result.duration / 1000).toFixed(1),
      what: status === 'FAIL' ? (err ?? result.status) : status === 'ok' ? `verdict: ${ann('verdict') ?? '-'}` : (skipReason ?? ''),
      kept: ann('kept'),
      detail: status === 'FAIL' ? detail : [],
    });
  }
  onEnd(result) {
    if (!this.rows.length) return;
    const order = { FAIL: 0, fixme: 1, skip: 2, ok: 3 };
    this.rows.sort((a, b) => order[a.status] - order[b.status] || a.project.localeCompare(b.project) || a.title.localeCompare(b.title));
    const w = Math.max(...this.rows.map((r) => r.title.length));
    const out = ['', `zdtm summary (${result.status}):`];
    for (const r of this.rows) {
      out.push(
        `  ${r.status.padEnd(5)} ${r.project.padEnd(8)} ${r.title.padEnd(w)} ${r.secs.padStart(5)}s  ${r.what ?? ''}${r.kept ? `  [kept: ${r.kept}]` : ''}`,
      );
      for (const d of r.detail ?? []) out.push(`        ${d.trim()}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
    if (!this.json) return;
    mkdirSync(dirname(this.json), { recursive: true });
    writeFileSync(this.json, `${JSON.stringify({ status: result.status, rows: this.rows }, null, 1)}\n`);
  }
}
