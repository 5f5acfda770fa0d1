// Ends every run with the one line CI reads: "N passed, N failed, N skipped". An error outside
// any test (a spec file that does not load: a syntax error, an import that throws; a failing
// global setup) is a failure too, and a run that did not pass never says "0 failed".
const strip = (s) => String(s ?? '').replace(/\u001b\[[0-9;]*m/g, '');

export default class SummaryReporter {
  constructor() {
    this.passed = 0;
    this.failed = 0;
    this.skipped = 0;
    this.errors = [];
  }
  printsToStdio() {
    return true;
  }
  onTestEnd(test, result) {
    // count each test once, by its final outcome
    if (result.retry < test.retries && result.status !== 'passed' && result.status !== 'skipped') return;
    if (result.status === 'passed') this.passed++;
    else if (result.status === 'skipped') this.skipped++;
    else this.failed++;
  }
  onError(error) {
    const message = strip(error.message ?? error.value ?? error.stack).split('\n')[0];
    // Playwright's notice that maxFailures stopped the run: those failures are counted already
    if (/^Testing stopped early after \d+ maximum allowed failures/.test(message)) return;
    const loc = error.location ? `${error.location.file}:${error.location.line}: ` : '';
    this.errors.push(`${loc}${message}`);
  }
  onEnd(result) {
    const lines = this.errors.map((e) => `error outside any test: ${e}`);
    let failed = this.failed + this.errors.length;
    if (result.status !== 'passed' && failed === 0) {
      lines.push(`the run ended with status "${result.status}" although no test failed`);
      failed = 1;
    }
    process.stdout.write(`\n${lines.map((l) => `${l}\n`).join('')}${this.passed} passed, ${failed} failed, ${this.skipped} skipped\n`);
  }
}
