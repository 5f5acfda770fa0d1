// A TCP line server for criu/test/tcp.spec.ts: every line received is answered with the
// number of lines so far (over all connections), so a connection kept across a dump and a
// restore shows that the state went on; the line "all" is answered on every connection, also
// those the client has shut down (half-open ones are kept). Prints "port N" once it listens,
// "ended" when a connection's peer shut it down (end of file), "closed" when it is closed.
import net from 'node:net';

let count = 0;
const conns = new Set();
const server = net.createServer({ allowHalfOpen: true }, (c) => {
  conns.add(c);
  let buf = '';
  c.setEncoding('utf8');
  c.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      ++count;
      for (const to of line === 'all' ? conns : [c]) to.write(`${count}\n`);
    }
  });
  c.on('error', () => {});
  c.on('end', () => process.stdout.write('ended\n'));
  c.on('close', () => {
    conns.delete(c);
    process.stdout.write('closed\n');
  });
});
server.listen(0, process.argv[2] ?? '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`));
