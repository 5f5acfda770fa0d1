// External files (CRIU's files-ext.c): an fd no other kind claims is offered to the plugins. The
// tool's own copy of it (pidfd_getfd, an fd the plugin can use) goes to DUMP_EXT_FILE(fd, id);
// the plugin that answers 0 has saved the object in images of its own, and files.img gets an
// FD_TYPES__EXT entry (ext_file_entry: the id and the fown). At restore RESTORE_EXT_FILE(id)
// answers an fd of the tool, which is sent into the task like every other kind's.
// When no plugin takes the fd, the refusal is the one every unknown fd gets (`not supported yet:
// task N: fd M (…)`), saying where plugins were looked for, so the user knows what to try.
import * as fs from 'node:fs';
import type { FileKind } from './kind.js';
import type { FdLink } from '../proc/index.js';
import { FileError, partOf } from './kind.js';
import { dumpFown, restoreFown } from './fdparams.js';
import { NotSupportedError } from '../errors.js';
import { pluginCalls } from '../hooks.js';
import { FdTypes, type FileEntry } from '../images/gen/types.js';

/** What an fd nobody takes is, for the refusal: anon_inode objects by their kernel names. */
const OBJECTS: Record<string, string> = {
  io_uring: 'io_uring',
  userfaultfd: 'userfaultfd',
  'bpf-map': 'bpf map',
  'bpf-prog': 'bpf program',
  bpf_link: 'bpf link',
  'bpf-link': 'bpf link',
  bpf_iter: 'bpf iterator',
  'bpf-token': 'bpf token',
  perf_event: 'perf event',
  fanotify: 'fanotify group',
  'kvm-vm': 'KVM virtual machine',
  'kvm-vcpu': 'KVM vcpu',
  iommufd: 'iommufd',
  '[fscontext]': 'filesystem context',
  fscontext: 'filesystem context',
  sync_file: 'sync file',
  dmabuf: 'dma-buf',
};

/** The object an unknown fd holds, named as the kernel's anon_inode type says (or its link's form). */
export function objectName(link: FdLink): string {
  if (link.kind === 'anon_inode') return OBJECTS[link.anonType ?? ''] ?? `${link.anonType} (anon_inode)`;
  if (link.kind === 'ns') return `a ${link.nsType} namespace`;
  if (link.kind === 'socket') return 'a socket';
  if (link.kind === 'path') return 'a file';
  return link.raw;
}

/** "task N (comm)": the program's name, as /proc shows it. */
export function taskName(pid: number): string {
  let comm = '';
  try {
    comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    /* gone */
  }
  return comm ? `task ${pid} (${comm})` : `task ${pid}`;
}

export const extKind: FileKind = {
  name: 'ext',
  type: FdTypes.EXT,
  field: 'ext',
  // the last resort: every other kind outranks it
  priority: 1,
  match: () => true,
  dump: (ctx, id): FileEntry => {
    const plugins = pluginCalls();
    const what = `${taskName(ctx.pid)}: fd ${ctx.fd} (${ctx.link.raw}): ${objectName(ctx.link)}`;
    const mine = ctx.takeFd();
    if (!plugins.dumpExtFile(mine, id))
      throw new NotSupportedError(what, {
        task: ctx.pid,
        object: `fd ${ctx.fd}`,
        hint: `no fd kind of criu-ts handles it and no plugin dumped it (DUMP_EXT_FILE): ${plugins.describe()}; a plugin for it may be named with -L DIR`,
      });
    return { type: FdTypes.EXT, id, ext: { id, fown: dumpFown(ctx, mine, 'ext file') } };
  },
  open: (_ctx, e, _s, who) => {
    const x = partOf(e, 'ext', who);
    let fd: number;
    try {
      fd = pluginCalls().restoreExtFile(x.id);
    } catch (err) {
      throw new FileError(who, (err as Error).message, {
        object: `ext file ${x.id}`,
        hint: 'put the plugin the images were dumped with in the plugin folder (-L DIR)',
      });
    }
    restoreFown(fd, x.fown);
    return fd;
  },
};
