// A Node.js net.Server listening on a unix socket path (argv[2]) with a client in the same tree:
// a child process that connects and sends "tick" every 20 ms, each answered with the count so
// far. Anyone may ask "count". Once the child is served, the server's pid goes to argv[3]; on
// SIGTERM it writes "PASS ticks=N" to argv[4]. For unix.spec.ts.
import * as net from 'node:net';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';

const [sock, pidFile, outFile, role] = process.argv.slice(2);

/** a line protocol on a socket: `fn(line)` for each line */
function lines(c, fn) {
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      fn(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}

if (role === 'client') {
  const c = net.connect(sock);
  c.on('connect', () => setInterval(() => c.write('tick\n'), 20));
  lines(c, () => {});
  c.on('error', () => process.exit(2));
} else {
  let ticks = 0;
  let announced = false;
  const srv = net.createServer((c) => {
    lines(c, (l) => {
      if (l === 'tick') {
        ticks++;
        c.write(`ok ${ticks}\n`);
        if (!announced) {
          announced = true;
          fs.writeFileSync(`${pidFile}.tmp`, `${process.pid}\n`);
          fs.renameSync(`${pidFile}.tmp`, pidFile);
        }
      } else if (l === 'count') c.write(`${ticks}\n`);
    });
    c.on('error', () => {});
  });
  srv.listen(sock, () => {
    spawn(process.execPath, [process.argv[1], sock, pidFile, outFile, 'client'], { stdio: 'ignore' });
  });
  process.on('SIGTERM', () => {
    fs.writeFileSync(outFile, `PASS ticks=${ticks}\n`);
    process.exit(0);
  });
}
