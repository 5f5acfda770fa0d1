// worker_threads keep their state and answer pings after the restore.
import { Worker } from 'node:worker_threads';
import { init, daemon, waitsig, pass, fail, msg, isBreak, withTimeout } from '../lib/zdtm.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
let count = 0;
parentPort.on('message', (m) => {
  count++;
  parentPort.postMessage({ id: workerData.id, pong: m.ping, count, sum: m.ping + workerData.id * 1000 });
});
`;

interface Pong {
  id: number;
  pong: number;
  count: number;
  sum: number;
}

await init();
const workers = [0, 1, 2].map((id) => new Worker(WORKER, { eval: true, workerData: { id } }));
const exited = new Set<number>();
workers.forEach((w, i) => w.on('exit', () => exited.add(i)));

function ping(i: number, n: number): Promise<Pong> {
  return withTimeout(
    new Promise<Pong>((resolve) => {
      workers[i].once('message', (m: Pong) => resolve(m));
      workers[i].postMessage({ ping: n });
    }),
    3000,
    `worker ${i}`,
  );
}

for (let i = 0; i < workers.length; i++) {
  const r = await ping(i, 1);
  if (r.count !== 1) fail(`worker ${i} setup: count ${r.count}`);
}
await daemon();
if (isBreak()) {
  await workers[1].terminate();
  msg('break: terminated worker 1');
}
await waitsig();

for (let i = 0; i < workers.length; i++) {
  if (exited.has(i)) fail(`worker ${i} has exited`);
  let r: Pong;
  try {
    r = await ping(i, 42 + i);
  } catch (e) {
    fail(String((e as Error).message));
  }
  if (r.id !== i || r.pong !== 42 + i || r.sum !== 42 + i + i * 1000) fail(`worker ${i} answered ${JSON.stringify(r)}`);
  if (r.count !== 2) fail(`worker ${i} lost its state: count ${r.count}, expected 2`);
}
await Promise.all(workers.map((w) => w.terminate()));
pass();
