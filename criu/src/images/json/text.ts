// crit's JSON text: printing with exact integers and Python's escapes, and parsing with
// integers beyond 2^53 kept as bigint.
import { ImageError } from '../errors.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// ---------------------------------------------------------------- JSON text

export function escapeString(s: string): string {
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
  const p = new JsonParser(text);
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail('extra data after the JSON value');
  return v;
}

/** A recursive-descent JSON reader over `text`, at position `i`. */
class JsonParser {
  i = 0;
  private readonly n: number;
  constructor(private readonly text: string) {
    this.n = text.length;
  }

  fail(what: string): never {
    let line = 1;
    let col = 1;
    for (let j = 0; j < this.i && j < this.n; j++) {
      if (this.text[j] === '\n') {
        line++;
        col = 1;
      } else col++;
    }
    throw new ImageError(`invalid JSON: ${what} at line ${line} column ${col}`);
  }

  ws(): void {
    const t = this.text;
    while (this.i < this.n && (t[this.i] === ' ' || t[this.i] === '\n' || t[this.i] === '\r' || t[this.i] === '\t')) this.i++;
  }

  value(depth: number): JsonValue {
    if (depth > 512) this.fail('nesting too deep');
    this.ws();
    if (this.i >= this.n) this.fail('unexpected end of input');
    const c = this.text[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.str();
    return this.scalar();
  }

  private object(depth: number): JsonObject {
    const t = this.text;
    this.i++;
    const o: JsonObject = {};
    this.ws();
    if (t[this.i] === '}') {
      this.i++;
      return o;
    }
    for (;;) {
      this.ws();
      if (t[this.i] !== '"') this.fail('expected a string key');
      const k = this.str();
      this.ws();
      if (t[this.i] !== ':') this.fail("expected ':'");
      this.i++;
      o[k] = this.value(depth + 1);
      this.ws();
      if (t[this.i] === ',') {
        this.i++;
        continue;
      }
      if (t[this.i] === '}') {
        this.i++;
        return o;
      }
      this.fail("expected ',' or '}'");
    }
  }

  private array(depth: number): JsonValue[] {
    const t = this.text;
    this.i++;
    const a: JsonValue[] = [];
    this.ws();
    if (t[this.i] === ']') {
      this.i++;
      return a;
    }
    for (;;) {
      a.push(this.value(depth + 1));
      this.ws();
      if (t[this.i] === ',') {
        this.i++;
        continue;
      }
      if (t[this.i] === ']') {
        this.i++;
        return a;
      }
      this.fail("expected ',' or ']'");
    }
  }

  /** true, false, null or a number */
  private scalar(): JsonValue {
    const t = this.text;
    if (t.startsWith('true', this.i)) {
      this.i += 4;
      return true;
    }
    if (t.startsWith('false', this.i)) {
      this.i += 5;
      return false;
    }
    if (t.startsWith('null', this.i)) {
      this.i += 4;
      return null;
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(t.slice(this.i, this.i + 400));
    if (!m) this.fail('unexpected character');
    this.i += m[0].length;
    if (m[1] || m[2]) return Number(m[0]);
    const num = Number(m[0]);
    return Number.isSafeInteger(num) ? num : BigInt(m[0]);
  }

  private str(): string {
    const t = this.text;
    this.i++;
    let out = '';
    for (;;) {
      if (this.i >= this.n) this.fail('unterminated string');
      const c = t[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === '\\') {
        out += this.escape();
      } else {
        if (c.charCodeAt(0) < 0x20) this.fail('control character in string');
        out += c;
        this.i++;
      }
    }
  }

  /** the escape sequence at i (a backslash and what follows), decoded */
  private escape(): string {
    const t = this.text;
    const e = t[this.i + 1];
    this.i += 2;
    if (e === 'n') return '\n';
    if (e === 't') return '\t';
    if (e === 'r') return '\r';
    if (e === 'b') return '\b';
    if (e === 'f') return '\f';
    if (e === '/' || e === '\\' || e === '"') return e;
    if (e === 'u') {
      const h = t.slice(this.i, this.i + 4);
      if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('bad \\u escape');
      this.i += 4;
      return String.fromCharCode(parseInt(h, 16));
    }
    return this.fail('bad escape');
  }
}
