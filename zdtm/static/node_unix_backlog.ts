// A Node net.Server on a unix socket path with three clients queued and not yet accepted: the
// server lives in a worker_thread whose event loop is held (Atomics.wait) from just after
// listen(), so the clients' connections wait in the listener's backlog across the dump and the
// restore. After the restore the worker is let go: it accepts all three, and each client's
// request is answered on its own connection.
import * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { init, daemon, waitsig, pass, fail, msg, isBreak, withTimeout } from '../lib/zdtm.js';

const SERVER = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const gate = new Int32Array(workerData.sab);
let accepted = 0;
const server = net.createServer((c) => {
  accepted++;
  c.on('data', (d) => c.write('ok ' + accepted + ' ' + d.toString()));
});
server.listen(workerData.path, () => {
  parentPort.postMessage('listening');
  // no accept() while the gate is shut: the clients stay in the backlog
  Atomics.wait(gate, 0, 0);
  parentPort.postMessage('open');
});
`;

const t = await init();
const sock = path.join(path.dirname(t.outfile), 'node_unix_backlog.sock');
const sab = new SharedArrayBuffer(4);
const gate = new Int32Array(sab);
const w = new Worker(SERVER, { eval: true, workerData: { sab, path: sock } });
await withTimeout(new Promise<void>((r) => w.once('message', () => r())), 10_000, 'the server listening');
const clients = await Promise.all(
  [1, 2, 3].map(
    (i) =>
      new Promise<net.Socket>((res, rej) => {
        const c = net.connect(sock, () => res(c));
        c.on('error', rej);
        c.setEncoding('utf8');
        void i;
      }),
  ),
);
await daemon();
if (isBreak()) {
  for (const c of clients) c.destroy();
  msg('break: the queued clients are closed');
}
await waitsig();

Atomics.store(gate, 0, 1);
Atomics.notify(gate, 0);
try {
  const answers = await withTimeout(
    Promise.all(
      clients.map(
        (c, i) =>
          new Promise<string>((res, rej) => {
            c.once('data', (d: string) => res(d));
            c.once('error', rej);
            c.once('close', () => rej(new Error(`client ${i + 1}: closed`)));
            c.write(`client ${i + 1}`);
          }),
      ),
    ),
    5_000,
    'the answers of the accepted clients',
  );
  const bad = answers.filter((a, i) => !new RegExp(`^ok [123] client ${i + 1}$`).test(a));
  if (bad.length) fail(`wrong answers: ${JSON.stringify(answers)}`);
  msg(`answers: ${JSON.stringify(answers)}`);
  pass();
} catch (e) {
  fail(`the queued clients were not served: ${(e as Error).message}`);
}
