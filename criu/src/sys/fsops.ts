// Filesystem calls Node does not have: linkat (a hard link to an open file, CRIU's link remaps)
// and mknod (a ghost device node), through koffi as in libc.ts.
import { libc, SysError } from './libc.js';
import koffi from './koffi.js';

const f = {
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
  mknod: libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
};

export const AT_FDCWD = -100;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;

/** linkat(2); throws SysError (its `code` is the errno name, ENOENT …). */
export function linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): void {
  const r = f.linkat(olddirfd, oldpath, newdirfd, newpath, flags) as number;
  if (r < 0) throw new SysError('linkat', koffi.errno(), [olddirfd, oldpath, newdirfd, newpath, flags]);
}

/** A new name for the file open at `fd` (it must still have a link: nlink > 0), as CRIU's linkat(lfd, "", …, AT_EMPTY_PATH). */
export function linkOpenFile(fd: number, newpath: string): void {
  try {
    linkat(fd, '', AT_FDCWD, newpath, AT_EMPTY_PATH);
  } catch (e) {
    // without CAP_DAC_READ_SEARCH AT_EMPTY_PATH is refused; /proc/self/fd/N followed does the same
    if (!(e instanceof SysError) || (e.code !== 'EPERM' && e.code !== 'EACCES')) throw e;
    linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, newpath, AT_SYMLINK_FOLLOW);
  }
}

/** mknod(2) with a userspace dev_t (glibc's encoding, as st_rdev). */
export function mknod(path: string, mode: number, rdev: number | bigint): void {
  const r = f.mknod(path, mode, BigInt(rdev)) as number;
  if (r < 0) throw new SysError('mknod', koffi.errno(), [path, mode, rdev]);
}
