// setInterval keeps firing after the restore; a far timeout must not fire early.
import { init, daemon, waitsig, pass, fail, msg, isBreak, sleep } from '../lib/zdtm.js';

await init();
let ticks = 0;
let early = false;
const iv = setInterval(() => ticks++, 10);
const far = setTimeout(() => { early = true; }, 3600 * 1000);
await daemon();
if (isBreak()) {
  clearInterval(iv);
  msg('break: cleared the interval');
}
await waitsig();

const t0 = ticks;
await sleep(500);
if (ticks - t0 < 10) fail(`the 10 ms interval fired ${ticks - t0} times in 500 ms (${ticks} in all)`);
if (early) fail('the one-hour timeout fired');
clearTimeout(far);
msg(`${ticks} ticks`);
pass();
