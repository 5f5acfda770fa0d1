// Whole writes: fs.writeSync may write less than asked (a signal, a pipe); these loop until done.
import * as fs from 'node:fs';

/** Writes buf[0..len) to fd, at its file position, or at `at` when given. */
export function writeAll(fd: number, buf: Buffer, len = buf.length, at?: number): void {
  for (let off = 0; off < len;) off += fs.writeSync(fd, buf, off, len - off, at === undefined ? null : at + off);
}
