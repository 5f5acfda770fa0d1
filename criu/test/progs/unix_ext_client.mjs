// A Node.js program connected to a unix stream server outside its tree (argv[2]) that keeps
// talking: "tick" every 20 ms, each answered by the server with "ok". Its pid goes to argv[3]
// once connected; on SIGTERM it writes "PASS answers=N" to argv[4]. For unix.spec.ts
// (--ext-unix-sk: after the restore its socket is connected to the server's name again).
import * as net from 'node:net';
import * as fs from 'node:fs';

const [sock, pidFile, outFile] = process.argv.slice(2);
let answers = 0;
let buf = '';
const c = net.connect(sock);
c.on('connect', () => {
  fs.writeFileSync(`${pidFile}.tmp`, `${process.pid}\n`);
  fs.renameSync(`${pidFile}.tmp`, pidFile);
  setInterval(() => c.write('tick\n'), 20);
});
c.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    if (buf.slice(0, i) === 'ok') answers++;
    buf = buf.slice(i + 1);
  }
});
c.on('error', (e) => {
  fs.writeFileSync(outFile, `FAIL: ${e.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => {
  fs.writeFileSync(outFile, `PASS answers=${answers}\n`);
  process.exit(0);
});
