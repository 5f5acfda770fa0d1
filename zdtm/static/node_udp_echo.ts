// A UDP echo pair in one Node process (node:dgram): a server bound to 127.0.0.1 and a client
// connected to it ping-pong a counter the whole time, across the dump and the restore. After the
// restore the client's datagrams still reach the server on its port, the echoes come back to the
// client's own port, and the counter goes on from where it was (both sockets restored, not new
// ones: the ports and the connected peer are the dumped ones).
import * as dgram from 'node:dgram';
import { init, daemon, waitsig, pass, fail, msg, isBreak } from '../lib/zdtm.js';

await init();
const server = dgram.createSocket('udp4');
server.on('message', (m, r) => server.send(m, r.port, r.address));
await new Promise<void>((res) => server.bind(0, '127.0.0.1', res));
const sport = server.address().port;
const client = dgram.createSocket('udp4');
await new Promise<void>((res) => client.bind(0, '127.0.0.1', res));
await new Promise<void>((res) => client.connect(sport, '127.0.0.1', res));
const cport = client.address().port;

let n = 0;
let echoed = 0;
let bad = '';
let onEcho: (() => void) | null = null;
let heard = true;
let lastError = '';
client.on('error', (e) => (lastError = e.message)); // ECONNREFUSED when nobody listens on the server's port
const ping = (): void => client.send(String(n));
client.on('message', (m) => {
  const v = Number(m.toString());
  heard = true;
  if (v > n) bad ||= `echo ${v} while ${n} was the last sent`;
  if (v !== n) return; // a late echo of a ping sent again
  echoed++;
  n++;
  onEcho?.();
  setTimeout(ping, 5);
});
// a ping or its echo lost (a receive queue is dropped at the dump, as CRIU does) is sent again
setInterval(() => {
  if (!heard) ping();
  heard = false;
}, 200);
ping();
await daemon();
if (isBreak()) {
  server.close();
  msg('break: the server socket is closed');
}
await waitsig();

const before = n;
const ok = await new Promise<boolean>((res) => {
  const t = setTimeout(() => res(false), 5_000);
  onEcho = () => {
    if (n - before >= 20) {
      clearTimeout(t);
      res(true);
    }
  };
});
onEcho = null;
let remote = '';
try {
  remote = `${client.remoteAddress().address}:${client.remoteAddress().port}`;
} catch (e) {
  remote = `none (${(e as Error).message})`;
}
if (!ok) fail(`only ${n - before} more echoes after the restore (${echoed} in all${lastError ? `; last error: ${lastError}` : ''})`);
else if (bad) fail(bad);
else if (server.address().port !== sport || client.address().port !== cport)
  fail(`ports moved: server ${server.address().port} (was ${sport}), client ${client.address().port} (was ${cport})`);
else if (remote !== `127.0.0.1:${sport}`) fail(`the client is connected to ${remote}, not 127.0.0.1:${sport}`);
else {
  msg(`${echoed} echoes, ${n - before} after the restore`);
  pass();
}
