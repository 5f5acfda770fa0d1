// koffi, loaded the short way: its index.js pulls in https, zlib and crypto for its installer
// before it picks the prebuilt module (~12 ms of every start here); the prebuilt module for this
// machine is the same API. Anything unexpected falls back to the package itself.
//
// In a start-up snapshot build (criu/snapshot.ts) koffi, a native module, cannot be in the heap:
// what the modules declare as they load (libc, its functions, callback prototypes, structs) is
// recorded, and made for real in the started process, in the order declared, on first use.
import { createRequire } from 'node:module';
import { buildingSnapshot } from '../snapshot.js';
import { CriuError } from './errors.js';

type Koffi = typeof import('koffi');
const require = createRequire(import.meta.url);

/** koffi's prebuilt module for this machine and the package's version, found as this module
 *  loads (in a snapshot build: at build time, which saves the start ~6 ms of path lookups) */
function findNative(): { file: string; version: string } | undefined {
  const triplet = process.platform === 'linux' ? { x64: 'linux_x64', arm64: 'linux_arm64' }[process.arch as string] : undefined;
  if (!triplet) return undefined;
  try {
    return { file: require.resolve(`koffi/build/koffi/${triplet}/koffi.node`), version: (require('koffi/package.json') as { version: string }).version };
  } catch {
    return undefined; /* musl, another layout: the package knows */
  }
}
const native = findNative();

function load(): Koffi {
  if (native) {
    try {
      const m = { exports: {} as Koffi & { version?: string } };
      process.dlopen(m, native.file);
      if (m.exports.version === native.version) return m.exports;
    } catch {
      /* moved or rebuilt since: the package knows */
    }
  }
  return require('koffi') as Koffi;
}

/** what may be declared while the snapshot is built: calls that make a library or a type */
const DECLARE = new Set(['load', 'struct', 'union', 'pointer', 'proto', 'opaque', 'array', 'alias', 'disposable']);

interface Declared {
  index: number;
  make: () => unknown;
  value?: unknown;
}

function deferred(): Koffi {
  let real: Koffi | null = null;
  const declared: Declared[] = [];
  const byStandIn = new WeakMap<object, Declared>();
  let made = 0;
  // makes every declaration up to d, in order (a struct or prototype is named by its declaration)
  const make = (d: Declared): unknown => {
    while (made <= d.index) {
      const x = declared[made];
      x.value = x.make();
      made++;
    }
    return d.value;
  };
  const arg = (a: unknown): unknown => {
    const d = (typeof a === 'object' || typeof a === 'function') && a !== null ? byStandIn.get(a) : undefined;
    return d ? make(d) : a;
  };
  const declare = (standIn: object, fn: () => unknown): object => {
    const d: Declared = { index: declared.length, make: fn };
    declared.push(d);
    byStandIn.set(standIn, d);
    return standIn;
  };
  // a call at run time first makes every declaration: a type may be named in a string only
  const nowCall = (target: () => Record<string, (...a: unknown[]) => unknown>, name: string, args: unknown[]): unknown => {
    if (made < declared.length) make(declared[declared.length - 1]);
    return target()[name](...args.map(arg));
  };
  const koffiNow = (): Record<string, (...a: unknown[]) => unknown> => (real ??= load()) as never;
  const func = (lib: object, args: unknown[]): unknown => {
    let fn: ((...a: unknown[]) => unknown) & { async?: (...a: unknown[]) => unknown };
    const standIn = Object.assign((...a: unknown[]): unknown => (fn ??= make(d) as typeof fn)(...a), {
      async: (...a: unknown[]): unknown => (fn ??= make(d) as typeof fn).async!(...a),
    });
    const d = byStandIn.get(declare(standIn, () => (make(byStandIn.get(lib)!) as Record<string, (...a: unknown[]) => unknown>).func(...args.map(arg))))!;
    return standIn;
  };
  const library = (args: unknown[]): object => {
    const standIn: object = new Proxy(
      {},
      {
        get: (_t, name: string) =>
          name === 'func' && buildingSnapshot()
            ? (...a: unknown[]) => func(standIn, a)
            : (...a: unknown[]) => nowCall(() => make(byStandIn.get(standIn)!) as never, name, a),
      },
    );
    return declare(standIn, () => koffiNow().load(...args.map(arg)));
  };
  return new Proxy({} as Koffi, {
    get:
      (_t, name: string) =>
      (...args: unknown[]) => {
        if (!buildingSnapshot()) return nowCall(koffiNow, name, args);
        if (!DECLARE.has(name)) throw new CriuError(`koffi.${name}() was called while the start-up snapshot was built: only declarations may run at load`);
        return name === 'load' ? library(args) : declare(Object.freeze({}), () => koffiNow()[name](...args.map(arg)));
      },
  });
}

const koffi: Koffi = buildingSnapshot() ? deferred() : load();
export default koffi;
