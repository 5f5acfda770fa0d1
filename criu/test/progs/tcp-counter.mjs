// A TCP line server for criu/test/tcp.spec.ts: every line received is answered with the
// number of lines so far (over all connections), so a connection kept across a dump and a
// restore shows that the state went on. Prints "port N" once it listens, "closed" when a
// connection ends.
import net from 'node:net';

let count = 0;
const server = net.createServer((c) => {
  let buf = '';
  c.setEncoding('utf8');
  c.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      buf = buf.slice(i + 1);
      c.write(`${++count}\n`);
    }
  });
  c.on('error', () => {});
  c.on('close', () => process.stdout.write('closed\n'));
});
server.listen(0, process.argv[2] ?? '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
