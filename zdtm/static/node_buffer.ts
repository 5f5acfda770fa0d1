// A large Buffer (64 MiB, outside the V8 heap) and a small one on the heap keep their content.
import { init, daemon, waitsig, pass, fail, msg, isBreak, datagen, datachk } from '../lib/zdtm.js';

await init();
const big = Buffer.allocUnsafeSlow(64 << 20);
const bigCrc = datagen(big, 1234);
const small = new Uint8Array(4096);
const smallCrc = datagen(small, 99);
await daemon();
if (isBreak()) {
  big[(64 << 20) - 12345] ^= 0x10;
  msg('break: flipped a bit of the big buffer');
}
await waitsig();

if (big.length !== 64 << 20) fail(`the big buffer has ${big.length} bytes`);
if (!datachk(big, bigCrc)) fail('the 64 MiB buffer changed');
if (!datachk(small, smallCrc)) fail('the small buffer changed');
pass();
