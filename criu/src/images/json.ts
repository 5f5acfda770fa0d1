// crit's JSON form of images, as CRIU's pycriu writes and reads it.
//
// { "magic": "CORE", "entries": [ {field: value, ...}, ... ] }
// - keys are the proto field names, in field-number order, only fields present;
// - enums by name, bytes as base64 (76-column lines, each ending in "\n"),
//   unix socket names (conv "unix_name") as quoted-printable;
// - with `pretty`, (criu) options apply: hex -> "0x..." (inherited by nested
//   messages), flags -> "A | B", dev -> "major:minor", dict -> names,
//   ipadd -> ["10.0.0.1"];
// - payloads that follow an entry appear as its "extra" key.
// Integers are carried as number or bigint and printed exactly.
import { decodeMessage, encodeMessage, type Message } from './codec.js';
import { ImageError } from './errors.js';
import { encodeImage, entryType, payloadSize, ImageReader, type ImageEntry } from './image.js';
import { kindByName, type ImageKind } from './magic.js';
import { escapeString, stringifyJson, parseJson, type JsonValue, type JsonObject } from './json/text.js';
import { base64Lines, formatFlags, fromBase64 } from './json/flags.js';
import { messageToDict, dictToMessage } from './json/convert.js';

export { stringifyJson, parseJson, formatFlags, base64Lines, messageToDict, dictToMessage, type JsonValue, type JsonObject };

// ---------------------------------------------------------------- whole images

function humanReadable(n: number): string {
  let num = n;
  for (const unit of ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z']) {
    if (num < 1024) return Number.isInteger(num) ? `${Math.trunc(num)}${unit}B` : `${num.toFixed(1)}${unit}B`;
    num /= 1024;
  }
  return `${num.toFixed(1)}YB`;
}

function num(v: unknown): number {
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0;
}

function extraOut(kind: ImageKind, e: ImageEntry, nopl: boolean): JsonValue | undefined {
  const blob = e.blob ?? Buffer.alloc(0);
  const m = e.msg;
  if (nopl) {
    let size: number;
    if (kind.extra === 'sem') size = 2 * num(m.nsems);
    else if (kind.extra === 'shm') size = num(m.size);
    else if (kind.extra === 'msg') {
      size = 0;
      let p = 0;
      while (p + 4 <= blob.length) {
        const l = blob.readUInt32LE(p);
        const im = decodeMessage('ipc_msg', blob, p + 4, p + 4 + l);
        size += l + num(im.msize);
        p += 4 + l + Math.ceil(num(im.msize) / 8) * 8;
      }
    } else size = blob.length;
    return `... <${humanReadable(size)}>`;
  }
  switch (kind.extra) {
    case 'pipe':
    case 'skq':
    case 'bpf':
      return base64Lines(blob);
    case 'tcp': {
      const inq = num(m.inq_len);
      return { inq: base64Lines(blob.subarray(0, inq)), outq: base64Lines(blob.subarray(inq)) };
    }
    case 'shm':
      if (m.in_pagemaps) return undefined;
      return base64Lines(blob.subarray(0, num(m.size)));
    case 'sem': {
      const out: JsonValue[] = [];
      for (let i = 0; i < num(m.nsems); i++) out.push(blob.readUInt16LE(i * 2));
      return out;
    }
    case 'msg': {
      const out: JsonValue[] = [];
      let p = 0;
      while (p + 4 <= blob.length) {
        const l = blob.readUInt32LE(p);
        const im = decodeMessage('ipc_msg', blob, p + 4, p + 4 + l);
        const size = num(im.msize);
        out.push(messageToDict('ipc_msg', im, false));
        out.push(base64Lines(blob.subarray(p + 4 + l, p + 4 + l + size)));
        p += 4 + l + Math.ceil(size / 8) * 8;
      }
      return out;
    }
    default:
      return undefined;
  }
}

export interface ToJsonOptions {
  /** crit --pretty / show: apply the (criu) formatting options. */
  pretty?: boolean;
  /** crit show --nopl: replace payloads by their size. */
  nopl?: boolean;
}

/** One entry (as read) to its JSON object, payload included. */
function entryToDict(kind: ImageKind, e: ImageEntry, i: number, pretty: boolean, nopl: boolean): JsonObject {
  let d: JsonObject;
  try {
    d = messageToDict(e.type, e.msg, pretty);
  } catch (err) {
    if (err instanceof ImageError) throw new ImageError(`entry ${i}: ${err.message}`, err.file);
    throw err;
  }
  if (kind.layout === 'ghost') {
    if (e.blob && !nopl) d.extra = base64Lines(e.blob);
  } else if (kind.extra) {
    const x = extraOut(kind, e, nopl);
    if (x !== undefined) d.extra = x;
  }
  return d;
}

/** An image (as read) to crit's JSON tree: { magic, entries }. */
export function imageToDict(kind: ImageKind, entries: Iterable<ImageEntry>, opts: ToJsonOptions = {}): JsonObject {
  const list: JsonValue[] = [];
  let i = 0;
  for (const e of entries) list.push(entryToDict(kind, e, i++, !!opts.pretty, !!opts.nopl));
  return { magic: kind.name, entries: list };
}

/**
 * The JSON text of imageToDict(), built one entry at a time: the pieces, joined, are exactly
 * stringifyJson(imageToDict(...), indent). Only the text is kept, never every entry's object,
 * so an image of many large entries (thousands of cores) decodes in bounded memory.
 */
export function imageToJsonPieces(kind: ImageKind, entries: Iterable<ImageEntry>, opts: ToJsonOptions = {}, indent?: number): string[] {
  const pad = (level: number): string => (indent === undefined ? '' : '\n' + ' '.repeat(indent * level));
  const sep = indent === undefined ? ', ' : ',';
  const out = [`{${pad(1)}"magic": ${escapeString(kind.name)}${sep}${pad(1)}"entries": `];
  let i = 0;
  for (const e of entries) {
    out.push(`${i ? sep : '['}${pad(2)}${stringifyJson(entryToDict(kind, e, i, !!opts.pretty, !!opts.nopl), indent, 2)}`);
    i++;
  }
  out.push(i ? `${pad(1)}]${pad(0)}}` : `[]${pad(0)}}`);
  return out;
}

/** crit decode: image bytes to JSON text (indent 4 when pretty, as crit). */
export function imageBytesToJson(buf: Buffer, opts: ToJsonOptions & { name?: string } = {}): string {
  const r = ImageReader.fromBuffer(buf, { name: opts.name });
  return imageToJsonPieces(r.kind, r, opts, opts.pretty ? 4 : undefined).join('');
}

function extraIn(kind: ImageKind, msg: Message, x: JsonValue | undefined, where: string): Buffer | undefined {
  if (x === undefined || x === null || x === '') {
    if (kind.extra && kind.extra !== 'msg' && payloadSize(kind, msg) > 0) throw new ImageError(`${where}: missing "extra" payload`);
    return undefined;
  }
  switch (kind.extra) {
    case 'pipe':
    case 'skq':
    case 'bpf':
      return fromBase64(x, `${where}.extra`);
    case 'tcp': {
      if (typeof x !== 'object' || Array.isArray(x)) throw new ImageError(`${where}.extra: expected {inq, outq}`);
      const o = x as JsonObject;
      return Buffer.concat([fromBase64(o.inq, `${where}.extra.inq`), fromBase64(o.outq, `${where}.extra.outq`)]);
    }
    case 'shm': {
      const size = num(msg.size);
      const data = fromBase64(x, `${where}.extra`).subarray(0, size);
      const out = Buffer.alloc(Math.ceil(size / 4) * 4);
      data.copy(out);
      return out;
    }
    case 'sem': {
      if (!Array.isArray(x)) throw new ImageError(`${where}.extra: expected a list of numbers`);
      const nsems = num(msg.nsems);
      if (x.length !== nsems) throw new ImageError(`${where}.extra: ${x.length} semaphores, nsems says ${nsems}`);
      const out = Buffer.alloc(Math.ceil((2 * nsems) / 8) * 8);
      x.forEach((v, i) => out.writeUInt16LE(Number(v) & 0xffff, i * 2));
      return out;
    }
    case 'msg': {
      if (!Array.isArray(x)) throw new ImageError(`${where}.extra: expected a list`);
      const parts: Buffer[] = [];
      for (let i = 0; i + 1 < x.length; i += 2) {
        const im = dictToMessage('ipc_msg', x[i] as JsonObject, `${where}.extra[${i}]`);
        const body = encodeMessage('ipc_msg', im);
        const len = Buffer.alloc(4);
        len.writeUInt32LE(body.length);
        const size = num(im.msize);
        const data = Buffer.alloc(Math.ceil(size / 8) * 8);
        fromBase64(x[i + 1], `${where}.extra[${i + 1}]`)
          .subarray(0, size)
          .copy(data);
        parts.push(len, body, data);
      }
      return Buffer.concat(parts);
    }
    default:
      throw new ImageError(`${where}: ${kind.name} entries have no "extra"`);
  }
}

/** crit's JSON tree back to an image: kind and entries (with payloads). */
export function dictToImage(tree: JsonValue): { kind: ImageKind; entries: ImageEntry[] } {
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) throw new ImageError('JSON image must be an object with "magic" and "entries"');
  const magic = tree.magic;
  if (typeof magic !== 'string') throw new ImageError('JSON image has no "magic" name');
  const kind = kindByName(magic);
  if (!kind || !kind.message) throw new ImageError(`unknown image magic ${JSON.stringify(magic)}`);
  const list = tree.entries;
  if (!Array.isArray(list)) throw new ImageError('JSON image has no "entries" list');
  const entries: ImageEntry[] = [];
  list.forEach((raw, i) => {
    const where = `entries[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ImageError(`${where}: expected an object`);
    const type = entryType(kind, i);
    const msg = dictToMessage(type, raw, where);
    let blob: Buffer | undefined;
    if (kind.layout === 'ghost') {
      const x = raw.extra;
      if (x !== undefined && x !== null) blob = fromBase64(x, `${where}.extra`);
    } else if (kind.extra) blob = extraIn(kind, msg, raw.extra, where);
    const e: ImageEntry = { type, msg };
    if (blob) e.blob = blob;
    entries.push(e);
  });
  return { kind, entries };
}

/** crit encode: JSON text to image bytes. */
export function jsonToImageBytes(text: string): Buffer {
  const img = dictToImage(parseJson(text));
  return encodeImage(img.kind, img.entries);
}
