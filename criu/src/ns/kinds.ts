// The namespace kinds whose contents are dumped and restored (one module each).
import type { NsKind } from './kind.js';
import { uts } from './uts.js';
import { ipc } from './ipc.js';
import { user } from './user.js';
import { pid } from './pid.js';
import { net } from './net.js';
import { cgroup } from './cgroup.js';
import { mnt } from './mnt.js';

// user first: its maps convert the ids the others read (proc/idmap.ts)
export const KINDS: NsKind<unknown>[] = [
  user as NsKind<unknown>,
  ipc as NsKind<unknown>,
  uts as NsKind<unknown>,
  net as NsKind<unknown>,
  cgroup as NsKind<unknown>,
  mnt as NsKind<unknown>,
];
// pid namespaces (ns/pid.ts): no contents, the root's made with it, nested ones allowed
KINDS.push(pid as NsKind<unknown>);

/** A namespace of the tree's own, met at its root at the dump. */
export interface OwnNs {
  kind: NsKind<unknown>;
  /** its /proc link (uts:[4026…]) */
  link: string;
  id: number;
  pid: number;
  data: unknown;
}
