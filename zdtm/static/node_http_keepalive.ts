// A Node.js http server and a keep-alive client in the same process (dumped with
// --tcp-established): the client's one connection (an agent with maxSockets 1) is open across
// the dump and the restore, and after it the next requests go over that same connection (same
// local port, no new connection accepted by the server) and the server's counter goes on.
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { init, daemon, waitsig, pass, fail, msg, isBreak, withTimeout } from '../lib/zdtm.js';

await init();
let served = 0;
let accepted = 0;
const server = http.createServer((_req, res) => {
  served++;
  res.end(`${served}`);
});
server.keepAliveTimeout = 0; // never closed by the server for idleness
server.on('connection', () => accepted++);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });

function get(): Promise<{ body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ body, localPort: (req.socket as Socket).localPort ?? 0 }));
    });
    req.on('error', reject);
  });
}

const a = await get();
const b = await get();
if (a.body !== '1' || b.body !== '2') fail(`answers before the dump: ${a.body}, ${b.body}`);
if (a.localPort !== b.localPort) fail('the agent did not keep its connection');
msg(`keep-alive connection from port ${a.localPort} to ${port}`);
await daemon();
if (isBreak()) {
  // the client's connection is dropped: the next request makes a new one
  agent.destroy();
  msg('break: the keep-alive connection is closed');
}
await waitsig();

const c = await withTimeout(get(), 10_000, 'a request after the restore');
if (c.body !== '3') fail(`the counter after the restore: ${c.body}, 3 expected`);
if (c.localPort !== a.localPort) fail(`a new connection (port ${c.localPort}) instead of the kept one (${a.localPort})`);
if (accepted !== 1) fail(`${accepted} connections accepted, 1 expected`);
agent.destroy();
server.close();
pass();
