// Typed access to image files: each reader and writer is keyed by the image kind's crit name
// and gives or takes the message type generated from proto/ for that kind (KIND_MESSAGE in
// magic.ts), so the engines never handle an untyped message.
import fs from 'node:fs';
import path from 'node:path';
import type { MessageTypes, PagemapHead, PagemapEntry, GhostFileEntry, GhostChunkEntry } from './gen/types.js';
import { ImageReader, ImageWriter, entryType, type ImageWriterOptions } from './image.js';
import { decodeMessage, UNKNOWN_FIELDS } from './codec.js';
import { tryFastDecode } from './fast-decode.js';
import { messageInfo } from './schema.js';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, kindByName } from './magic.js';
import { ImageError } from './errors.js';
import type { KIND_MESSAGE, KindName } from './magic.js';

/** Kinds whose entries all have one message type (PAGEMAP and GHOST_FILE have a head first). */
export type PlainKind = Exclude<KindName, 'PAGEMAP' | 'GHOST_FILE'>;
/** The generated type of an entry of image kind K. */
export type EntryOf<K extends KindName> = MessageTypes[(typeof KIND_MESSAGE)[K]];
/** One entry with the raw payload that follows it in the file (pipe data, queues …). */
export interface Entry<K extends KindName> {
  msg: EntryOf<K>;
  blob?: Buffer;
}

export interface ReadOptions {
  /** name used in error messages (default: the path) */
  name?: string;
}

function open(file: string, kind: KindName, opts: ReadOptions): ImageReader {
  return ImageReader.open(file, { expect: kind, name: opts.name });
}

/** Every entry of `file`, an image of kind K (it fails, naming the file, if it is another kind). */
export function readEntries<K extends PlainKind>(file: string, kind: K, opts: ReadOptions = {}): Entry<K>[] {
  const r = open(file, kind, opts);
  try {
    const out: Entry<K>[] = [];
    for (const e of r) out.push({ msg: e.msg as unknown as EntryOf<K>, blob: e.blob });
    return out;
  } finally {
    r.close();
  }
}

/** The messages of `file` (payloads dropped). */
export function readMessagesOf<K extends PlainKind>(file: string, kind: K, opts: ReadOptions = {}): EntryOf<K>[] {
  return readEntries(file, kind, opts).map((e) => e.msg);
}

/** The messages of dir/name, or null when that file does not exist. */
export function readOptional<K extends PlainKind>(dir: string, name: string, kind: K): Entry<K>[] | null {
  const file = path.join(dir, name);
  return fs.existsSync(file) ? readEntries(file, kind, { name }) : null;
}

/** The only entry of a single-entry image (core-N, mm-N, fs-N, ids-N, inventory …). */
export function readOne<K extends PlainKind>(file: string, kind: K, opts: ReadOptions = {}): EntryOf<K> {
  const r = open(file, kind, opts);
  try {
    const e = r.readEntry();
    if (!e) throw new ImageError('image has no entries', opts.name ?? file);
    return e.msg as unknown as EntryOf<K>;
  } finally {
    r.close();
  }
}

/** A pagemap-N.img: its head, then one entry per run of pages. */
export interface Pagemap {
  head: PagemapHead;
  entries: PagemapEntry[];
}

export function readPagemap(file: string, opts: ReadOptions = {}): Pagemap {
  const { head, entries } = readPagemapLoose(file, opts);
  if (!head) throw new ImageError('pagemap image has no head', opts.name ?? file);
  return { head, entries };
}

/** A ghost-file-N.img: its head, then (when the head says chunks) the chunks with their bytes. */
export interface Ghost {
  head: GhostFileEntry;
  chunks: { msg: GhostChunkEntry; blob?: Buffer }[];
  blob?: Buffer;
}

export function readGhost(file: string, opts: ReadOptions = {}): Ghost {
  const r = open(file, 'GHOST_FILE', opts);
  try {
    const all = [...r];
    if (!all.length) throw new ImageError('ghost image has no head', opts.name ?? file);
    return {
      head: all[0].msg as unknown as GhostFileEntry,
      blob: all[0].blob,
      chunks: all.slice(1).map((e) => ({ msg: e.msg as unknown as GhostChunkEntry, blob: e.blob })),
    };
  } finally {
    r.close();
  }
}

export type WriteOptions = Pick<ImageWriterOptions, 'mode'>;

/** Writes dir/name as an image of kind K; returns the path written. */
export function writeEntries<K extends PlainKind>(dir: string, name: string, kind: K, entries: ReadonlyArray<Entry<K>>, opts: WriteOptions = {}): string {
  const file = path.join(dir, name);
  const w = ImageWriter.create(file, { ...opts, kind });
  try {
    for (const e of entries) w.write(e.msg, e.blob);
  } finally {
    w.close();
  }
  return file;
}

/** Writes dir/name from messages alone. */
export function writeMessages<K extends PlainKind>(dir: string, name: string, kind: K, msgs: ReadonlyArray<EntryOf<K>>, opts: WriteOptions = {}): string {
  return writeEntries(
    dir,
    name,
    kind,
    msgs.map((msg) => ({ msg })),
    opts,
  );
}

/** Writes a pagemap-N.img: the head, then the entries. */
export function writePagemap(dir: string, name: string, pm: Pagemap, opts: WriteOptions = {}): string {
  const file = path.join(dir, name);
  const w = ImageWriter.create(file, { ...opts, kind: 'PAGEMAP' });
  try {
    w.write(pm.head);
    const framed = framePagemapEntries(pm.entries);
    if (framed) w.writeFramed(framed, pm.entries.length);
    else for (const e of pm.entries) w.write(e);
  } finally {
    w.close();
  }
  return file;
}

/** A pagemap-N.img whose head may be missing (an empty file): the restore names that itself. */
export function readPagemapLoose(file: string, opts: ReadOptions = {}): { head?: PagemapHead; entries: PagemapEntry[] } {
  const fast = pagemapFast(file);
  if (fast) return fast;
  const r = open(file, 'PAGEMAP', opts);
  try {
    const all = [...r];
    return { head: all[0]?.msg as unknown as PagemapHead | undefined, entries: all.slice(1).map((e) => e.msg as unknown as PagemapEntry) };
  } finally {
    r.close();
  }
}

/**
 * pagemap-N.img read in one loop (a restore reads one entry per run of pages: 65536 runs, say),
 * without ImageReader's per-entry steps: the head through the decoder, each entry through its fast
 * path. null where anything is out of the ordinary (another magic, a short file, an unknown
 * field): the reader then goes the careful way and names what is wrong.
 */
function pagemapFast(file: string): { head: PagemapHead; entries: PagemapEntry[] } | null {
  let b: Buffer;
  try {
    b = fs.readFileSync(file);
  } catch {
    return null;
  }
  const k = kindByName('PAGEMAP')!;
  if (b.length < 12 || b.readUInt32LE(0) !== (k.service ? IMG_SERVICE_MAGIC : IMG_COMMON_MAGIC) || b.readUInt32LE(4) !== k.magic) return null;
  let p = 8;
  const hl = b.readUInt32LE(p);
  if (p + 4 + hl > b.length) return null;
  let head: PagemapHead;
  try {
    head = decodeMessage(entryType(k, 0), b.subarray(p + 4, p + 4 + hl)) as unknown as PagemapHead;
  } catch {
    return null;
  }
  p += 4 + hl;
  const entries: PagemapEntry[] = [];
  const info = messageInfo(entryType(k, 1));
  while (p < b.length) {
    if (p + 4 > b.length) return null;
    const len = b.readUInt32LE(p);
    const e = p + 4 + len;
    if (e > b.length) return null;
    const entry = tryFastDecode(info, b, p + 4, e) as unknown as PagemapEntry | null;
    if (!entry) return null;
    entries.push(entry);
    p = e;
  }
  return { head, entries };
}

/** a varint of a non-negative number below 2^53 at b[o]; the offset past it */
function putVarint(b: Buffer, o: number, v: number): number {
  while (v > 0x7f) {
    b[o++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[o++] = v;
  return o;
}

/**
 * The entries of a pagemap (2000 and more: one per run of pages) framed in one loop, each as
 * the encoder would write it (fields in number order, the optional ones only when given); null
 * where one is out of the ordinary (a bigint beyond 2^53, a field of another type): those go
 * through the encoder, which checks and names what is wrong.
 */
function framePagemapEntries(entries: PagemapEntry[]): Buffer | null {
  const b = Buffer.allocUnsafe(entries.length * 48);
  let o = 0;
  for (const e of entries) {
    const vaddr = typeof e.vaddr === 'bigint' && e.vaddr <= BigInt(Number.MAX_SAFE_INTEGER) && e.vaddr >= 0n ? Number(e.vaddr) : -1;
    const n = e.compat_nr_pages;
    const nr =
      e.nr_pages === undefined
        ? undefined
        : typeof e.nr_pages === 'bigint' && e.nr_pages >= 0n && e.nr_pages <= BigInt(Number.MAX_SAFE_INTEGER)
          ? Number(e.nr_pages)
          : -1;
    const ok32 = (x: unknown): boolean => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
    if (
      (e as { [UNKNOWN_FIELDS]?: unknown })[UNKNOWN_FIELDS] ||
      vaddr < 0 ||
      !ok32(n) ||
      (e.flags !== undefined && !ok32(e.flags)) ||
      nr === -1 ||
      (e.in_parent !== undefined && typeof e.in_parent !== 'boolean')
    )
      return null;
    const at = o;
    o += 4;
    b[o++] = 0x08;
    o = putVarint(b, o, vaddr);
    b[o++] = 0x10;
    o = putVarint(b, o, n);
    if (e.in_parent !== undefined) {
      b[o++] = 0x18;
      b[o++] = e.in_parent ? 1 : 0;
    }
    if (e.flags !== undefined) {
      b[o++] = 0x20;
      o = putVarint(b, o, e.flags);
    }
    if (nr !== undefined) {
      b[o++] = 0x28;
      o = putVarint(b, o, nr);
    }
    b.writeUInt32LE(o - at - 4, at);
  }
  return b.subarray(0, o);
}
