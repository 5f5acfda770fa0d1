// Reading and writing CRIU image files.
//
// Layout: [IMG_COMMON or IMG_SERVICE magic] type magic, then entries; each entry
// is a u32 little-endian length, that many bytes of one protobuf message, and for
// some image types a raw payload whose size the message tells (see magic.ts).
// inventory.img has its type magic only.
import fs from 'node:fs';
import path from 'node:path';
import { writeAll } from '../sys/io.js';
import { decodeMessage, encodeFramed, type Message } from './codec.js';
import { ImageError, ProtoError } from './errors.js';
import { CriuError } from '../errors.js';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, INVENTORY_MAGIC, kindByMagic, kindByName, kindForFileName, type ImageKind } from './magic.js';

/** One entry of an image file. */
export interface ImageEntry<T = Message> {
  /** protobuf message name of `msg` (e.g. "pagemap_entry"). */
  type: string;
  msg: T;
  /**
   * Raw bytes that follow the message in the file, exactly as stored (padding
   * included): pipe data, socket queue, TCP queues (in then out), ghost file
   * contents, SysV IPC data ... Undefined for types without a payload.
   */
  blob?: Buffer;
  /** File offset of the entry's length word (reader only). */
  offset?: number;
}

export interface OpenImageOptions {
  /** Fail unless the file is of this kind (crit name such as "CORE"). */
  expect?: string;
  /** Name used in error messages (default: the path). */
  name?: string;
}

// ---------------------------------------------------------------- sources

interface Source {
  readonly size: number;
  /** Bytes [pos, pos+len) or fewer at end of data; valid until the next call. */
  read(pos: number, len: number): Buffer;
  close(): void;
}

class BufferSource implements Source {
  constructor(private readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  read(pos: number, len: number): Buffer {
    return this.buf.subarray(pos, Math.min(this.buf.length, pos + len));
  }
  close(): void {}
}

class FileSource implements Source {
  readonly size: number;
  private cache = Buffer.alloc(0);
  private cacheAt = 0;
  private fd: number | undefined;
  constructor(file: string) {
    this.fd = fs.openSync(file, 'r');
    try {
      const st = fs.fstatSync(this.fd);
      if (st.isDirectory()) throw new ImageError('is a directory', file);
      this.size = st.size;
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }
  read(pos: number, len: number): Buffer {
    if (this.fd === undefined) throw new CriuError('image file is closed');
    len = Math.max(0, Math.min(len, this.size - pos));
    if (pos >= this.cacheAt && pos + len <= this.cacheAt + this.cache.length) {
      return this.cache.subarray(pos - this.cacheAt, pos - this.cacheAt + len);
    }
    const want = Math.max(len, 64 * 1024);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = fs.readSync(this.fd, buf, got, want - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    this.cache = buf.subarray(0, got);
    this.cacheAt = pos;
    return this.cache.subarray(0, Math.min(len, got));
  }
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

// ---------------------------------------------------------------- payload sizes

function roundUp(x: number, y: number): number {
  return Math.ceil(x / y) * y;
}

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0;
}

/**
 * Size of the raw payload following `msg` for fixed-size payload kinds (everything but
 * 'msg', whose size depends on the payload itself). Exported for writers that need it.
 */
export function payloadSize(kind: ImageKind, msg: Message): number {
  switch (kind.extra) {
    case 'pipe':
      return num(msg.bytes);
    case 'skq':
      return num(msg.length);
    case 'tcp':
      return num(msg.inq_len) + num(msg.outq_len);
    case 'bpf':
      return num(msg.keys_bytes) + num(msg.values_bytes);
    case 'sem':
      return roundUp(2 * num(msg.nsems), 8);
    case 'shm':
      return msg.in_pagemaps ? 0 : roundUp(num(msg.size), 4);
    default:
      return 0;
  }
}

/** The field(s) of an entry that give the size of its payload, for errors. */
const PAYLOAD_FIELD: Record<string, string> = {
  pipe: 'bytes',
  skq: 'length',
  tcp: 'inq_len + outq_len',
  bpf: 'keys_bytes + values_bytes',
  sem: 'nsems',
  shm: 'size',
  msg: 'qnum',
};

/** Message type of the entry at position `index` of an image of this kind. */
export function entryType(kind: ImageKind, index: number): string {
  if (!kind.message) throw new ImageError(`${kind.name} images have no protobuf entries`);
  if (index > 0 && kind.layout === 'pagemap') return 'pagemap_entry';
  if (index > 0 && kind.layout === 'ghost') return 'ghost_chunk_entry';
  return kind.message;
}

// ---------------------------------------------------------------- reader

/** Streaming reader: entries are decoded one at a time, the file is read in 64 KiB windows. */
export class ImageReader implements IterableIterator<ImageEntry> {
  readonly name: string;
  readonly kind: ImageKind;
  /** The type magic found in the file. */
  readonly magic: number;
  /** Size of the header (4 or 8 bytes). */
  readonly headerSize: number;
  private pos: number;
  private index = 0;
  private ghostChunks = false;
  private done = false;

  private constructor(
    private readonly src: Source,
    name: string,
    expect?: string,
  ) {
    this.name = name;
    const size = src.size;
    if (size < 4) {
      src.close();
      throw new ImageError(size === 0 ? 'empty file, not an image' : `file too short for an image header (${size} bytes)`, name, 0);
    }
    let magic = src.read(0, 4).readUInt32LE(0);
    let hdr = 4;
    if (magic === IMG_COMMON_MAGIC || magic === IMG_SERVICE_MAGIC) {
      if (size < 8) {
        src.close();
        throw new ImageError(`file too short for an image header (${size} bytes)`, name, 0);
      }
      magic = src.read(4, 4).readUInt32LE(0);
      hdr = 8;
    }
    const kind = kindByMagic(magic);
    if (!kind || !kind.message) {
      src.close();
      const where = hdr === 8 ? 4 : 0;
      const hint = hdr === 8 ? '' : ' (not a CRIU image, or a raw one such as pages-N.img)';
      throw new ImageError(`unknown magic 0x${magic.toString(16).padStart(8, '0')}${hint}`, name, where);
    }
    if (expect && kind.name !== expect) {
      src.close();
      throw new ImageError(`wrong magic: this is a ${kind.name} image, expected ${expect}`, name, hdr - 4);
    }
    this.kind = kind;
    this.magic = magic;
    this.headerSize = hdr;
    this.pos = hdr;
  }

  /** Opens an image file; throws ImageError if it is not a protobuf image. */
  static open(file: string, opts: OpenImageOptions = {}): ImageReader {
    let src: Source;
    const name = opts.name ?? file;
    try {
      src = new FileSource(file);
    } catch (e) {
      if (e instanceof ImageError) throw e;
      const err = e as NodeJS.ErrnoException;
      throw new ImageError(err.code === 'ENOENT' ? 'no such file' : err.message, name);
    }
    return new ImageReader(src, name, opts.expect);
  }

  /** Reads an image held in memory. */
  static fromBuffer(buf: Buffer, opts: OpenImageOptions = {}): ImageReader {
    return new ImageReader(new BufferSource(buf), opts.name ?? '<buffer>', opts.expect);
  }

  /** File offset of the next entry. */
  get offset(): number {
    return this.pos;
  }

  private fail(msg: string, at: number): never {
    this.close();
    throw new ImageError(msg, this.name, at);
  }

  private bytes(at: number, len: number, what: string): Buffer {
    const b = this.src.read(at, len);
    if (b.length < len) this.fail(`truncated ${what}: needs ${len} bytes, only ${b.length} left`, at);
    return b;
  }

  /** The next entry, or undefined at the end of the file. */
  readEntry(): ImageEntry | undefined {
    if (this.done) return undefined;
    const size = this.src.size;
    const at = this.pos;
    if (at >= size) {
      this.close();
      return undefined;
    }
    const left = size - at;
    const ent = `entry ${this.index}`;
    if (left < 4) this.fail(`truncated entry: ${left} byte${left === 1 ? '' : 's'} where a 4-byte length should be (${ent})`, at);
    const len = this.src.read(at, 4).readUInt32LE(0);
    if (len > left - 4) this.fail(`entry length ${len} goes past the end of the file (${left - 4} bytes left) (${ent})`, at);
    const type = entryType(this.kind, this.index);
    const body = this.bytes(at + 4, len, `${ent}`);
    let msg: Message;
    try {
      msg = decodeMessage(type, body);
    } catch (e) {
      if (e instanceof ProtoError) {
        const where = [ent, e.field !== undefined ? `field ${e.field}` : '', e.pos !== undefined ? `byte ${e.pos} of the message` : '']
          .filter(Boolean)
          .join(', ');
        this.fail(`bad ${type} entry: ${e.message} (${where})`, at);
      }
      throw e;
    }
    let next = at + 4 + len;
    let blob: Buffer | undefined;
    if (this.kind.layout === 'ghost') {
      if (this.index === 0) {
        this.ghostChunks = !!msg.chunks;
        if (!this.ghostChunks) {
          blob = Buffer.from(this.bytes(next, size - next, `ghost file contents (${ent})`));
          next = size;
        }
      } else {
        const n = num(msg.len);
        blob = Buffer.from(this.bytes(next, n, `ghost chunk of ${n} bytes (${ent}, field len)`));
        next += n;
      }
    } else if (this.kind.extra === 'msg') {
      const start = next;
      const qnum = num(msg.qnum);
      for (let i = 0; i < qnum; i++) {
        const l = this.bytes(next, 4, `ipc message header (${ent}, message ${i} of qnum ${qnum})`).readUInt32LE(0);
        const mb = this.bytes(next + 4, l, `ipc message (${ent}, message ${i} of qnum ${qnum})`);
        let m: Message;
        try {
          m = decodeMessage('ipc_msg', mb);
        } catch (e) {
          if (e instanceof ProtoError) this.fail(`bad ipc_msg: ${e.message} (${ent}, message ${i})`, next);
          throw e;
        }
        next += 4 + l + roundUp(num(m.msize), 8);
      }
      blob = Buffer.from(this.bytes(start, next - start, `ipc message queue (${ent})`));
    } else if (this.kind.extra) {
      const n = payloadSize(this.kind, msg);
      if (this.kind.extra !== 'shm' || !msg.in_pagemaps) {
        blob = Buffer.from(this.bytes(next, n, `${type} payload of ${n} bytes (${ent}, field ${PAYLOAD_FIELD[this.kind.extra]})`));
      }
      next += n;
    }
    this.pos = next;
    this.index++;
    const entry: ImageEntry = { type, msg, offset: at };
    if (blob) entry.blob = blob;
    return entry;
  }

  next(): IteratorResult<ImageEntry> {
    const e = this.readEntry();
    return e ? { value: e, done: false } : { value: undefined, done: true };
  }

  [Symbol.iterator](): IterableIterator<ImageEntry> {
    return this;
  }

  /** Counts the remaining entries without keeping them. */
  count(): number {
    let n = 0;
    while (this.readEntry()) n++;
    return n;
  }

  close(): void {
    if (!this.done) {
      this.done = true;
      this.src.close();
    }
  }

  return(): IteratorResult<ImageEntry> {
    this.close();
    return { value: undefined, done: true };
  }
}

/** Opens an image for streaming: `for (const e of openImage(p)) ...`. */
export function openImage(file: string, opts: OpenImageOptions = {}): ImageReader {
  return ImageReader.open(file, opts);
}

export interface Image {
  kind: ImageKind;
  entries: ImageEntry[];
}

/** Reads a whole image file. */
export function readImage(file: string, opts: OpenImageOptions = {}): Image {
  const r = ImageReader.open(file, opts);
  return { kind: r.kind, entries: [...r] };
}

/** Parses a whole image held in memory. */
export function parseImage(buf: Buffer, opts: OpenImageOptions = {}): Image {
  const r = ImageReader.fromBuffer(buf, opts);
  return { kind: r.kind, entries: [...r] };
}

/** The messages of an image file (payloads dropped). */
export function readMessages<T = Message>(file: string, opts: OpenImageOptions = {}): T[] {
  return readImage(file, opts).entries.map((e) => e.msg as T);
}

/** The only (first) message of a single-entry image such as core-N, mm-N, fs-N, ids-N, inventory. */
export function readSingle<T = Message>(file: string, opts: OpenImageOptions = {}): T {
  const r = ImageReader.open(file, opts);
  try {
    const e = r.readEntry();
    if (!e) throw new ImageError('image has no entries', opts.name ?? file);
    return e.msg as T;
  } finally {
    r.close();
  }
}

// ---------------------------------------------------------------- writer

function header(kind: ImageKind): Buffer {
  if (kind.raw || !kind.message) throw new ImageError(`${kind.name} images have no protobuf entries`);
  if (kind.magic === INVENTORY_MAGIC) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(kind.magic, 0);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeUInt32LE(kind.service ? IMG_SERVICE_MAGIC : IMG_COMMON_MAGIC, 0);
  b.writeUInt32LE(kind.magic, 4);
  return b;
}

/** Serialises one entry: length word, message, payload. */
function entryBytes(kind: ImageKind, index: number, msg: object, blob: Buffer | undefined, type: string | undefined, where: string): Buffer[] {
  const t = type ?? entryType(kind, index);
  let framed: Buffer;
  try {
    framed = encodeFramed(t, msg);
  } catch (e) {
    if (e instanceof ProtoError) throw new ImageError(`cannot encode entry ${index}: ${e.message}`, where);
    throw e;
  }
  const parts = [framed];
  if (kind.extra && kind.extra !== 'msg') {
    const want = payloadSize(kind, msg as Message);
    const have = blob?.length ?? 0;
    if (have !== want) throw new ImageError(`entry ${index} (${t}) needs a payload of ${want} bytes, got ${have}`, where);
  }
  if (blob && blob.length) {
    if (!kind.extra && kind.layout !== 'ghost') throw new ImageError(`entry ${index}: ${kind.name} entries carry no payload`, where);
    parts.push(blob);
  }
  return parts;
}

/** Serialises a whole image (header and entries) into one buffer. */
export function encodeImage(kind: ImageKind | string, entries: ReadonlyArray<ImageEntry | { msg: object; blob?: Buffer; type?: string }>): Buffer {
  const k = typeof kind === 'string' ? kindByName(kind) : kind;
  if (!k) throw new ImageError(`unknown image type ${String(kind)}`);
  const parts: Buffer[] = [header(k)];
  entries.forEach((e, i) => parts.push(...entryBytes(k, i, e.msg, e.blob, e.type, k.name)));
  return Buffer.concat(parts);
}

export interface ImageWriterOptions {
  /** Image kind (crit name such as "CORE"); by default chosen from the file name. */
  kind?: string;
  /** File mode for a new file (default 0o600, as CRIU). */
  mode?: number;
}

/** Buffered writer of one image file. */
export class ImageWriter {
  readonly kind: ImageKind;
  readonly path: string;
  private fd: number | undefined;
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  private index = 0;

  private constructor(file: string, kind: ImageKind, mode: number) {
    this.path = file;
    this.kind = kind;
    const hdr = header(kind);
    try {
      this.fd = fs.openSync(file, 'w', mode);
    } catch (e) {
      throw new ImageError((e as Error).message, file);
    }
    this.push(hdr);
  }

  /** Creates (truncates) `file`; the kind comes from its name unless given. */
  static create(file: string, opts: ImageWriterOptions = {}): ImageWriter {
    const kind = opts.kind ? kindByName(opts.kind) : kindForFileName(path.basename(file));
    if (!kind) {
      throw new ImageError(opts.kind ? `unknown image type ${opts.kind}` : 'cannot tell the image type from the file name', file);
    }
    return new ImageWriter(file, kind, opts.mode ?? 0o600);
  }

  private push(b: Buffer): void {
    if (this.fd === undefined) throw new ImageError('image writer is closed', this.path);
    if (b.length > this.buf.length - this.len) this.flush();
    if (b.length >= this.buf.length) {
      this.writeAll(b);
      return;
    }
    b.copy(this.buf, this.len);
    this.len += b.length;
  }

  private writeAll(b: Buffer): void {
    writeAll(this.fd!, b);
  }

  /** Writes buffered bytes to the file. */
  flush(): void {
    if (this.fd === undefined || this.len === 0) return;
    this.writeAll(this.buf.subarray(0, this.len));
    this.len = 0;
  }

  /**
   * Appends an entry. The message type follows from the image kind and the entry's
   * position (pagemap_head first, then pagemap_entry, ...) unless `type` is given.
   * `blob` is the raw payload for kinds that have one; its size must match the message.
   */
  write(msg: object, blob?: Buffer, type?: string): void {
    for (const p of entryBytes(this.kind, this.index, msg, blob, type, this.path)) this.push(p);
    this.index++;
  }

  /** `count` entries already framed (a length word, then the message, each), as write() makes them */
  writeFramed(framed: Buffer, count: number): void {
    this.push(framed);
    this.index += count;
  }

  /** Appends an entry as returned by the reader. */
  writeEntry(e: { msg: object; blob?: Buffer; type?: string }): void {
    this.write(e.msg, e.blob, e.type);
  }

  /** Number of entries written so far. */
  get count(): number {
    return this.index;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/**
 * Writes `entries` as dir/fileName (kind chosen by the name, e.g. core-1.img -> CORE).
 * `entries` are messages; payloads (pipe data, ...) go in `opts.blobs` at the same index.
 * Returns the path written.
 */
export function writeImage(
  dir: string,
  fileName: string,
  entries: ReadonlyArray<object>,
  opts: ImageWriterOptions & { blobs?: ReadonlyArray<Buffer | undefined> } = {},
): string {
  const file = path.join(dir, fileName);
  const w = ImageWriter.create(file, opts);
  try {
    entries.forEach((e, i) => w.write(e, opts.blobs?.[i]));
  } finally {
    w.close();
  }
  return file;
}

/** Writes entries as returned by readImage() (keeping types and payloads). */
export function writeImageEntries(
  file: string,
  image: { kind: ImageKind | string; entries: ReadonlyArray<{ msg: object; blob?: Buffer; type?: string }> },
  opts: { mode?: number } = {},
): void {
  const kind = typeof image.kind === 'string' ? image.kind : image.kind.name;
  const w = ImageWriter.create(file, { kind, mode: opts.mode });
  try {
    for (const e of image.entries) w.writeEntry(e);
  } finally {
    w.close();
  }
}
