// Ends every run with the one line CI reads: "N passed, N failed, N skipped".
export default class SummaryReporter {
  constructor() { this.passed = 0; this.failed = 0; this.skipped = 0; }
  printsToStdio() { return true; }
  onTestEnd(test, result) {
    // count each test once, by its final outcome
    if (result.retry < test.retries && result.status !== 'passed' && result.status !== 'skipped') return;
    if (result.status === 'passed') this.passed++;
    else if (result.status === 'skipped') this.skipped++;
    else this.failed++;
  }
  onEnd() {
    process.stdout.write(`\n${this.passed} passed, ${this.failed} failed, ${this.skipped} skipped\n`);
  }
}
