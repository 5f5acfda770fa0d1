// koffi, loaded the short way: its index.js pulls in https, zlib and crypto for its installer
// before it picks the prebuilt module (~12 ms of every start here); the prebuilt module for this
// machine is the same API. Anything unexpected falls back to the package itself.
import { createRequire } from 'node:module';

type Koffi = typeof import('koffi');
const require = createRequire(import.meta.url);

function load(): Koffi {
  const triplet = process.platform === 'linux' ? { x64: 'linux_x64', arm64: 'linux_arm64' }[process.arch as string] : undefined;
  if (triplet) {
    try {
      const native = require(`koffi/build/koffi/${triplet}/koffi.node`) as Koffi & { version?: string };
      if (native.version === (require('koffi/package.json') as { version: string }).version) return native;
    } catch {
      /* musl, another layout: the package knows */
    }
  }
  return require('koffi') as Koffi;
}

const koffi: Koffi = load();
export default koffi;
