// Mutations of CRIU image directories for the image fuzzer (fuzz/run.mjs).
//
// A base is a directory of images, parsed once (with our own image layer) into files, entries
// and their byte spans. A mutation takes a seeded random source and a base and returns the
// files to replace (name -> Buffer, or null to delete) and a description of what it did: the
// kind, the file, and where it applies, the entry index and the field path. The run checks that
// a refusal names that file (and that entry and field).
import fs from 'node:fs';
import path from 'node:path';

/** mulberry32: a small, fast, seeded PRNG; rng() in [0, 1). */
export function makeRng(seed) {
  let a = seed >>> 0;
  const rng = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  rng.int = (n) => Math.floor(rng() * n);
  rng.pick = (arr) => arr[Math.floor(rng() * arr.length)];
  rng.chance = (p) => rng() < p;
  return rng;
}

/** The seed of case `n` of a run seeded `seed`: each case replays on its own. */
export function caseSeed(seed, n) {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ n, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---------------------------------------------------------------- bases

/** Reads a directory of images; `lib` is dist/criu/src/images/index.js. */
export function loadBase(lib, name, dir, opts = {}) {
  const files = [];
  for (const f of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, f);
    const st = fs.statSync(p);
    if (!st.isFile()) continue;
    if (!/\.img$|^stats-/.test(f)) continue;
    const kind = lib.kindForFileName(f);
    const entry = { name: f, path: p, size: st.size, raw: !!kind?.raw || !kind?.message };
    if (!entry.raw) {
      entry.buf = fs.readFileSync(p);
      const r = lib.ImageReader.fromBuffer(entry.buf, { name: f });
      entry.header = r.headerSize;
      entry.kind = r.kind;
      entry.entries = [];
      for (const e of r) entry.entries.push({ offset: e.offset, type: e.type, msg: e.msg, blob: e.blob });
      entry.entries.forEach((e, i) => {
        e.end = i + 1 < entry.entries.length ? entry.entries[i + 1].offset : entry.buf.length;
      });
    }
    files.push(entry);
  }
  const pstree = files.find((f) => f.name === 'pstree.img');
  const pids = pstree ? pstree.entries.flatMap((e) => [e.msg.pid, ...(e.msg.threads ?? [])]) : [];
  return { name, dir, files, pids: [...new Set(pids)], restorable: !!opts.restorable };
}

// ---------------------------------------------------------------- raw protobuf walking

function readVarint(buf, pos, end) {
  let v = 0n;
  for (let shift = 0n; pos < end && shift < 70n; shift += 7n) {
    const c = buf[pos++];
    v |= BigInt(c & 0x7f) << shift;
    if (c < 0x80) return { v, pos };
  }
  return undefined;
}

function encVarint(v) {
  v = BigInt.asUintN(64, BigInt(v));
  const out = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/**
 * The fields of a message body, recursively: each {path, name, id, wire, tagPos, valPos, end,
 * lenPos (wire 2)} with positions in `buf`. `info(type)` is the schema's messageInfo.
 */
function walk(lib, type, buf, start, end, prefix, out, depth = 0) {
  let info;
  try {
    info = lib.messageInfo(type);
  } catch {
    return;
  }
  let pos = start;
  const counts = new Map();
  while (pos < end) {
    const tagPos = pos;
    const t = readVarint(buf, pos, end);
    if (!t) return;
    const id = Number(t.v >> 3n),
      wire = Number(t.v & 7n);
    pos = t.pos;
    const f = info.byId.get(id);
    const name = f?.name ?? `#${id}`;
    const idx = counts.get(name) ?? 0;
    counts.set(name, idx + 1);
    const fpath = `${prefix}${name}${f?.label === 'repeated' ? `[${idx}]` : ''}`;
    const rec = { path: fpath, name, id, wire, tagPos, type: f?.type, ref: f?.ref };
    if (wire === 0) {
      const v = readVarint(buf, pos, end);
      if (!v) return;
      rec.valPos = pos;
      pos = v.pos;
    } else if (wire === 1) {
      rec.valPos = pos;
      pos += 8;
    } else if (wire === 5) {
      rec.valPos = pos;
      pos += 4;
    } else if (wire === 2) {
      const l = readVarint(buf, pos, end);
      if (!l) return;
      rec.lenPos = pos;
      rec.valPos = l.pos;
      pos = l.pos + Number(l.v);
      if (pos > end) return;
      if (f?.type === 'message' && depth < 8) {
        out.push({ ...rec, end: pos });
        walk(lib, f.ref, buf, rec.valPos, pos, `${fpath}.`, out, depth + 1);
        continue;
      }
    } else return;
    rec.end = pos;
    out.push(rec);
  }
}

// ---------------------------------------------------------------- values

const I32 = [-1, 0, 1, -2147483648, 2147483647];
const U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffff000];
const U64 = [
  0n,
  1n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
  0xfffffffffffff000n,
  0x800000000000n,
  0x7ffffffff000n,
  0x1000n,
  0x100000000n,
];
const I64 = [0n, -1n, 0x7fffffffffffffffn, -0x8000000000000000n, 0x100000000n];
const PIDS = [0, -1, 1, 2 ** 31, 2 ** 31 - 1, 4194304, 4194305, 0x7fffffff, 2];
const FDS = [-1, -5, 0x7fffffff, 1 << 20, 65536, 1000, 1023, 3];
const SIZES = [0n, 1n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 1n << 40n, 1n << 32n, 0xfffffffn, 4095n];

function inRange(type, v) {
  const b = BigInt(v);
  switch (type) {
    case 'int32':
    case 'sint32':
    case 'sfixed32':
    case 'enum':
      return b >= -(2n ** 31n) && b < 2n ** 31n;
    case 'uint32':
    case 'fixed32':
      return b >= 0n && b < 2n ** 32n;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return b >= -(2n ** 63n) && b < 2n ** 63n;
    case 'uint64':
    case 'fixed64':
      return b >= 0n && b < 2n ** 64n;
    default:
      return true;
  }
}

/** A hostile value for a scalar field, chosen by its type and its name. */
function hostileValue(rng, f, name, old) {
  const is64 = /64/.test(f.type);
  let cands;
  if (/(^|_)(pid|ppid|pgid|sid|tid|threads|pgrp)$/.test(name)) cands = PIDS;
  else if (/(^|_)fd$|^fd|_fd_/.test(name)) cands = FDS;
  else if (/size|len|bytes|nr_|count|num|_sz$|^length$/.test(name)) cands = is64 ? SIZES : [0, 1, 0x7fffffff, 0xffffffff, 0x10000000];
  else if (/start|end|addr|vaddr|brk|pgoff|offset|pos|ptr|_stack|arg_|env_/.test(name)) cands = is64 ? U64 : U32;
  else cands = is64 ? (f.type.startsWith('u') || f.type.startsWith('fixed') ? U64 : I64) : f.type.startsWith('u') || f.type === 'fixed32' ? U32 : I32;
  let v =
    rng.chance(0.15) && old !== undefined ? (typeof old === 'bigint' ? old ^ (1n << BigInt(rng.int(64))) : Number(old) ^ (1 << rng.int(31))) : rng.pick(cands);
  if (!inRange(f.type, v)) v = is64 ? BigInt.asUintN(64, BigInt(v)) : Number(BigInt.asUintN(32, BigInt(v)));
  if (!inRange(f.type, v)) v = is64 ? BigInt.asIntN(64, BigInt(v)) : Number(BigInt.asIntN(32, BigInt(v)));
  return is64 ? BigInt(v) : Number(v);
}

/** Every (holder, key, fieldInfo, path) of a decoded message, nested ones included. */
function leaves(lib, type, msg, prefix, out, depth = 0) {
  const info = lib.messageInfo(type);
  for (const f of info.fields) {
    const v = msg[f.name];
    if (v === undefined || v === null) {
      if (f.type !== 'message') out.push({ holder: msg, key: f.name, f, path: `${prefix}${f.name}`, absent: true });
      continue;
    }
    if (Array.isArray(v)) {
      out.push({ holder: msg, key: f.name, f, path: `${prefix}${f.name}`, array: true });
      v.forEach((x, i) => {
        if (f.type === 'message') {
          if (depth < 6) leaves(lib, f.ref, x, `${prefix}${f.name}[${i}].`, out, depth + 1);
        } else out.push({ holder: v, key: i, f, path: `${prefix}${f.name}[${i}]`, name: f.name });
      });
    } else if (f.type === 'message') {
      out.push({ holder: msg, key: f.name, f, path: `${prefix}${f.name}`, sub: true });
      if (depth < 6) leaves(lib, f.ref, v, `${prefix}${f.name}.`, out, depth + 1);
    } else out.push({ holder: msg, key: f.name, f, path: `${prefix}${f.name}` });
  }
}

function clone(v) {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(clone);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = clone(v[k]);
    return o;
  }
  return v;
}

// ---------------------------------------------------------------- image surgery

const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};

function spans(file) {
  return file.entries.map((e) => file.buf.subarray(e.offset, e.end));
}

function rebuild(file, parts) {
  return Buffer.concat([file.buf.subarray(0, file.header), ...parts]);
}

/** Replaces entry i's message body by `body` (the length word follows), keeping its payload. */
function withBody(file, i, body) {
  const e = file.entries[i];
  const oldLen = file.buf.readUInt32LE(e.offset);
  const tail = file.buf.subarray(e.offset + 4 + oldLen, e.end);
  const parts = spans(file);
  parts[i] = Buffer.concat([u32(body.length), body, tail]);
  return rebuild(file, parts);
}

function bodyOf(file, i) {
  const e = file.entries[i];
  const len = file.buf.readUInt32LE(e.offset);
  return { start: e.offset + 4, end: e.offset + 4 + len };
}

// ---------------------------------------------------------------- the mutations

const M = {};

M.bitflip = (rng, lib, f) => {
  const b = Buffer.from(f.buf);
  const n = 1 + rng.int(rng.chance(0.7) ? 2 : 8);
  const at = [];
  for (let k = 0; k < n; k++) {
    const p = rng.int(b.length);
    b[p] ^= 1 << rng.int(8);
    at.push(p);
  }
  const ent = f.entries.findIndex((e) => at[0] >= e.offset && at[0] < e.end);
  return { buf: b, desc: { what: `flipped ${n} bit(s) at ${at.join(',')}`, entry: ent >= 0 ? ent : undefined } };
};

M.truncate = (rng, lib, f) => {
  let at;
  if (rng.chance(0.5) && f.entries.length) {
    const e = rng.pick(f.entries);
    at = Math.max(0, Math.min(f.buf.length - 1, e.offset + rng.pick([0, 1, 2, 3, 4, 5, 8, e.end - e.offset - 1])));
  } else at = rng.int(f.buf.length);
  return { buf: f.buf.subarray(0, at), desc: { what: `truncated to ${at} of ${f.buf.length} bytes` } };
};

M.hugeEntryLength = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length),
    e = f.entries[i];
  const len = f.buf.readUInt32LE(e.offset);
  const v = rng.pick([0xffffffff, 0x80000000, 0x7fffffff, len + 1, len + 1000, 0, Math.max(0, len - 1), f.buf.length, 0x10000000]);
  const b = Buffer.from(f.buf);
  b.writeUInt32LE(v >>> 0, e.offset);
  return { buf: b, desc: { what: `entry length ${len} -> ${v >>> 0}`, entry: i } };
};

M.badMagic = (rng, lib, f) => {
  const b = Buffer.from(f.buf);
  const at = f.header === 8 && rng.chance(0.6) ? 4 : 0;
  const others = lib.IMAGE_KINDS.filter((k) => k.magic).map((k) => k.magic);
  const v = rng.pick([0, 0xffffffff, rng.int(2 ** 32), rng.pick(others), lib.IMG_SERVICE_MAGIC, lib.IMG_COMMON_MAGIC, b.readUInt32LE(at) ^ 1]);
  b.writeUInt32LE(v >>> 0, at);
  return { buf: b, desc: { what: `magic at ${at} -> 0x${(v >>> 0).toString(16)}` } };
};

M.entries = (rng, lib, f) => {
  const parts = spans(f);
  if (!parts.length) return undefined;
  const op = rng.pick(parts.length > 1 ? ['swap', 'dup', 'drop', 'dropall', 'dupmany'] : ['dup', 'drop', 'dupmany']);
  const i = rng.int(parts.length);
  if (op === 'swap') {
    let j = rng.int(parts.length);
    if (j === i) j = (i + 1) % parts.length;
    [parts[i], parts[j]] = [parts[j], parts[i]];
    return { buf: rebuild(f, parts), desc: { what: `swapped entries ${i} and ${j}` } };
  }
  if (op === 'dup') {
    parts.splice(i, 0, parts[i]);
    return { buf: rebuild(f, parts), desc: { what: `duplicated entry ${i}` } };
  }
  if (op === 'dupmany') {
    const n = rng.pick([100, 3000]);
    parts.splice(i, 0, ...Array(n).fill(parts[i]));
    return { buf: rebuild(f, parts), desc: { what: `entry ${i} repeated ${n} more times` } };
  }
  if (op === 'drop') {
    parts.splice(i, 1);
    return { buf: rebuild(f, parts), desc: { what: `dropped entry ${i}` } };
  }
  return { buf: rebuild(f, []), desc: { what: 'dropped every entry' } };
};

function fieldsOf(lib, f, i) {
  const { start, end } = bodyOf(f, i);
  const out = [];
  walk(lib, f.entries[i].type, f.buf, start, end, '', out);
  return { out, start, end };
}

M.varintLength = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length);
  const { out, start, end } = fieldsOf(lib, f, i);
  const w2 = out.filter((x) => x.wire === 2);
  if (!w2.length) return undefined;
  const x = rng.pick(w2);
  const old = Number(readVarint(f.buf, x.lenPos, end).v);
  const v = rng.pick([0xffffffffn, 0x7fffffffn, 1n << 63n, 0xffffffffffffffffn, BigInt(old + 1), BigInt(old + 100), 1n << 32n]);
  const body = Buffer.concat([f.buf.subarray(start, x.lenPos), encVarint(v), f.buf.subarray(x.valPos, end)]);
  return { buf: withBody(f, i, body), desc: { what: `length of ${x.path} ${old} -> ${v}`, entry: i, field: x.path } };
};

M.varintValue = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length);
  const { out, start, end } = fieldsOf(lib, f, i);
  const w0 = out.filter((x) => x.wire === 0);
  if (!w0.length) return undefined;
  const x = rng.pick(w0);
  const kind = rng.int(4);
  let enc;
  if (kind === 0) enc = encVarint(rng.pick([0xffffffffffffffffn, 1n << 63n, 1n << 31n, 1n << 32n, 0xffffffffn, 0x80000000n]));
  else if (kind === 1)
    enc = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // 12-byte varint
  else if (kind === 2)
    enc = Buffer.from([0x80, 0x80, 0x80]); // never ends: runs into the next field
  else enc = encVarint(BigInt(rng.int(2 ** 31)) * BigInt(rng.pick([1, 4096, 65536])));
  const vEnd = readVarint(f.buf, x.valPos, end).pos;
  const body = Buffer.concat([f.buf.subarray(start, x.valPos), enc, f.buf.subarray(vEnd, end)]);
  return { buf: withBody(f, i, body), desc: { what: `varint of ${x.path} -> ${enc.toString('hex')}`, entry: i, field: x.path } };
};

M.dropField = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length);
  const { out, start, end } = fieldsOf(lib, f, i);
  const top = out.filter((x) => !x.path.includes('.'));
  if (!top.length) return undefined;
  const x = rng.pick(top);
  const body = Buffer.concat([f.buf.subarray(start, x.tagPos), f.buf.subarray(x.end, end)]);
  return { buf: withBody(f, i, body), desc: { what: `removed field ${x.path}`, entry: i, field: x.path } };
};

M.wireType = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length);
  const { out, start, end } = fieldsOf(lib, f, i);
  if (!out.length) return undefined;
  const x = rng.pick(out);
  const tag = readVarint(f.buf, x.tagPos, end);
  const wire = rng.pick([0, 1, 2, 3, 4, 5, 6, 7].filter((w) => w !== x.wire));
  const body = Buffer.concat([f.buf.subarray(start, x.tagPos), encVarint((tag.v & ~7n) | BigInt(wire)), f.buf.subarray(tag.pos, end)]);
  return { buf: withBody(f, i, body), desc: { what: `wire type of ${x.path} ${x.wire} -> ${wire}`, entry: i, field: x.path } };
};

/** Decode, change one field to a hostile value, encode: the length words stay right. */
M.field = (rng, lib, f) => {
  if (!f.entries.length) return undefined;
  const i = rng.int(f.entries.length);
  const e = f.entries[i];
  const msg = clone(e.msg);
  const all = [];
  leaves(lib, e.type, msg, '', all);
  const scalars = all.filter((x) => !x.array && !x.sub && x.f.type !== 'message' && (!x.absent || rng.chance(0.2)));
  const arrays = all.filter((x) => x.array);
  let what, target;
  if (arrays.length && rng.chance(0.2)) {
    target = rng.pick(arrays);
    const arr = target.holder[target.key];
    const op = rng.pick(['clear', 'dup', 'drop', 'many']);
    if (op === 'clear') target.holder[target.key] = [];
    else if (op === 'dup' && arr.length) arr.splice(rng.int(arr.length), 0, clone(arr[rng.int(arr.length)]));
    else if (op === 'drop' && arr.length) arr.splice(rng.int(arr.length), 1);
    else if (op === 'many' && arr.length) target.holder[target.key] = Array.from({ length: rng.pick([1000, 100000]) }, () => clone(arr[0]));
    else return undefined;
    what = `${op} ${target.path}`;
  } else {
    if (!scalars.length) return undefined;
    target = rng.pick(scalars);
    const ft = target.f;
    const old = target.holder[target.key];
    let v;
    if (ft.type === 'bool') v = !old;
    else if (ft.type === 'string')
      v = rng.pick(['', 'A'.repeat(rng.pick([256, 5000, 70000])), '../../../../etc/passwd', '/nonexistent/x', 'a\u0000b', '/proc/self/mem']);
    else if (ft.type === 'bytes')
      v = rng.pick([Buffer.alloc(0), Buffer.alloc(rng.pick([1, 7, 100000]), 0xff), (old ?? Buffer.alloc(0)).subarray(0, Math.max(0, (old?.length ?? 1) - 1))]);
    else if (ft.type === 'double' || ft.type === 'float') v = rng.pick([NaN, Infinity, -1, 1e300]);
    else v = hostileValue(rng, ft, target.name ?? target.key, old);
    target.holder[target.key] = v;
    const show = typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : Buffer.isBuffer(v) ? `${v.length} bytes` : String(v);
    what = `${target.path} ${old === undefined ? '(absent)' : Buffer.isBuffer(old) ? `${old.length} bytes` : typeof old === 'string' ? JSON.stringify(old.slice(0, 40)) : String(old)} -> ${show}`;
  }
  let body;
  try {
    body = lib.encodeMessage(e.type, msg);
  } catch {
    return undefined;
  }
  return { buf: withBody(f, i, body), desc: { what, entry: i, field: target.path, value: true } };
};

M.append = (rng, lib, f) => {
  const extra = Buffer.alloc(rng.pick([1, 3, 4, 8, 100]));
  for (let k = 0; k < extra.length; k++) extra[k] = rng.int(256);
  if (extra.length >= 4 && rng.chance(0.5)) extra.writeUInt32LE(rng.pick([0xffffffff, 2, 100]) >>> 0, 0);
  return { buf: Buffer.concat([f.buf, extra]), desc: { what: `appended ${extra.length} bytes` } };
};

const WEIGHTS = [
  ['field', 30],
  ['bitflip', 12],
  ['truncate', 8],
  ['hugeEntryLength', 8],
  ['varintLength', 8],
  ['varintValue', 8],
  ['entries', 8],
  ['badMagic', 4],
  ['dropField', 6],
  ['wireType', 3],
  ['append', 3],
];
const TOTAL = WEIGHTS.reduce((s, [, w]) => s + w, 0);

function pickKind(rng) {
  let r = rng() * TOTAL;
  for (const [k, w] of WEIGHTS) {
    if ((r -= w) < 0) return k;
  }
  return 'field';
}

/**
 * One mutation of `base`: { files: Map(name -> Buffer | null), desc: {kind, file, what, entry?, field?} }.
 * `forRestore`: whole-file ones (delete, empty, raw pages) are possible too.
 */
export function mutate(rng, lib, base, forRestore) {
  const proto = base.files.filter((f) => !f.raw);
  if (forRestore && rng.chance(0.06)) {
    const f = rng.pick(base.files);
    if (f.raw || rng.chance(0.5)) {
      // pages: cut short, or emptied
      const pages = base.files.filter((x) => x.raw);
      const p = pages.length ? rng.pick(pages) : f;
      const len = p.raw ? rng.pick([0, Math.floor(p.size / 2) & ~4095, p.size - 1, p.size - 4096]) : 0;
      const buf = p.raw ? Buffer.alloc(0) : Buffer.alloc(0);
      return {
        files: new Map([[p.name, p.raw ? { truncateTo: Math.max(0, len), src: p.path } : buf]]),
        desc: { kind: 'cut', file: p.name, what: `cut to ${len} bytes` },
      };
    }
    return { files: new Map([[f.name, null]]), desc: { kind: 'delete', file: f.name, what: 'file removed' } };
  }
  for (let tries = 0; tries < 20; tries++) {
    const f = rng.pick(proto);
    const kind = pickKind(rng);
    const r = M[kind](rng, lib, f);
    if (!r || r.buf.equals(f.buf)) continue;
    return { files: new Map([[f.name, r.buf]]), desc: { kind, file: f.name, ...r.desc } };
  }
  const f = rng.pick(proto);
  return { files: new Map([[f.name, f.buf.subarray(0, 2)]]), desc: { kind: 'truncate', file: f.name, what: 'truncated to 2 bytes' } };
}
