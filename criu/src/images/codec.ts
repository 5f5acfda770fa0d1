// A small proto2 codec driven by the generated schema.
//
// Decoded messages are plain objects: 64-bit integers as bigint, 32-bit ones as
// number, bytes as Buffer, enums as number, nested messages as objects and
// repeated fields as arrays (always present, [] when absent on the wire).
// Absent optional fields are left undefined. Fields we do not know are kept,
// verbatim, under a non-enumerable symbol so that encoding gives back the same
// bytes and so that tests can find them (unknownFields()).
//
// Encoding writes fields in field-number order, then any kept unknown fields,
// which is the order protobuf-c (CRIU) uses.
import { ProtoError } from './errors.js';
import type { MessageName, MessageTypes } from './gen/types.js';
import { enumInfo, messageInfo, type FieldInfo, type MessageInfo } from './schema.js';
import { tryFastDecode } from './fast-decode.js';

export const UNKNOWN_FIELDS: unique symbol = Symbol.for('criu-ts.images.unknown-fields');

export interface UnknownField {
  /** Field number. */
  id: number;
  /** Wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
  wire: number;
  /** Tag and payload bytes exactly as read. */
  raw: Buffer;
}

export type Message = Record<string, unknown>;

const MAX_DEPTH = 64;

// ---------------------------------------------------------------- decoding

class Cursor {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** Reads a varint; small values as number, larger ones as bigint. */
  varint(): number | bigint {
    const b = this.buf;
    let p = this.pos;
    let n = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (p >= this.end) throw new ProtoError('truncated varint', p);
      const c = b[p++];
      n |= (c & 0x7f) << shift;
      if (c < 0x80) {
        this.pos = p;
        return n >>> 0;
      }
    }
    // Slow path: more than 4 bytes.
    let v = BigInt(n >>> 0);
    for (let shift = 28n; ; shift += 7n) {
      if (shift > 63n) throw new ProtoError('varint longer than 10 bytes', this.pos);
      if (p >= this.end) throw new ProtoError('truncated varint', p);
      const c = b[p++];
      v |= BigInt(c & 0x7f) << shift;
      if (c < 0x80) break;
    }
    this.pos = p;
    return BigInt.asUintN(64, v);
  }

  u32(): number {
    const v = this.varint();
    return typeof v === 'number' ? v : Number(BigInt.asUintN(32, v));
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new ProtoError(`field of ${n} bytes goes past the end of the message`, this.pos);
    this.pos += n;
  }
}

function varintToField(f: FieldInfo, v: number | bigint): unknown {
  switch (f.type) {
    case 'uint32':
      return typeof v === 'number' ? v : Number(BigInt.asUintN(32, v));
    case 'int32':
    case 'enum':
      return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
    case 'sint32': {
      const n = typeof v === 'number' ? v : Number(BigInt.asUintN(32, v));
      return (n >>> 1) ^ -(n & 1);
    }
    case 'uint64':
      return BigInt(v);
    case 'int64':
      return BigInt.asIntN(64, BigInt(v));
    case 'sint64': {
      const b = BigInt(v);
      return (b >> 1n) ^ -(b & 1n);
    }
    case 'bool':
      return typeof v === 'number' ? v !== 0 : v !== 0n;
    default:
      throw new ProtoError(`field ${f.name}: varint for a ${f.type} field`);
  }
}

function readScalar(c: Cursor, f: FieldInfo, wire: number): unknown {
  const b = c.buf;
  switch (wire) {
    case 0:
      return varintToField(f, c.varint());
    case 1: {
      const p = c.pos;
      c.skip(8);
      if (f.type === 'fixed64') return b.readBigUInt64LE(p);
      if (f.type === 'sfixed64') return b.readBigInt64LE(p);
      return b.readDoubleLE(p);
    }
    case 5: {
      const p = c.pos;
      c.skip(4);
      if (f.type === 'fixed32') return b.readUInt32LE(p);
      if (f.type === 'sfixed32') return b.readInt32LE(p);
      return b.readFloatLE(p);
    }
    default:
      throw new ProtoError(`field ${f.name}: bad wire type ${wire}`);
  }
}

function expectedWire(f: FieldInfo): number {
  if (f.type === 'double' || f.type === 'fixed64' || f.type === 'sfixed64') return 1;
  if (f.type === 'float' || f.type === 'fixed32' || f.type === 'sfixed32') return 5;
  if (f.type === 'string' || f.type === 'bytes' || f.type === 'message') return 2;
  return 0;
}

function decodeInto(info: MessageInfo, buf: Buffer, start: number, end: number, depth: number): Message {
  if (depth > MAX_DEPTH) throw new ProtoError('messages nested too deeply', start);
  const out: Message = {};
  for (const f of info.fields) if (f.label === 'repeated') out[f.name] = [];
  let unknown: UnknownField[] | undefined;
  const c = new Cursor(buf, start, end);
  // the field being read, for the error's path (set once its tag is known)
  let cur: FieldInfo | undefined;
  try {
    while (c.pos < end) {
      cur = undefined;
      const tagPos = c.pos;
      const tag = c.varint();
      const t = typeof tag === 'number' ? tag : Number(tag & 0xffffffffn);
      if (typeof tag !== 'number' && tag > 0xffffffffn) throw new ProtoError('field tag out of range', tagPos);
      const id = t >>> 3;
      const wire = t & 7;
      if (id === 0) throw new ProtoError(`invalid field number 0 in ${info.name}`, tagPos);
      const f = info.byId.get(id);
      cur = f;
      if (wire !== 0 && wire !== 1 && wire !== 2 && wire !== 5) {
        throw new ProtoError(`invalid wire type ${wire} for field ${id} of ${info.name}`, tagPos);
      }
      if (!f) {
        skipField(c, wire, id, info.name, tagPos);
        (unknown ??= []).push({ id, wire, raw: Buffer.from(buf.subarray(tagPos, c.pos)) });
        continue;
      }
      const want = expectedWire(f);
      if (wire === want) {
        let value: unknown;
        if (wire === 2) {
          const len = c.u32();
          const p = c.pos;
          c.skip(len);
          if (f.type === 'message') value = decodeInto(messageInfo(f.ref!), buf, p, p + len, depth + 1);
          else if (f.type === 'string') value = buf.toString('utf8', p, p + len);
          else value = Buffer.from(buf.subarray(p, p + len));
        } else {
          value = readScalar(c, f, wire);
        }
        if (f.label === 'repeated') (out[f.name] as unknown[]).push(value);
        else out[f.name] = value;
      } else if (wire === 2 && f.label === 'repeated' && want !== 2) {
        // packed repeated scalars
        const len = c.u32();
        const p = c.pos;
        c.skip(len);
        const sub = new Cursor(buf, p, p + len);
        const arr = out[f.name] as unknown[];
        while (sub.pos < sub.end) arr.push(readScalar(sub, f, want));
      } else {
        throw new ProtoError(`${info.name}.${f.name}: wire type ${wire}, expected ${want}`, tagPos);
      }
    }
  } catch (e) {
    if (e instanceof ProtoError && cur) {
      const n = cur.label === 'repeated' ? (out[cur.name] as unknown[]).length : -1;
      e.path.unshift(n >= 0 ? `${cur.name}[${n}]` : cur.name);
    }
    throw e;
  }
  for (const f of info.required) {
    if (out[f.name] === undefined) throw new ProtoError(`${info.name}: missing required field ${f.name}`);
  }
  if (unknown) Object.defineProperty(out, UNKNOWN_FIELDS, { value: unknown, enumerable: false, writable: true, configurable: true });
  return out;
}

function skipField(c: Cursor, wire: number, id: number, type: string, pos: number): void {
  switch (wire) {
    case 0:
      c.varint();
      return;
    case 1:
      c.skip(8);
      return;
    case 2:
      c.skip(c.u32());
      return;
    case 5:
      c.skip(4);
      return;
    default:
      throw new ProtoError(`invalid wire type ${wire} for field ${id} of ${type}`, pos);
  }
}

/** decodeMessage without the fast path (fast-decode.ts): what the fast path must agree with */
export function decodeCarefully<T = Message>(type: string, buf: Buffer, start = 0, end = buf.length): T {
  return decodeInto(messageInfo(type), buf, start, end, 0) as T;
}

/** Decodes one protobuf message of the named type from buf[start, end). */
export function decodeMessage<T = Message>(type: string, buf: Buffer, start = 0, end = buf.length): T {
  const info = messageInfo(type);
  return (tryFastDecode(info, buf, start, end) ?? decodeInto(info, buf, start, end, 0)) as T;
}

// ---------------------------------------------------------------- encoding

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

class Out {
  buf: Buffer;
  len = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }
  varint(v: number | bigint): void {
    this.room(10);
    // a bigint that fits a double exactly (addresses, sizes) goes the number way: cheaper
    if (typeof v === 'bigint' && v >= 0n && v <= MAX_SAFE) v = Number(v);
    if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      while (v > 0xffffffff) {
        this.buf[this.len++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      while (v > 0x7f) {
        this.buf[this.len++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.len++] = v;
      return;
    }
    let b = BigInt.asUintN(64, BigInt(v));
    while (b > 0x7fn) {
      this.buf[this.len++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.len++] = Number(b);
  }
  /** N bytes kept at the end, filled later; returns where they are */
  reserve(n: number): number {
    this.room(n);
    const at = this.len;
    this.len += n;
    return at;
  }
  /** the length of what follows the byte kept at AT, as a varint there (moving it up where it takes more than one byte) */
  putLength(at: number): void {
    const n = this.len - at - 1;
    let extra = 0;
    for (let x = n; x > 0x7f; x >>>= 7) extra++;
    if (extra) {
      this.room(extra);
      this.buf.copy(this.buf, at + 1 + extra, at + 1, this.len);
      this.len += extra;
    }
    let x = n,
      p = at;
    while (x > 0x7f) {
      this.buf[p++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[p] = x;
  }
  bytes(src: Buffer): void {
    this.room(src.length);
    src.copy(this.buf, this.len);
    this.len += src.length;
  }
  fixed32(f: FieldInfo, v: number): void {
    this.room(4);
    if (f.type === 'float') this.buf.writeFloatLE(v, this.len);
    else if (f.type === 'sfixed32') this.buf.writeInt32LE(v, this.len);
    else this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  fixed64(f: FieldInfo, v: number | bigint): void {
    this.room(8);
    if (f.type === 'double') this.buf.writeDoubleLE(Number(v), this.len);
    else if (f.type === 'sfixed64') this.buf.writeBigInt64LE(BigInt(v), this.len);
    else this.buf.writeBigUInt64LE(BigInt(v), this.len);
    this.len += 8;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

const RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  enum: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Number bounds of each integer type; 64-bit ones are checked exactly on bigints. */
const NUM_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  enum: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
  int64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
};

/** Where a field is, for errors only (built when one is thrown). */
const at = (path: string, f: FieldInfo, idx: number): string => `${path}.${f.name}${idx >= 0 ? `[${idx}]` : ''}`;

function checkInt(f: FieldInfo, v: unknown, path: string, idx: number): bigint | number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ProtoError(`${at(path, f, idx)}: ${v} is not an integer`);
    const n = NUM_RANGES[f.type];
    if (!n || (v >= n[0] && v <= n[1])) return v;
  } else if (typeof v !== 'bigint') {
    throw new ProtoError(`${at(path, f, idx)}: expected an integer, got ${typeof v}`);
  }
  const r = RANGES[f.type];
  const b = typeof v === 'bigint' ? v : BigInt(v);
  if (r && (b < r[0] || b > r[1])) throw new ProtoError(`${at(path, f, idx)}: ${b} is out of range for ${f.type}`);
  return v as number | bigint;
}

function writeValue(o: Out, f: FieldInfo, v: unknown, path: string, idx: number, depth: number): void {
  switch (f.type) {
    case 'message': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ProtoError(`${at(path, f, idx)}: expected a ${f.ref} object`);
      // in place: one byte kept for the length (most sub-messages are shorter than 128 bytes),
      // the fields moved up when the length takes more
      const lenAt = o.reserve(1);
      encodeFields(o, messageInfo(f.ref!), v as Message, at(path, f, idx), depth + 1);
      o.putLength(lenAt);
      return;
    }
    case 'string': {
      if (typeof v !== 'string') throw new ProtoError(`${at(path, f, idx)}: expected a string`);
      const b = Buffer.from(v, 'utf8');
      o.varint(b.length);
      o.bytes(b);
      return;
    }
    case 'bytes': {
      if (!(v instanceof Uint8Array)) throw new ProtoError(`${at(path, f, idx)}: expected a Buffer`);
      const b = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      o.varint(b.length);
      o.bytes(b);
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw new ProtoError(`${at(path, f, idx)}: expected a boolean`);
      o.varint(v ? 1 : 0);
      return;
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw new ProtoError(`${at(path, f, idx)}: expected a number`);
      if (f.type === 'double') o.fixed64(f, v);
      else o.fixed32(f, v);
      return;
    case 'fixed32':
    case 'sfixed32':
      o.fixed32(f, Number(checkInt(f, v, path, idx)));
      return;
    case 'fixed64':
    case 'sfixed64':
      o.fixed64(f, checkInt(f, v, path, idx));
      return;
    case 'sint32': {
      const n = Number(checkInt(f, v, path, idx));
      o.varint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case 'sint64': {
      const b = BigInt(checkInt(f, v, path, idx));
      o.varint(BigInt.asUintN(64, (b << 1n) ^ (b >> 63n)));
      return;
    }
    default:
      // int32, uint32, enum, int64, uint64: negative values take 10 bytes
      o.varint(checkInt(f, v, path, idx));
  }
}

function encodeInto(info: MessageInfo, msg: Message, path: string, depth: number): Buffer {
  const o = new Out();
  encodeFields(o, info, msg, path, depth);
  return Buffer.from(o.result());
}

/** The fields of MSG appended to O. */
function encodeFields(o: Out, info: MessageInfo, msg: Message, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new ProtoError(`${path}: messages nested too deeply`);
  for (const f of info.fields) {
    const v = msg[f.name];
    if (v === undefined || v === null) {
      if (f.label === 'required') throw new ProtoError(`${path}: missing required field ${f.name}`);
      continue;
    }
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) throw new ProtoError(`${at(path, f, -1)}: expected an array`);
      if (f.packed && v.length > 0) {
        const sub = new Out();
        for (let i = 0; i < v.length; i++) writeValue(sub, f, v[i], path, i, depth);
        const b = sub.result();
        o.varint((f.id << 3) | 2);
        o.varint(b.length);
        o.bytes(b);
      } else {
        const key = ((f.id << 3) | f.wire) >>> 0;
        for (let i = 0; i < v.length; i++) {
          o.varint(key);
          writeValue(o, f, v[i], path, i, depth);
        }
      }
    } else {
      o.varint(((f.id << 3) | f.wire) >>> 0);
      writeValue(o, f, v, path, -1, depth);
    }
  }
  const unknown = (msg as { [UNKNOWN_FIELDS]?: UnknownField[] })[UNKNOWN_FIELDS];
  if (unknown) for (const u of unknown) o.bytes(u.raw);
}

/** Encodes a message of the named type. Throws ProtoError for bad or missing values. */
export function encodeMessage(type: string, msg: object): Buffer {
  return encodeInto(messageInfo(type), msg as Message, type, 0);
}

/** one Out for every framed message: an entry is copied out of it once */
const framing = new Out(64 * 1024);

/** A message of the named type after its length as a 32-bit little-endian word (an image entry), in one buffer. */
export function encodeFramed(type: string, msg: object): Buffer {
  const o = framing;
  o.len = 0;
  o.reserve(4);
  encodeFields(o, messageInfo(type), msg as Message, type, 0);
  o.buf.writeUInt32LE(o.len - 4, 0);
  return Buffer.from(o.result());
}

/**
 * Lists the fields of a decoded message (and of its nested messages) that the
 * schema does not know, as paths such as "core_entry.tc#42", and enum values
 * outside their enum ("file_entry.type=99"). Empty when everything is known.
 */
export function unknownFields(type: string, msg: object, path: string = type): string[] {
  const found: string[] = [];
  const info = messageInfo(type);
  const m = msg as Message & { [UNKNOWN_FIELDS]?: UnknownField[] };
  for (const u of m[UNKNOWN_FIELDS] ?? []) found.push(`${path}#${u.id}`);
  for (const f of info.fields) {
    const v = m[f.name];
    if (f.type === 'enum' && v !== undefined) {
      const e = enumInfo(f.ref!);
      for (const x of Array.isArray(v) ? v : [v]) if (!e.byValue.has(x as number)) found.push(`${path}.${f.name}=${x}`);
    }
    if (f.type !== 'message') continue;
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x, i) => found.push(...unknownFields(f.ref!, x as object, `${path}.${f.name}[${i}]`)));
    else found.push(...unknownFields(f.ref!, v as object, `${path}.${f.name}`));
  }
  return found;
}

/** Typed form of decodeMessage: decodeEntry('core_entry', buf) is a CoreEntry. */
export function decodeEntry<K extends MessageName>(type: K, buf: Buffer, start = 0, end = buf.length): MessageTypes[K] {
  const info = messageInfo(type);
  return (tryFastDecode(info, buf, start, end) ?? decodeInto(info, buf, start, end, 0)) as unknown as MessageTypes[K];
}

/** Typed form of encodeMessage: the compiler checks required fields and value types. */
export function encodeEntry<K extends MessageName>(type: K, msg: MessageTypes[K]): Buffer {
  return encodeMessage(type, msg);
}
