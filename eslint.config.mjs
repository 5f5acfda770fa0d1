// `npm run lint`: typescript-eslint's recommended rules over the sources, the unit tests and the
// zdtm runner, and the layers of criu/src (criu/ARCHITECTURE.md, "Layers"): a module imports its
// own layer's and lower layers' modules, never a higher layer's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of criu/src, lowest first. The top-level modules errors, log, paths, features and
// fault import no layer; progress and stats import sys. All of them may be imported from anywhere.
const LEAVES = ['errors', 'log', 'paths', 'features', 'fault', 'progress', 'stats'];
/** leaves that do not import sys, so sys may import them */
const SYS_LEAVES = ['errors', 'log', 'paths', 'features', 'fault'];
const LAYERS = [['sys'], ['proc', 'ptrace', 'images', 'net'], ['files', 'arch'], ['dump', 'restore', 'ns', 'plugins', 'cgroup'], ['check'], ['cli'], ['api']];
/** modules of criu/src that are one file at its top rather than a directory */
const FILE_MODULES = new Set(['check']);

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** the import string by which a file of criu/src/<from>/ (or criu/src/ itself, from = '') names module m */
function spec(from, m) {
  const up = from ? '\\.\\./' : '\\./';
  return FILE_MODULES.has(m) ? `${up}${m}\\.js$` : `${up}${m}/`;
}

/**
 * The modules a file of `dir` must not import: every higher layer; within the engine layer, dump
 * and restore are two engines that share nothing but what lies below them, and ns and plugins
 * serve both, so they import neither.
 */
function forbidden(dir) {
  if (dir === '') return LAYERS.flat(); // the leaves: no layer (but sys, see SYS_LEAVES)
  const at = LAYERS.findIndex((l) => l.includes(dir));
  const out = LAYERS.slice(at + 1).flat();
  if (dir === 'dump') out.push('restore');
  if (dir === 'restore') out.push('dump');
  if (dir === 'ns' || dir === 'plugins' || dir === 'cgroup') out.push('dump', 'restore');
  return out;
}

/**
 * The no-restricted-imports setting for the files of `dir`. `allowed`: exact import strings this
 * file may still use although they cross the layers (today's known violations, listed below).
 */
function layerRule(dir, allowed = []) {
  const mods = forbidden(dir).filter((m) => !(dir === '' && m === 'sys'));
  if (!mods.length) return 'off'; // cli: the top
  const except = allowed.map((a) => `(?!${esc(a)}$)`).join('');
  const patterns = [
    {
      regex: `^${except}(${mods.map((m) => spec(dir, m)).join('|')})`,
      message: `criu/src/${dir || '*.ts'} may not import this: it goes up or across the layers ("Layers" in criu/ARCHITECTURE.md); move what both sides need down a layer`,
    },
  ];
  if (dir === 'sys') {
    const top = LEAVES.filter((l) => !SYS_LEAVES.includes(l));
    patterns.push({ regex: `^\\.\\./(${top.join('|')})\\.js$`, message: 'this leaf imports sys: sys must not import it back' });
  }
  return ['error', { patterns }];
}

const DIRS = LAYERS.flat().filter((d) => !FILE_MODULES.has(d));

// Known upward imports: an entry allows that one import in that one file (none today; keep it
// so, any upward import anywhere fails the lint).
const KNOWN_UPWARD = {};

// Files that still use `any`, with how many (@typescript-eslint/no-explicit-any, 2026-12-03).
// The rule is an error everywhere else, so a new file cannot add one; criu/test/habits.spec.ts
// fails when a listed file has more than its count. Lower a count when you remove some, and drop
// the file from the list at zero.
export const KNOWN_ANY = {
  'criu/test/files.spec.ts': 11,
  'criu/test/fuzz.spec.ts': 3,
  'criu/test/xsave.spec.ts': 8,
};

// Files that still cast untyped values away (typescript-eslint's no-unsafe-* rules, type-aware,
// on for criu/src), and files or functions over the size limits (600 lines a file, 80 a
// function, criu/ARCHITECTURE.md "Habits"). Same contract as KNOWN_ANY: the lists only shrink.
export const KNOWN_UNSAFE = [];
export const KNOWN_LONG = [];
const UNSAFE = ['assignment', 'member-access', 'call', 'return', 'argument'].map((r) => `@typescript-eslint/no-unsafe-${r}`);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'reports/**', 'test-results/**', 'criu/src/images/gen/**', '**/*.mjs', '**/*.cjs', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // `_x`: a parameter an interface requires and this implementation does not use
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Playwright's test functions take their fixtures destructured: `async ({}, testInfo) => …`
      'no-empty-pattern': ['error', { allowObjectPatternsAsParameters: true }],
    },
  },
  // the layers
  { files: ['criu/src/*.ts'], ignores: ['criu/src/check.ts'], rules: { 'no-restricted-imports': layerRule('') } },
  { files: ['criu/src/check.ts'], rules: { 'no-restricted-imports': layerRule('check') } },
  ...DIRS.map((d) => ({ files: [`criu/src/${d}/**/*.ts`], rules: { 'no-restricted-imports': layerRule(d) } })),
  ...Object.entries(KNOWN_UPWARD).map(([file, allowed]) => ({
    files: [file],
    rules: { 'no-restricted-imports': layerRule(file.split('/')[2], allowed) },
  })),
  ...Object.keys(KNOWN_ANY).map((file) => ({ files: [file], rules: { '@typescript-eslint/no-explicit-any': 'off' } })),
  // criu/src: typed through and through, and in pieces a reader can hold
  {
    files: ['criu/src/**/*.ts'],
    ignores: ['criu/src/images/gen/**'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      ...Object.fromEntries(UNSAFE.map((r) => [r, 'error'])),
      'max-lines': ['error', { max: 600 }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  ...KNOWN_UNSAFE.map((file) => ({ files: [file], rules: Object.fromEntries(UNSAFE.map((r) => [r, 'off'])) })),
  ...KNOWN_LONG.map((file) => ({ files: [file], rules: { 'max-lines': 'off', 'max-lines-per-function': 'off' } })),
);
