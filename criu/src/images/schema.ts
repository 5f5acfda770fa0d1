// Run-time view of the schema generated from proto/*.proto (see proto/gen.mjs).
import { SCHEMA } from './gen/descriptor.js';
import { CriuError } from '../errors.js';

export type ScalarType =
  | 'double'
  | 'float'
  | 'int32'
  | 'int64'
  | 'uint32'
  | 'uint64'
  | 'sint32'
  | 'sint64'
  | 'fixed32'
  | 'fixed64'
  | 'sfixed32'
  | 'sfixed64'
  | 'bool'
  | 'string'
  | 'bytes';

/** Formatting hints of a field, from the (criu) field option. */
export interface CriuOpts {
  hex?: boolean;
  ipadd?: boolean;
  flags?: string;
  dev?: boolean;
  odev?: boolean;
  dict?: string;
  conv?: string;
}

export interface FieldJson {
  name: string;
  id: number;
  type: ScalarType | 'message' | 'enum';
  /** Full proto name of the message or enum type. */
  ref?: string;
  label: 'optional' | 'required' | 'repeated';
  packed?: boolean;
  criu?: CriuOpts;
  default?: unknown;
}

export interface SchemaJson {
  messages: Record<string, FieldJson[]>;
  enums: Record<string, Record<string, number>>;
}

export interface FieldInfo extends FieldJson {
  /** protobuf wire type used when writing the field. */
  wire: number;
  is64: boolean;
}

export interface MessageInfo {
  name: string;
  /** Fields sorted by number: the order in which they are written. */
  fields: FieldInfo[];
  byId: Map<number, FieldInfo>;
  byName: Map<string, FieldInfo>;
  required: FieldInfo[];
}

export interface EnumInfo {
  name: string;
  byName: Map<string, number>;
  byValue: Map<number, string>;
}

const WIRE: Record<string, number> = {
  double: 1,
  fixed64: 1,
  sfixed64: 1,
  float: 5,
  fixed32: 5,
  sfixed32: 5,
  string: 2,
  bytes: 2,
  message: 2,
};
const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const messages = new Map<string, MessageInfo>();
const enums = new Map<string, EnumInfo>();

for (const [name, fields] of Object.entries(SCHEMA.messages)) {
  const infos: FieldInfo[] = fields.map((f) => ({
    ...f,
    wire: f.label === 'repeated' && f.packed ? 2 : (WIRE[f.type] ?? 0),
    is64: INT64.has(f.type),
  }));
  messages.set(name, {
    name,
    fields: infos,
    byId: new Map(infos.map((f) => [f.id, f])),
    byName: new Map(infos.map((f) => [f.name, f])),
    required: infos.filter((f) => f.label === 'required'),
  });
}
for (const [name, values] of Object.entries(SCHEMA.enums)) {
  const byValue = new Map<number, string>();
  for (const [k, v] of Object.entries(values)) if (!byValue.has(v)) byValue.set(v, k);
  enums.set(name, { name, byName: new Map(Object.entries(values)), byValue });
}

export function messageInfo(name: string): MessageInfo {
  const m = messages.get(name);
  if (!m) throw new CriuError(`unknown protobuf message type ${name}`, { object: name });
  return m;
}

export function hasMessage(name: string): boolean {
  return messages.has(name);
}

export function enumInfo(name: string): EnumInfo {
  const e = enums.get(name);
  if (!e) throw new CriuError(`unknown protobuf enum type ${name}`, { object: name });
  return e;
}

export function messageNames(): string[] {
  return [...messages.keys()];
}
