// Types of catalog.mjs (plain JS, loaded by zdtm/run.mjs and by the Playwright specs), for the
// TypeScript that imports it (`npm run typecheck`). Keep in step with the JSDoc there.
export declare const repo: string;
export declare const zdtmDir: string;
export declare const FLAVORS: string[];
export declare const COMPARISONS: string[];
export declare const ARCHES: string[];
export declare const hostArch: string;

export interface DescOpts {
  dump: string[];
  restore: string[];
}
export interface Desc {
  flags: string[];
  flavors: string[];
  opts: DescOpts;
  feature: string[];
  timeout: number;
  /** seconds between each dump and its restore */
  downtime: number;
  exempt: Record<string, string>;
  /** the CPUs the test is for; null: every CPU */
  arch: string[] | null;
}
export interface CatalogTest {
  name: string;
  dir: string;
  lang: 'c' | 'ts';
  src: string;
  desc: Desc;
  argv: string[];
}

/** an entry of expected-skips.json's `skip` */
export interface ExpectedSkip {
  test: string;
  flavor: string;
  reason: string;
  feature?: string | null;
}
/** an entry of expected-skips.json's `fixme` */
export interface ExpectedFixme {
  tests: string[] | '*';
  flavors: string[];
  refusal: string;
  reason: string;
}
export interface Expected {
  skip: ExpectedSkip[];
  fixme: ExpectedFixme[];
}

export interface RunOptions {
  tests: string[] | null;
  flavors: string[];
  nocr: boolean;
  norst: boolean;
  iters: number;
  breakMode: boolean;
  keep: 'always' | 'never' | 'failed';
  criuBin: string;
  work: string | null;
  userBase: number;
  report?: string;
  jobs?: number | null;
  keepGoing?: boolean;
}

export declare function readDesc(file: string): Desc;
export declare function listTests(): CatalogTest[];
export declare function readExpected(): Expected;
export declare function findSkip(expected: Expected, name: string, flavor: string, feature?: string | null): ExpectedSkip | undefined;
export declare function fixmeCandidates(expected: Expected, name: string, flavor: string): ExpectedFixme[];
export declare function readFast(): string[];
export declare function defaultOptions(): RunOptions;
export declare function currentOptions(): RunOptions;
