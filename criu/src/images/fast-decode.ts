// The decoder's fast path: per message type a table from tag (field number and wire type) to
// what to do, built once, and a loop that reads well-formed messages of known fields only. It
// gives up (null) on anything else (an unknown field, a wire type other than the schema's, a
// truncated or over-long varint, a missing required field, deep nesting); codec.ts then decodes
// the message again the careful way, which keeps unknown fields and names the error. Both give
// the same objects (checked against each other and protobufjs in images.spec).
import type { Message } from './codec.js';
import { messageInfo, type MessageInfo } from './schema.js';

const MAX_DEPTH = 64;

/** what a field's value is made of */
const enum K {
  U32,
  I32,
  S32,
  U64,
  I64,
  S64,
  BOOL,
  FIXED64,
  SFIXED64,
  DOUBLE,
  FIXED32,
  SFIXED32,
  FLOAT,
  STRING,
  BYTES,
  MESSAGE,
}

const KIND: Record<string, K> = {
  uint32: K.U32,
  int32: K.I32,
  enum: K.I32,
  sint32: K.S32,
  uint64: K.U64,
  int64: K.I64,
  sint64: K.S64,
  bool: K.BOOL,
  fixed64: K.FIXED64,
  sfixed64: K.SFIXED64,
  double: K.DOUBLE,
  fixed32: K.FIXED32,
  sfixed32: K.SFIXED32,
  float: K.FLOAT,
  string: K.STRING,
  bytes: K.BYTES,
  message: K.MESSAGE,
};

interface Field {
  name: string;
  kind: K;
  repeated: boolean;
  /** wire type 2 on a repeated scalar: packed values */
  packed: boolean;
  /** the bit of a required field in the seen mask */
  bit: number;
  sub: Fast | null;
  ref: string | undefined;
}

interface Fast {
  byTag: (Field | undefined)[];
  repeated: string[];
  /** every required field's bit; -1: more than 30 required fields (the careful way checks) */
  required: number;
}

const fasts = new Map<MessageInfo, Fast>();

function wireOf(k: K): number {
  if (k === K.FIXED64 || k === K.SFIXED64 || k === K.DOUBLE) return 1;
  if (k === K.FIXED32 || k === K.SFIXED32 || k === K.FLOAT) return 5;
  if (k === K.STRING || k === K.BYTES || k === K.MESSAGE) return 2;
  return 0;
}

function fastOf(info: MessageInfo): Fast {
  let f = fasts.get(info);
  if (f) return f;
  f = { byTag: [], repeated: [], required: 0 };
  fasts.set(info, f);
  let bit = 0;
  for (const x of info.fields) {
    const kind = KIND[x.type];
    const req = x.label === 'required';
    const field: Field = { name: x.name, kind, repeated: x.label === 'repeated', packed: false, bit: req && bit < 30 ? 1 << bit : 0, sub: null, ref: x.ref };
    if (req) bit++;
    if (field.repeated) f.repeated.push(x.name);
    f.byTag[(x.id << 3) | wireOf(kind)] = field;
    if (field.repeated && wireOf(kind) !== 2) f.byTag[(x.id << 3) | 2] = { ...field, packed: true };
  }
  f.required = bit > 30 ? -1 : bit === 30 ? 0x3fffffff : (1 << bit) - 1;
  return f;
}

/** the end of the last varint read */
let at = 0;

/** A varint at p: a number below 2^49 (seven bytes: user addresses, sizes, counts) or a bigint, or -1 where it is truncated or too long. */
function varint(b: Buffer, p: number, end: number): number | bigint {
  let n = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (p >= end) return -1;
    const c = b[p++];
    n |= (c & 0x7f) << shift;
    if (c < 0x80) {
      at = p;
      return n >>> 0;
    }
  }
  // bytes 5 to 7 by multiplication, exact below 2^53
  let x = n >>> 0;
  for (let mul = 2 ** 28; mul <= 2 ** 42; mul *= 128) {
    if (p >= end) return -1;
    const c = b[p++];
    x += (c & 0x7f) * mul;
    if (c < 0x80) {
      at = p;
      return x;
    }
  }
  let v = BigInt(x);
  for (let shift = 49n; ; shift += 7n) {
    if (shift > 63n || p >= end) return -1;
    const c = b[p++];
    v |= BigInt(c & 0x7f) << shift;
    if (c < 0x80) break;
  }
  at = p;
  return BigInt.asUintN(64, v);
}

const TWO32 = 2 ** 32;

function fromVarint(k: K, v: number | bigint): unknown {
  switch (k) {
    case K.U32:
      return typeof v === 'number' ? (v < TWO32 ? v : v % TWO32) : Number(BigInt.asUintN(32, v));
    case K.I32:
      return typeof v === 'number' ? v | 0 : Number(BigInt.asIntN(32, v));
    case K.S32: {
      const n = typeof v === 'number' ? (v < TWO32 ? v : v % TWO32) : Number(BigInt.asUintN(32, v));
      return (n >>> 1) ^ -(n & 1);
    }
    case K.U64:
      return BigInt(v);
    case K.I64:
      return typeof v === 'number' ? BigInt(v) : BigInt.asIntN(64, v);
    case K.S64: {
      const b = BigInt(v);
      return (b >> 1n) ^ -(b & 1n);
    }
    default:
      return typeof v === 'number' ? v !== 0 : v !== 0n;
  }
}

/** A scalar of kind k at p (wire 0, 1 or 5), `at` set past it; undefined where it does not fit. */
function scalar(b: Buffer, p: number, end: number, k: K): unknown {
  if (k <= K.BOOL) {
    const v = varint(b, p, end);
    return v === -1 ? undefined : fromVarint(k, v);
  }
  const n = k <= K.DOUBLE ? 8 : 4;
  if (end - p < n) return undefined;
  at = p + n;
  switch (k) {
    case K.FIXED64:
      return b.readBigUInt64LE(p);
    case K.SFIXED64:
      return b.readBigInt64LE(p);
    case K.DOUBLE:
      return b.readDoubleLE(p);
    case K.FIXED32:
      return b.readUInt32LE(p);
    case K.SFIXED32:
      return b.readInt32LE(p);
    default:
      return b.readFloatLE(p);
  }
}

function decodeFast(fi: Fast, b: Buffer, p: number, end: number, depth: number): Message | null {
  if (depth > MAX_DEPTH || fi.required < 0) return null;
  const out: Message = {};
  for (const n of fi.repeated) out[n] = [];
  let seen = 0;
  while (p < end) {
    let t = b[p++];
    if (t >= 0x80) {
      if (p >= end || b[p] >= 0x80) return null;
      t = (t & 0x7f) | (b[p++] << 7);
    }
    const f = fi.byTag[t];
    if (f === undefined) return null;
    seen |= f.bit;
    let value: unknown;
    if ((t & 7) === 2) {
      const len = varint(b, p, end);
      if (typeof len !== 'number' || len < 0 || len > end - at) return null;
      p = at;
      const e = p + len;
      if (f.packed) {
        const arr = out[f.name] as unknown[];
        while (p < e) {
          const v = scalar(b, p, e, f.kind);
          if (v === undefined) return null;
          arr.push(v);
          p = at;
        }
        continue;
      }
      if (f.kind === K.MESSAGE) {
        const sub = (f.sub ??= fastOf(messageInfo(f.ref!)));
        value = decodeFast(sub, b, p, e, depth + 1);
        if (value === null) return null;
      } else if (f.kind === K.STRING) value = b.toString('utf8', p, e);
      else value = Buffer.from(b.subarray(p, e));
      p = e;
    } else {
      value = scalar(b, p, end, f.kind);
      if (value === undefined) return null;
      p = at;
    }
    if (f.repeated) (out[f.name] as unknown[]).push(value);
    else out[f.name] = value;
  }
  return (seen & fi.required) === fi.required ? out : null;
}

/** The message of this type in b[start, end), or null where the careful decoder must look. */
export function tryFastDecode(info: MessageInfo, b: Buffer, start: number, end: number): Message | null {
  return decodeFast(fastOf(info), b, start, end, 0);
}
