// Typed access to image files: each reader and writer is keyed by the image kind's crit name
// and gives or takes the message type generated from proto/ for that kind (KIND_MESSAGE in
// magic.ts), so the engines never handle an untyped message.
import fs from 'node:fs';
import path from 'node:path';
import type { MessageTypes, PagemapHead, PagemapEntry, GhostFileEntry, GhostChunkEntry } from './gen/types.js';
import { ImageReader, ImageWriter, type ImageWriterOptions } from './image.js';
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
    for (const e of pm.entries) w.write(e);
  } finally {
    w.close();
  }
  return file;
}

/** A pagemap-N.img whose head may be missing (an empty file): the restore names that itself. */
export function readPagemapLoose(file: string, opts: ReadOptions = {}): { head?: PagemapHead; entries: PagemapEntry[] } {
  const r = open(file, 'PAGEMAP', opts);
  try {
    const all = [...r];
    return { head: all[0]?.msg as unknown as PagemapHead | undefined, entries: all.slice(1).map((e) => e.msg as unknown as PagemapEntry) };
  } finally {
    r.close();
  }
}
