// --status-fd FD (util.c status_ready): once a server is ready for requests it runs the
// status-ready action, then writes one '\0' byte to FD and closes it, so that whoever started
// it in the background knows when to connect. CRIU 4.2 calls it from `criu service`
// (cr-service.c), `criu page-server` (util.c run_tcp_server) and `criu lazy-pages` (uffd.c)
// only; dump, restore and check never do, so there the option is accepted and ignored.
import * as fs from 'node:fs';
import { runScripts } from './notify.js';
import { log } from './log.js';

let statusFd = -1;

/** --status-fd FD (-1: none) */
export function setStatusFd(fd: number): void {
  statusFd = fd;
}

/** status_ready(): the status-ready action, then the byte; 0, or -1 when either failed. */
export function statusReady(): number {
  if (runScripts('status-ready') !== 0) return -1;
  if (statusFd < 0) return 0;
  const fd = statusFd;
  statusFd = -1;
  let n = 0;
  try {
    n = fs.writeSync(fd, Buffer.alloc(1));
  } catch (e) {
    log.error(`Unable to write into the status fd ${fd}: ${(e as Error).message}`);
    return -1;
  }
  if (n !== 1) {
    log.error(`Unable to write into the status fd ${fd}: nothing written`);
    return -1;
  }
  try {
    fs.closeSync(fd);
  } catch (e) {
    log.error(`Unable to close the status fd ${fd}: ${(e as Error).message}`);
    return -1;
  }
  return 0;
}
