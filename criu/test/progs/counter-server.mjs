// A Node.js http server with a request counter, for criu/test/servers.spec.ts: every answer is
// the number of requests so far, and the connection is closed after it (no keep-alive), so that
// no connected socket is left between requests. Prints "port N" once it listens.
import http from 'node:http';

let served = 0;
const server = http.createServer((_req, res) => {
  served++;
  res.setHeader('Connection', 'close');
  res.end(`${served}\n`);
});
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`port ${typeof a === 'object' && a ? a.port : 0}\n`);
});
