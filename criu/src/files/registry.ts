// Every kind of fd the tool handles: adding a kind is one module and one line here.
import type { FileKind } from './kind.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { regKind } from './reg.js';
import { pipeKind } from './pipe.js';

export const FILE_KINDS: FileKind[] = [regKind, pipeKind];

export function kindFor(link: FdLink, info: Fdinfo): FileKind | undefined {
  return FILE_KINDS.find((k) => k.match(link, info));
}
export function kindOfType(type: number): FileKind | undefined {
  return FILE_KINDS.find((k) => k.type === type);
}
