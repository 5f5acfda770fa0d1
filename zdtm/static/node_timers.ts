// setInterval keeps firing after the restore; a far timeout must not fire early. The ticks are
// counted against the program's own clocks, not a fixed time: 10 more ticks must come before a
// reference timeout of the same period, re-armed on the same event loop, fires 50 times (both
// are late alike on a slow machine), and not faster than their interval allows
// (performance.now).
import { init, daemon, waitsig, pass, fail, msg, isBreak } from '../lib/zdtm.js';

await init();
const PERIOD = 10;
let ticks = 0;
let early = false;
let onTick: (() => void) | null = null;
const iv = setInterval(() => {
  ticks++;
  onTick?.();
}, PERIOD);
const far = setTimeout(() => {
  early = true;
}, 3600 * 1000);
await daemon();
if (isBreak()) {
  clearInterval(iv);
  msg('break: cleared the interval');
}
await waitsig();

const t0 = ticks;
const m0 = performance.now();
let refs = 0;
const got = await new Promise<boolean>((resolve) => {
  let ref: NodeJS.Timeout;
  const step = () => {
    if (++refs >= 50) resolve(false);
    else ref = setTimeout(step, PERIOD);
  };
  ref = setTimeout(step, PERIOD);
  onTick = () => {
    if (ticks - t0 >= 10) {
      clearTimeout(ref);
      resolve(true);
    }
  };
});
onTick = null;
const ms = performance.now() - m0;
if (!got)
  fail(
    `the ${PERIOD} ms interval fired ${ticks - t0} times while a ${PERIOD} ms reference timeout fired ${refs} times (in ${ms.toFixed(0)} ms; ${ticks} ticks in all)`,
  );
// the first tick may come at once, each next one at least PERIOD ms later (1 ms for the clocks' rounding)
if (ms < (ticks - t0 - 1) * PERIOD - 1) fail(`the ${PERIOD} ms interval fired ${ticks - t0} times in ${ms.toFixed(1)} ms: faster than its interval`);
if (early) fail('the one-hour timeout fired');
clearTimeout(far);
msg(`${ticks} ticks, the last ${ticks - t0} in ${ms.toFixed(1)} ms (the reference fired ${refs} times)`);
pass();
