// The zdtm test catalog: programs with their .desc, the committed skip/fixme lists and the fast
// subset. Plain JS so that both zdtm/run.mjs (node) and the Playwright specs (TS) can load it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const zdtmDir = path.join(repo, 'zdtm');
export const FLAVORS = ['h', 'ns', 'uns'];
export const COMPARISONS = ['fds', 'maps', 'mountinfo', 'tasks'];
export const ARCHES = ['x86_64', 'aarch64'];
/** the CPU the runner runs on, as uname -m names it */
export const hostArch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;

/**
 * @typedef {{ dump: string[], restore: string[] }} DescOpts
 * @typedef {{ flags: string[], flavors: string[], opts: DescOpts, feature: string[], timeout: number, downtime: number,
 *             exempt: Record<string, string>, arch: string[] | null }} Desc
 * @typedef {{ name: string, dir: string, lang: 'c'|'ts', src: string, desc: Desc, argv: string[] }} ZdtmTest
 */

/** Reads and checks a .desc (every key optional, see zdtm/README.md). */
export function readDesc(file) {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  const d = {
    flags: raw.flags ?? [],
    flavors: raw.flavors ?? [...FLAVORS],
    opts: { dump: raw.opts?.dump ?? [], restore: raw.opts?.restore ?? [] },
    feature: raw.feature ?? [],
    timeout: raw.timeout ?? 30,
    // seconds the images wait between a dump and its restore (a restore seldom follows at once)
    downtime: raw.downtime ?? 0,
    exempt: raw.exempt ?? {},
    // the CPUs a test is for (an x86 FPU or TLS test); built and run only there, skipped elsewhere
    arch: raw.arch ?? null,
  };
  if (d.arch !== null && (!Array.isArray(d.arch) || !d.arch.length || d.arch.some((a) => !ARCHES.includes(a))))
    throw new Error(`${file}: "arch" lists CPUs of ${ARCHES.join(', ')}`);
  if (typeof d.downtime !== 'number' || d.downtime < 0 || d.downtime >= d.timeout) throw new Error(`${file}: "downtime" is seconds, below "timeout"`);
  for (const f of d.flavors) if (!FLAVORS.includes(f)) throw new Error(`${file}: unknown flavor ${f}`);
  for (const f of d.flags) if (!['suid', 'excl', 'noauto', 'crfail', 'pty', 'cgroup', 'cgroupns'].includes(f)) throw new Error(`${file}: unknown flag ${f}`);
  for (const k of Object.keys(d.exempt)) {
    if (!COMPARISONS.includes(k)) throw new Error(`${file}: unknown comparison "${k}" in exempt`);
    if (typeof d.exempt[k] !== 'string' || !d.exempt[k].trim()) throw new Error(`${file}: exempt.${k} needs its reason`);
  }
  if (Object.keys(d.exempt).length > 1) throw new Error(`${file}: a test may exempt one comparison only`);
  return d;
}

/** Every test program that has a .desc, sorted by name. @returns {ZdtmTest[]} */
export function listTests() {
  const tests = [];
  for (const dir of ['static', 'transition']) {
    const d = path.join(zdtmDir, dir);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).sort()) {
      if (!f.endsWith('.desc')) continue;
      const name = f.slice(0, -5);
      const c = path.join(d, `${name}.c`);
      const ts = path.join(d, `${name}.ts`);
      const lang = fs.existsSync(c) ? 'c' : fs.existsSync(ts) ? 'ts' : null;
      if (!lang) continue;
      const argv = lang === 'c' ? [path.join(zdtmDir, 'build', dir, name)] : [process.execPath, path.join(repo, 'dist', 'zdtm', dir, `${name}.js`)];
      tests.push({ name, dir, lang, src: lang === 'c' ? c : ts, desc: readDesc(path.join(d, f)), argv });
    }
  }
  const seen = new Set();
  for (const t of tests) {
    if (seen.has(t.name)) throw new Error(`two zdtm tests are called ${t.name}`);
    seen.add(t.name);
  }
  return tests;
}

/**
 * The committed lists (zdtm/expected-skips.json):
 *   skip:  [{ test, flavor, reason }]                       the only skips allowed
 *   fixme: [{ tests: [...]|"*", flavors: [...], refusal, reason }]
 *          a C/R the tool refuses today: the test is marked fixme only when the tool's failing
 *          dump/restore really says "not supported yet: ..." matching `refusal`.
 */
export function readExpected() {
  const f = path.join(zdtmDir, 'expected-skips.json');
  const j = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : {};
  const skip = j.skip ?? [];
  const fixme = j.fixme ?? [];
  for (const s of skip) {
    if (!s.test || !s.flavor || !s.reason) throw new Error(`${f}: a skip needs test, flavor and reason: ${JSON.stringify(s)}`);
  }
  for (const x of fixme) {
    if (!x.tests || !x.flavors || !x.refusal || !x.reason) throw new Error(`${f}: a fixme needs tests, flavors, refusal and reason: ${JSON.stringify(x)}`);
  }
  return { skip, fixme };
}

export function findSkip(expected, name, flavor, feature) {
  return expected.skip.find(
    (s) => (s.test === name || s.test === '*') && (s.flavor === flavor || s.flavor === '*') && (s.feature ?? null) === (feature ?? null),
  );
}

/** The fixme entries that may cover this test in this flavor. */
export function fixmeCandidates(expected, name, flavor) {
  return expected.fixme.filter((x) => (x.tests === '*' || x.tests.includes(name)) && x.flavors.includes(flavor));
}

export function readFast() {
  const f = path.join(zdtmDir, 'fast.json');
  const j = JSON.parse(fs.readFileSync(f, 'utf8'));
  return Array.isArray(j) ? j : j.tests;
}

/**
 * @typedef {{ tests: string[]|null, flavors: string[], nocr: boolean, norst: boolean, iters: number,
 *             breakMode: boolean, keep: 'always'|'never'|'failed', criuBin: string, work: string|null,
 *             userBase: number, report?: string, jobs?: number|null, keepGoing?: boolean }} RunOptions
 */

/** Default options of a run (the zdtm-fast project of `npm test` uses them as they are). @returns {RunOptions} */
export function defaultOptions() {
  return {
    tests: null, // null: every test of the catalog that the spec is given
    flavors: ['h'],
    nocr: false,
    norst: false,
    iters: 1,
    breakMode: false,
    keep: 'failed',
    // ZDTM_CRIU: another criu-compatible binary (also for the zdtm projects of `npm test`)
    criuBin: process.env.ZDTM_CRIU ? path.resolve(process.env.ZDTM_CRIU) : path.join(repo, 'native', 'build', 'criu'),
    work: null,
    userBase: 100000,
  };
}

/** The options of this process: defaults overridden by ZDTM_OPTS (set by zdtm/run.mjs). @returns {RunOptions} */
export function currentOptions() {
  const o = defaultOptions();
  if (process.env.ZDTM_OPTS) Object.assign(o, JSON.parse(process.env.ZDTM_OPTS));
  return o;
}
