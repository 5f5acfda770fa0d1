// Messages to crit's dicts and back (pycriu pb2dict / dict2pb).
import type { Message } from '../codec.js';
import { ImageError } from '../errors.js';
import { enumInfo, messageInfo, type FieldInfo } from '../schema.js';
import type { JsonObject, JsonValue } from './text.js';
import {
  base64Lines,
  DICT_MAPS,
  FLAG_MAPS,
  formatDev,
  formatFlags,
  formatIp,
  fromBase64,
  hex,
  parseDev,
  parseIp,
  parsePyInt,
  qpDecode,
  qpEncode,
  unmapFlags,
} from './flags.js';

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
