// The terminal ioctls the tty kind uses, on the tool's own fds, and the termios/winsize
// structures as CRIU 4.2's images hold them.
import { libc, koffi, E } from '../sys/libc.js';
import type { TermiosEntry, WinsizeEntry } from '../images/gen/types.js';

export const TIOC = {
  TCGETS: 0x5401,
  TCSETS: 0x5402,
  TIOCEXCL: 0x540c,
  TIOCSCTTY: 0x540e,
  TIOCGPGRP: 0x540f,
  TIOCSPGRP: 0x5410,
  TIOCGWINSZ: 0x5413,
  TIOCSWINSZ: 0x5414,
  TIOCPKT: 0x5420,
  TIOCGSID: 0x5429,
  TIOCGLCKTRMIOS: 0x5456,
  TIOCSLCKTRMIOS: 0x5457,
  TIOCGPTN: 0x80045430,
  TIOCSPTLCK: 0x40045431,
  TIOCGPKT: 0x80045438,
  TIOCGPTLCK: 0x80045439,
  TIOCGEXCL: 0x80045440,
} as const;

/** The kernel's struct termios (TCGETS): four flag words, c_line, 19 control characters. */
const KTERMIOS = 36;
/** CRIU's TERMIOS_NCC: the length of termios_entry.c_cc */
export const TERMIOS_NCC = 19;

const raw = libc.func('int ioctl(int fd, unsigned long req, void *arg)');

/** ioctl on a Buffer argument (or none); the errno on failure, 0 on success. */
export function ioctlErr(fd: number, req: number, arg: Buffer | null): number {
  const r = raw(fd, req, arg) as number;
  return r < 0 ? (koffi.errno() as number) : 0;
}

/** An int the ioctl writes; null when it fails with ENOTTY/EINVAL (not this kind of tty), 'EIO' when the tty is hung up. */
export function getInt(fd: number, req: number): number | null | 'EIO' {
  const b = Buffer.alloc(4);
  const err = ioctlErr(fd, req, b);
  if (err === E.EIO) return 'EIO';
  if (err) return null;
  return b.readInt32LE(0);
}

export function setInt(fd: number, req: number, v: number): number {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return ioctlErr(fd, req, b);
}

/**
 * A termios as CRIU 4.2 stores it: its termios_copy memcpy()s glibc's 32-byte c_cc array into
 * the uint32 array of the entry, so the control characters lie four to a word (little-endian
 * bytes), 8 words of 19; the speeds are not copied (0).
 */
export function termiosOf(b: Buffer): TermiosEntry {
  const cc = Buffer.alloc(TERMIOS_NCC * 4);
  b.copy(cc, 0, 17, KTERMIOS);
  return {
    c_iflag: b.readUInt32LE(0),
    c_oflag: b.readUInt32LE(4),
    c_cflag: b.readUInt32LE(8),
    c_lflag: b.readUInt32LE(12),
    c_line: b[16],
    c_ispeed: 0,
    c_ospeed: 0,
    c_cc: Array.from({ length: TERMIOS_NCC }, (_, i) => cc.readUInt32LE(4 * i)),
  };
}

/** The kernel struct termios of an entry (the inverse of termiosOf). */
export function termiosBuf(t: TermiosEntry): Buffer {
  const b = Buffer.alloc(KTERMIOS);
  b.writeUInt32LE(t.c_iflag >>> 0, 0);
  b.writeUInt32LE(t.c_oflag >>> 0, 4);
  b.writeUInt32LE(t.c_cflag >>> 0, 8);
  b.writeUInt32LE(t.c_lflag >>> 0, 12);
  b[16] = t.c_line & 0xff;
  const cc = Buffer.alloc(TERMIOS_NCC * 4);
  (t.c_cc ?? []).forEach((w, i) => cc.writeUInt32LE(w >>> 0, 4 * i));
  cc.copy(b, 17, 0, KTERMIOS - 17);
  return b;
}

/** TCGETS-like read of a termios (TCGETS, TIOCGLCKTRMIOS); errno on failure. */
export function getTermios(fd: number, req: number): TermiosEntry | number {
  const b = Buffer.alloc(KTERMIOS);
  const err = ioctlErr(fd, req, b);
  return err ? err : termiosOf(b);
}

export function getWinsize(fd: number): WinsizeEntry | number {
  const b = Buffer.alloc(8);
  const err = ioctlErr(fd, TIOC.TIOCGWINSZ, b);
  if (err) return err;
  return { ws_row: b.readUInt16LE(0), ws_col: b.readUInt16LE(2), ws_xpixel: b.readUInt16LE(4), ws_ypixel: b.readUInt16LE(6) };
}

export function winsizeBuf(w: WinsizeEntry): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(w.ws_row & 0xffff, 0);
  b.writeUInt16LE(w.ws_col & 0xffff, 2);
  b.writeUInt16LE(w.ws_xpixel & 0xffff, 4);
  b.writeUInt16LE(w.ws_ypixel & 0xffff, 6);
  return b;
}

const getsid_ = libc.func('int getsid(int pid)');
const getpgid_ = libc.func('int getpgid(int pid)');
/** The session and the process group of the calling process. */
export const ownSession = (): number => getsid_(0) as number;
export const ownGroup = (): number => getpgid_(0) as number;
