// The value forms of crit's pretty JSON ((criu) options): flags by name, dicts, hex, dev,
// IP addresses, quoted-printable unix names and Python-style base64.
import { ImageError } from '../errors.js';
import type { JsonValue } from './text.js';

export const FLAG_MAPS: Record<string, Array<[string, bigint]>> = {
  'mmap.prot': [
    ['PROT_READ', 0x1n],
    ['PROT_WRITE', 0x2n],
    ['PROT_EXEC', 0x4n],
  ],
  'mmap.flags': [
    ['MAP_SHARED', 0x1n],
    ['MAP_PRIVATE', 0x2n],
    ['MAP_DROPPABLE', 0x8n],
    ['MAP_ANON', 0x20n],
    ['MAP_GROWSDOWN', 0x100n],
  ],
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
  'pmap.flags': [
    ['PE_PARENT', 1n],
    ['PE_LAZY', 2n],
    ['PE_PRESENT', 4n],
  ],
  'seals.flags': [
    ['F_SEAL_SEAL', 0x1n],
    ['F_SEAL_SHRINK', 0x2n],
    ['F_SEAL_GROW', 0x4n],
    ['F_SEAL_WRITE', 0x8n],
    ['F_SEAL_FUTURE_WRITE', 0x10n],
  ],
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

export function parsePyInt(s: string, where: string): bigint {
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

export function unmapFlags(s: string, table: string, where: string): bigint {
  if (s === '') return 0n;
  const map = new Map(FLAG_MAPS[table]);
  let v = 0n;
  for (const part of s.split('|')) {
    const p = part.trim();
    v += map.get(p) ?? parsePyInt(p, where);
  }
  return v;
}

export const DICT_MAPS: Record<string, Record<string, Record<number, string>>> = {
  gen: { task_state: { 1: 'Alive', 3: 'Zombie', 6: 'Stopped' } },
  sk: {
    family: { 1: 'UNIX', 2: 'INET', 10: 'INET6', 16: 'NETLINK', 17: 'PACKET' },
    type: { 1: 'STREAM', 2: 'DGRAM', 3: 'RAW', 5: 'SEQPACKET', 10: 'PACKET' },
    state: {
      1: 'ESTABLISHED',
      2: 'SYN_SENT',
      3: 'SYN_RECV',
      4: 'FIN_WAIT1',
      5: 'FIN_WAIT2',
      6: 'TIME_WAIT',
      7: 'CLOSE',
      8: 'CLOSE_WAIT',
      9: 'LAST_ACK',
      10: 'LISTEN',
    },
    proto: { 0: 'IP', 6: 'TCP', 17: 'UDP', 136: 'UDPLITE' },
  },
};

export function hex(v: number | bigint): string {
  const b = BigInt(v);
  return b < 0n ? '-0x' + (-b).toString(16) : '0x' + b.toString(16);
}

const MINORBITS = 20n;

export function formatDev(v: bigint, old: boolean): string {
  if (old) {
    const major = ((v >> 8n) & 0xfffn) | ((v >> 32n) & ~0xfffn);
    const minor = (v & 0xffn) | ((v >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  }
  return `${v >> MINORBITS}:${v & ((1n << MINORBITS) - 1n)}`;
}

export function parseDev(s: string, old: boolean, where: string): bigint {
  const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(s);
  if (!m) throw new ImageError(`${where}: cannot read ${JSON.stringify(s)} as major:minor`);
  const major = BigInt(m[1]);
  const minor = BigInt(m[2]);
  if (old) return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
  return (major << MINORBITS) | minor;
}

// IP addresses are kept as u32 words holding network-order bytes (read little-endian).
export function formatIp(words: Array<number | bigint>): string {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(Number(w) >>> 0, i * 4));
  if (words.length === 1) return [...b].join('.');
  const h: number[] = [];
  for (let i = 0; i < 16; i += 2) h.push(b.readUInt16BE(i));
  // ::ffff:a.b.c.d is shown with its IPv4 part, as Python's ipaddress does.
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
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

export function parseIp(s: string, where: string): number[] {
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
    h = [...l, ...new Array<number>(want - l.length - r.length).fill(0), ...r];
  } else {
    h = grp(halves[0]);
    if (h.length !== want) bad();
  }
  const b = Buffer.alloc(16);
  h.forEach((x, i) => b.writeUInt16BE(x, i * 2));
  return [0, 4, 8, 12].map((o) => b.readUInt32LE(o));
}

// Quoted-printable as Python's quopri/binascii (text mode, no header mode).
export function qpEncode(data: Buffer): string {
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

export function qpDecode(s: string): Buffer {
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

export function fromBase64(v: JsonValue, where: string): Buffer {
  if (typeof v !== 'string') throw new ImageError(`${where}: expected a base64 string`);
  return Buffer.from(v, 'base64');
}
