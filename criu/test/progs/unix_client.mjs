// A Node.js program connected to a unix socket server outside its tree (argv[2]): its pid goes
// to argv[3] once connected; on SIGTERM it writes PASS to argv[4]. For unix.spec.ts.
import * as net from 'node:net';
import * as fs from 'node:fs';

const [sock, pidFile, outFile] = process.argv.slice(2);
const c = net.connect(sock);
c.on('connect', () => {
  fs.writeFileSync(`${pidFile}.tmp`, `${process.pid}\n`);
  fs.renameSync(`${pidFile}.tmp`, pidFile);
});
c.on('error', () => {});
setInterval(() => {}, 1000);
process.on('SIGTERM', () => {
  fs.writeFileSync(outFile, 'PASS\n');
  process.exit(0);
});
