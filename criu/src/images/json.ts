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
import { enumInfo, messageInfo, type FieldInfo } from './schema.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// ---------------------------------------------------------------- JSON text

function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

/**
 * Serialises like Python's json.dump(obj, indent=indent) with the default
 * ensure_ascii: ", " / ": " separators on one line, or "," + newline with indent.
 */
export function stringifyJson(v: JsonValue, indent?: number, level = 0): string {
  // each container is joined from its members' text: no flat list of every token, which for
  // an mm entry of 65,000 VMAs ran to millions of strings
  const walk = (x: JsonValue, lvl: number): string => {
    if (x === null) return 'null';
    if (typeof x === 'boolean') return x ? 'true' : 'false';
    if (typeof x === 'number') return Number.isInteger(x) ? String(x) : JSON.stringify(x);
    if (typeof x === 'bigint') return x.toString();
    if (typeof x === 'string') return escapeString(x);
    const inner = indent === undefined ? '' : '\n' + ' '.repeat(indent * (lvl + 1));
    const outer = indent === undefined ? '' : '\n' + ' '.repeat(indent * lvl);
    const sep = indent === undefined ? ', ' : ',' + inner;
    if (Array.isArray(x)) {
      if (x.length === 0) return '[]';
      return `[${inner}${x.map((y) => walk(y, lvl + 1)).join(sep)}${outer}]`;
    }
    const keys = Object.keys(x);
    if (keys.length === 0) return '{}';
    return `{${inner}${keys.map((k) => `${escapeString(k)}: ${walk(x[k], lvl + 1)}`).join(sep)}${outer}}`;
  };
  return walk(v, level);
}

/** Parses JSON text; integers beyond 2^53 become bigint, so nothing is rounded. */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const n = text.length;
  const fail = (what: string): never => {
    let line = 1;
    let col = 1;
    for (let j = 0; j < i && j < n; j++) {
      if (text[j] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    throw new ImageError(`invalid JSON: ${what} at line ${line} column ${col}`);
  };
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const value = (depth: number): JsonValue => {
    if (depth > 512) fail('nesting too deep');
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i++;
      const o: JsonObject = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        o[k] = value(depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return o;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const a: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return a;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m![0].length;
    if (m![1] || m![2]) return Number(m![0]);
    const num = Number(m![0]);
    return Number.isSafeInteger(num) ? num : BigInt(m![0]);
  };
  const str = (): string => {
    i++;
    let out = '';
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = text[i + 1];
        i += 2;
        if (e === 'n') out += '\n';
        else if (e === 't') out += '\t';
        else if (e === 'r') out += '\r';
        else if (e === 'b') out += '\b';
        else if (e === 'f') out += '\f';
        else if (e === '/' || e === '\\' || e === '"') out += e;
        else if (e === 'u') {
          const h = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(h, 16));
          i += 4;
        } else fail('bad escape');
      } else {
        if (c.charCodeAt(0) < 0x20) fail('control character in string');
        out += c;
        i++;
      }
    }
  };
  const v = value(0);
  ws();
  if (i < n) fail('extra data after the JSON value');
  return v;
}

// ---------------------------------------------------------------- value tables

const FLAG_MAPS: Record<string, Array<[string, bigint]>> = {
  'mmap.prot': [['PROT_READ', 0x1n], ['PROT_WRITE', 0x2n], ['PROT_EXEC', 0x4n]],
  'mmap.flags': [['MAP_SHARED', 0x1n], ['MAP_PRIVATE', 0x2n], ['MAP_DROPPABLE', 0x8n], ['MAP_ANON', 0x20n], ['MAP_GROWSDOWN', 0x100n]],
  'mmap.status': [
    ['VMA_AREA_NONE', 0n],
    ['VMA_AREA_REGULAR', 1n << 0n],
    ['VMA_AREA_STACK', 1n << 1n],
    ['VMA_AREA_VSYSCALL', 1n << 2n],
    ['VMA_AREA_VDSO', 1n << 3n],
    ['VMA_AREA_HEAP', 1n << 5n],
    ['VMA_FILE_PRIVATE', 1n << 6n],
    ['VMA_FILE_SHARED', 1n << 7n],
    ['VMA_ANON_SHARED', 1n << 8n],
    ['VMA_ANON_PRIVATE', 1n << 9n],
    ['VMA_AREA_SYSVIPC', 1n << 10n],
    ['VMA_AREA_SOCKET', 1n << 11n],
    ['VMA_AREA_VVAR', 1n << 12n],
    ['VMA_AREA_AIORING', 1n << 13n],
    ['VMA_AREA_MEMFD', 1n << 14n],
    ['VMA_AREA_SHSTK', 1n << 15n],
    ['VMA_AREA_UPROBES', 1n << 17n],
    ['VMA_UNSUPP', 1n << 31n],
  ],
  'rfile.flags': [
    ['O_WRONLY', 0o1n],
    ['O_RDWR', 0o2n],
    ['O_CREAT', 0o100n],
    ['O_EXCL', 0o200n],
    ['O_NOCTTY', 0o400n],
    ['O_TRUNC', 0o1000n],
    ['O_APPEND', 0o2000n],
    ['O_NONBLOCK', 0o4000n],
    ['O_DSYNC', 0o10000n],
    ['FASYNC', 0o20000n],
    ['O_DIRECT', 0o40000n],
    ['O_LARGEFILE', 0o100000n],
    ['O_DIRECTORY', 0o200000n],
    ['O_NOFOLLOW', 0o400000n],
    ['O_NOATIME', 0o1000000n],
    ['O_CLOEXEC', 0o2000000n],
  ],
  'pmap.flags': [['PE_PARENT', 1n], ['PE_LAZY', 2n], ['PE_PRESENT', 4n]],
  'seals.flags': [['F_SEAL_SEAL', 0x1n], ['F_SEAL_SHRINK', 0x2n], ['F_SEAL_GROW', 0x4n], ['F_SEAL_WRITE', 0x8n], ['F_SEAL_FUTURE_WRITE', 0x10n]],
};

/** Formats a flags value with a named table: "MAP_PRIVATE | MAP_ANON", leftovers as hex. */
export function formatFlags(value: number | bigint, table: string): string {
  const map = FLAG_MAPS[table];
  let v = BigInt(value);
  if (!map) return hex(v);
  const names: string[] = [];
  let all = 0n;
  for (const [name, bit] of map) {
    if (v & bit) names.push(name);
    all |= bit;
  }
  v &= ~all;
  if (v) names.push(hex(v));
  return names.join(' | ');
}

function parsePyInt(s: string, where: string): bigint {
  const t = s.trim().replace(/_/g, '');
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0+|[1-9]\d*)$/.exec(t);
  if (!m) throw new ImageError(`${where}: cannot read ${JSON.stringify(s)} as an integer`);
  const body = m[2];
  let v: bigint;
  if (/^0[oO]/.test(body)) v = BigInt('0o' + body.slice(2));
  else if (/^0[bB]/.test(body)) v = BigInt('0b' + body.slice(2));
  else v = BigInt(body);
  return m[1] === '-' ? -v : v;
}

function unmapFlags(s: string, table: string, where: string): bigint {
  if (s === '') return 0n;
  const map = new Map(FLAG_MAPS[table]);
  let v = 0n;
  for (const part of s.split('|')) {
    const p = part.trim();
    v += map.get(p) ?? parsePyInt(p, where);
  }
  return v;
}

const DICT_MAPS: Record<string, Record<string, Record<number, string>>> = {
  gen: { task_state: { 1: 'Alive', 3: 'Zombie', 6: 'Stopped' } },
  sk: {
    family: { 1: 'UNIX', 2: 'INET', 10: 'INET6', 16: 'NETLINK', 17: 'PACKET' },
    type: { 1: 'STREAM', 2: 'DGRAM', 3: 'RAW', 5: 'SEQPACKET', 10: 'PACKET' },
    state: { 1: 'ESTABLISHED', 2: 'SYN_SENT', 3: 'SYN_RECV', 4: 'FIN_WAIT1', 5: 'FIN_WAIT2', 6: 'TIME_WAIT', 7: 'CLOSE', 8: 'CLOSE_WAIT', 9: 'LAST_ACK', 10: 'LISTEN' },
    proto: { 0: 'IP', 6: 'TCP', 17: 'UDP', 136: 'UDPLITE' },
  },
};

function hex(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? '-0x' + (-b).toString(16) : '0x' + b.toString(16);
}

const MINORBITS = 20n;

function formatDev(v: bigint, old: boolean): string {
  if (old) {
    const major = ((v >> 8n) & 0xfffn) | ((v >> 32n) & ~0xfffn);
    const minor = (v & 0xffn) | ((v >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  }
  return `${v >> MINORBITS}:${v & ((1n << MINORBITS) - 1n)}`;
}

function parseDev(s: string, old: boolean, where: string): bigint {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!m) throw new ImageError(`${where}: cannot read ${JSON.stringify(s)} as major:minor`);
  const major = BigInt(m[1]);
  const minor = BigInt(m[2]);
  if (old) return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
  return (major << MINORBITS) | minor;
}

// IP addresses are kept as u32 words holding network-order bytes (read little-endian).
function formatIp(words: Array<number | bigint>): string {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(Number(w) >>> 0, i * 4));
  if (words.length === 1) return [...b].join('.');
  const h: number[] = [];
  for (let i = 0; i < 16; i += 2) h.push(b.readUInt16BE(i));
  // ::ffff:a.b.c.d is shown with its IPv4 part, as Python's ipaddress does.
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hx = h.map((x) => x.toString(16));
  if (bestLen > 1) {
    const left = hx.slice(0, bestAt).join(':');
    const right = hx.slice(bestAt + bestLen).join(':');
    return `${left}::${right}`;
  }
  return hx.join(':');
}

function parseIp(s: string, where: string): number[] {
  const v4 = (t: string): number[] | undefined => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(t);
    if (!m) return undefined;
    const bytes = m.slice(1).map(Number);
    return bytes.every((x) => x <= 255) ? bytes : undefined;
  };
  const four = v4(s);
  if (four) return [Buffer.from(four).readUInt32LE(0)];
  const bad = (): never => {
    throw new ImageError(`${where}: ${JSON.stringify(s)} is not an IP address`);
  };
  let text = s;
  const dot = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(s);
  if (dot) {
    const b = v4(dot[2]) ?? bad();
    text = `${dot[1]}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const grp = (t: string): number[] => (t === '' ? [] : t.split(':').map((x) => (/^[0-9a-fA-F]{1,4}$/.test(x) ? parseInt(x, 16) : bad())));
  let h: number[];
  const want = 8;
  if (halves.length === 2) {
    const l = grp(halves[0]);
    const r = grp(halves[1]);
    if (l.length + r.length >= want) bad();
    h = [...l, ...new Array(want - l.length - r.length).fill(0), ...r];
  } else {
    h = grp(halves[0]);
    if (h.length !== want) bad();
  }
  const b = Buffer.alloc(16);
  h.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return [0, 4, 8, 12].map((o) => b.readUInt32LE(o));
}

// Quoted-printable as Python's quopri/binascii (text mode, no header mode).
function qpEncode(data: Buffer): string {
  const MAX = 76;
  const out: number[] = [];
  const hexd = '0123456789ABCDEF';
  const nl = data.indexOf(0x0a);
  const crlf = nl > 0 && data[nl - 1] === 0x0d;
  let linelen = 0;
  let i = 0;
  const n = data.length;
  while (i < n) {
    const c = data[i];
    const needsQuote =
      c > 126 ||
      c === 0x3d ||
      (c === 0x2e && linelen === 0 && (i + 1 === n || data[i + 1] === 0x0a || data[i + 1] === 0x0d || data[i + 1] === 0)) ||
      ((c === 0x09 || c === 0x20) && i + 1 === n) ||
      (c < 33 && c !== 0x0d && c !== 0x0a && c !== 0x09 && c !== 0x20);
    if (needsQuote) {
      if (linelen + 3 >= MAX) {
        out.push(0x3d, 0x0a);
        linelen = 0;
      }
      out.push(0x3d, hexd.charCodeAt(c >> 4), hexd.charCodeAt(c & 15));
      i++;
      linelen += 3;
    } else if (c === 0x0a || (i + 1 < n && c === 0x0d && data[i + 1] === 0x0a)) {
      linelen = 0;
      const last = out[out.length - 1];
      if (out.length && (last === 0x20 || last === 0x09)) {
        out.pop();
        out.push(0x3d, hexd.charCodeAt(last >> 4), hexd.charCodeAt(last & 15));
      }
      if (crlf) out.push(0x0d);
      out.push(0x0a);
      i += c === 0x0d ? 2 : 1;
    } else {
      if (i + 1 !== n && data[i + 1] !== 0x0a && linelen + 1 >= MAX) {
        out.push(0x3d, 0x0a);
        linelen = 0;
      }
      linelen++;
      out.push(c);
      i++;
    }
  }
  return Buffer.from(out).toString('latin1');
}

function qpDecode(s: string): Buffer {
  const d = Buffer.from(s, 'latin1');
  const out: number[] = [];
  const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
  let i = 0;
  while (i < d.length) {
    if (d[i] === 0x3d) {
      i++;
      if (i >= d.length) break;
      if (d[i] === 0x0a || d[i] === 0x0d) {
        if (d[i] !== 0x0a) while (i < d.length && d[i] !== 0x0a) i++;
        if (i < d.length) i++;
      } else if (d[i] === 0x3d) {
        out.push(0x3d);
        i++;
      } else if (i + 1 < d.length && isHex(d[i]) && isHex(d[i + 1])) {
        out.push(parseInt(String.fromCharCode(d[i], d[i + 1]), 16));
        i += 2;
      } else {
        out.push(0x3d);
      }
    } else {
      out.push(d[i++]);
    }
  }
  return Buffer.from(out);
}

/** Base64 as Python's base64.encodebytes: 76-character lines, each ending in "\n". */
export function base64Lines(b: Buffer): string {
  const s = b.toString('base64');
  let out = '';
  for (let i = 0; i < s.length; i += 76) out += s.slice(i, i + 76) + '\n';
  return out;
}

function fromBase64(v: JsonValue, where: string): Buffer {
  if (typeof v !== 'string') throw new ImageError(`${where}: expected a base64 string`);
  return Buffer.from(v, 'base64');
}

// ---------------------------------------------------------------- message <-> dict

function intOut(f: FieldInfo, v: number | bigint, pretty: boolean, isHex: boolean): JsonValue {
  if (!pretty) return v;
  if (isHex) return hex(v);
  if (f.criu?.dev) return formatDev(BigInt(v), !!f.criu.odev);
  if (f.criu?.flags) return formatFlags(v, f.criu.flags);
  if (f.criu?.dict) {
    const name = DICT_MAPS[f.criu.dict]?.[f.name]?.[Number(v)];
    if (name !== undefined) return name;
  }
  return v;
}

function valueOut(f: FieldInfo, v: unknown, pretty: boolean, isHex: boolean): JsonValue {
  switch (f.type) {
    case 'message':
      return messageToDict(f.ref!, v as Message, pretty, isHex);
    case 'bytes':
      return f.criu?.conv === 'unix_name' ? qpEncode(v as Buffer) : base64Lines(v as Buffer);
    case 'enum': {
      const name = enumInfo(f.ref!).byValue.get(v as number);
      if (name === undefined) throw new ImageError(`field ${f.name}: value ${String(v)} is not in enum ${f.ref}`);
      return name;
    }
    case 'bool':
      return v as boolean;
    case 'string':
      return v as string;
    case 'double':
    case 'float':
      return v as number;
    default:
      return intOut(f, v as number | bigint, pretty, isHex);
  }
}

/** A decoded message as crit's dict (pycriu pb2dict). */
export function messageToDict(type: string, msg: object, pretty = false, isHex = false): JsonObject {
  const info = messageInfo(type);
  const m = msg as Message;
  const d: JsonObject = {};
  for (const f of info.fields) {
    const v = m[f.name];
    if (v === undefined || v === null) continue;
    const hx = isHex || !!f.criu?.hex;
    if (f.label === 'repeated') {
      const arr = v as unknown[];
      if (arr.length === 0) continue;
      if (pretty && f.criu?.ipadd && (arr.length === 1 || arr.length === 4)) d[f.name] = [formatIp(arr as number[])];
      else d[f.name] = arr.map((x) => valueOut(f, x, pretty, hx));
    } else {
      d[f.name] = valueOut(f, v, pretty, hx);
    }
  }
  return d;
}

function intIn(f: FieldInfo, v: JsonValue, where: string): number | bigint {
  let b: bigint;
  if (typeof v === 'string') {
    if (f.criu?.dev) b = parseDev(v, !!f.criu.odev, where);
    else if (f.criu?.flags && FLAG_MAPS[f.criu.flags]) b = unmapFlags(v, f.criu.flags, where);
    else if (f.criu?.dict) {
      const map = DICT_MAPS[f.criu.dict]?.[f.name] ?? {};
      const hit = Object.entries(map).find(([, name]) => name === v);
      b = hit ? BigInt(hit[0]) : parsePyInt(v, where);
    } else b = parsePyInt(v, where);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ImageError(`${where}: ${v} is not an integer`);
    b = BigInt(v);
  } else if (typeof v === 'bigint') b = v;
  else if (typeof v === 'boolean') b = v ? 1n : 0n;
  else throw new ImageError(`${where}: expected an integer`);
  return f.is64 ? b : Number(b);
}

function valueIn(f: FieldInfo, v: JsonValue, where: string): unknown {
  switch (f.type) {
    case 'message':
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ImageError(`${where}: expected an object`);
      return dictToMessage(f.ref!, v as JsonObject, where);
    case 'bytes':
      if (f.criu?.conv === 'unix_name') {
        if (typeof v !== 'string') throw new ImageError(`${where}: expected a string`);
        return qpDecode(v);
      }
      return fromBase64(v, where);
    case 'enum': {
      const e = enumInfo(f.ref!);
      if (typeof v === 'string') {
        const n = e.byName.get(v);
        if (n === undefined) throw new ImageError(`${where}: ${JSON.stringify(v)} is not a value of ${f.ref}`);
        return n;
      }
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      throw new ImageError(`${where}: expected an enum name`);
    }
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number' || typeof v === 'bigint') return v !== 0 && v !== 0n;
      throw new ImageError(`${where}: expected true or false`);
    case 'string':
      if (typeof v !== 'string') throw new ImageError(`${where}: expected a string`);
      return v;
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw new ImageError(`${where}: expected a number`);
      return v;
    default:
      return intIn(f, v, where);
  }
}

/** crit's dict back to a message object (pycriu dict2pb). Unknown keys are an error. */
export function dictToMessage(type: string, d: JsonObject, where: string = type): Message {
  const info = messageInfo(type);
  const out: Message = {};
  for (const k of Object.keys(d)) {
    if (k === 'extra') continue;
    if (!info.byName.has(k)) throw new ImageError(`${where}: ${type} has no field ${JSON.stringify(k)}`);
  }
  for (const f of info.fields) {
    if (f.label === 'repeated') out[f.name] = [];
    if (!(f.name in d)) continue;
    const v = d[f.name];
    const w = `${where}.${f.name}`;
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) throw new ImageError(`${w}: expected a list`);
      if (v.length > 0 && typeof v[0] === 'string' && f.criu?.ipadd) out[f.name] = parseIp(v[0], w);
      else out[f.name] = v.map((x, i) => valueIn(f, x, `${w}[${i}]`));
    } else {
      out[f.name] = valueIn(f, v, w);
    }
  }
  return out;
}

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
        fromBase64(x[i + 1], `${where}.extra[${i + 1}]`).subarray(0, size).copy(data);
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
