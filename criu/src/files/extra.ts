// Writing the ExtraImages of a dump (pipes-data.img, fifo-data.img, remap-fpath.img,
// ghost-file-N.img, memfd.img, pagemap-shmem-N.img …). Raw images (pages-N.img of memfd
// contents) have no header and no entries: their blobs are written one after the other.
import * as fs from 'node:fs';
import { writeAll } from '../sys/io.js';
import * as path from 'node:path';
import { kindForFileName, writeImage } from '../images/index.js';
import type { ExtraImages } from './kind.js';

export function isRawImage(file: string): boolean {
  return kindForFileName(file)?.raw === true;
}

/** Write every image of `extra` into `dir`; returns the file names written. */
export function writeExtraImages(dir: string, extra: ExtraImages): string[] {
  const out: string[] = [];
  for (const [file, img] of extra.images) {
    if (isRawImage(file)) {
      const fd = fs.openSync(path.join(dir, file), 'w', 0o600);
      try {
        for (const b of img.blobs) if (b) writeAll(fd, b);
      } finally {
        fs.closeSync(fd);
      }
    } else {
      writeImage(dir, file, img.entries, { blobs: img.blobs });
    }
    out.push(file);
  }
  return out;
}
