// Promises in flight: pending promises resolved after the restore run their
// continuations in order; an async chain of awaits keeps its progress.
import { init, daemon, waitsig, pass, fail, msg, isBreak, sleep, withTimeout } from '../lib/zdtm.js';

await init();
const N = 6;
const resolvers: Array<(v: number) => void> = [];
const log: number[] = [];
const pending = Array.from({ length: N }, (_, i) =>
  new Promise<number>((r) => {
    resolvers[i] = r;
  })
    .then((v) => v * 2)
    .then((v) => {
      log.push(i);
      return v + 1;
    }),
);

// an async chain stepping on timers: its local state lives in suspended frames
const steps: number[] = [];
let stop = false;
async function chain(): Promise<number> {
  let acc = 0;
  for (let i = 0; !stop; i++) {
    await sleep(5);
    acc += i;
    steps.push(i);
  }
  return acc;
}
const chainDone = chain();
await daemon();
if (isBreak()) {
  resolvers[3] = () => {};
  msg('break: dropped the resolver of promise 3');
}
await waitsig();

const order = [4, 2, 0, 5, 3, 1];
for (const i of order) resolvers[i](i + 10);
let values: number[];
try {
  values = await withTimeout(Promise.all(pending), 2000, 'the pending promises');
} catch {
  fail(`pending promises did not all resolve: continuations ran for [${log}]`);
}
if (log.join() !== order.join()) fail(`continuations ran in order [${log}], expected [${order}]`);
for (let i = 0; i < N; i++) if (values[i] !== (i + 10) * 2 + 1) fail(`promise ${i} gave ${values[i]}`);
const before = steps.length;
await sleep(200);
if (steps.length <= before) fail('the async chain stopped stepping');
stop = true;
const acc = await withTimeout(chainDone, 2000, 'the async chain').catch(() => fail('the async chain did not finish'));
for (let i = 0; i < steps.length; i++) if (steps[i] !== i) fail(`step ${i} is ${steps[i]}`);
if (acc !== (steps.length * (steps.length - 1)) / 2) fail(`the chain's sum is ${acc} after ${steps.length} steps`);
pass();
