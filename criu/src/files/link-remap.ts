// Link remaps (CRIU's files-reg.c create_link_remap, REMAP_TYPE__LINKED): a file a task holds
// whose name was removed while it still has other links (nlink > 0, the path "… (deleted)"):
// its contents are still on disk, so instead of copying them into the images (a ghost), the dump
// gives it a new name, `link_remap.<ID>` in the directory it sat in (or the nearest parent that
// still exists), with linkat(fd, "", AT_EMPTY_PATH). That name has a reg_file_entry of its own
// (id ID, flags 0) and remap-fpath.img maps the file's entry to it (remap_type LINKED). Only with
// --link-remap; without it the dump is refused with CRIU's message. A failed dump (or one that
// leaves the tree running, -R) removes the names it made again, as CRIU's delete_link_remaps.
//
// On restore the file is opened through a link at its old path (`<path>.cr_link` when another
// file has that name now, as CRIU's open_path), removed again at once so the fd shows
// "<path> (deleted)". The link_remap.<ID> names are removed once the restore succeeded; after a
// failed one they stay so the images can be restored again (CRIU cleans only ghosts then).
import * as fs from 'node:fs';
import { toolPath } from '../sys/tree-root.js';
import * as path from 'node:path';
import { FdTypes, type RegFileEntry } from '../images/gen/types.js';
import { RemapType, type RemapFilePathEntry } from '../images/index.js';
import type { FileTable } from './table.js';
import type { ExtraImages, RestoreFdCtx } from './kind.js';
import { FileError } from './kind.js';
import { zeroFown } from './fdparams.js';
import { linkOpenFile } from '../sys/fsops.js';
import { SysError } from '../sys/libc.js';
import { regDumpOptions } from './reg-opts.js';
import { log } from '../log.js';

const REMAP_FPATH = 'remap-fpath.img';

/** link_remap.N names made by the dump in progress (removed again if it fails) */
const made: string[] = [];

/**
 * The link remap of file entry `id` (at `p`, without " (deleted)") held open by the tool at `fd`:
 * a new name next to it, its own REG entry, the LINKED remap. Refused without --link-remap.
 */
export function dumpLinkRemap(env: { files: FileTable; extra: ExtraImages }, who: string, id: number, p: string, fd: number): void {
  if (!regDumpOptions().linkRemap) {
    throw new FileError(who, `Can't create link remap for ${p}. Use --link-remap option.`, {
      object: p,
      hint: 'its name was removed but it is still linked elsewhere; with --link-remap the dump gives it a name link_remap.N in its directory, which the restore removes',
    });
  }
  const lid = env.files.allocId();
  let dir = path.dirname(p);
  let name: string;
  for (;;) {
    name = path.join(dir, `link_remap.${lid}`);
    try {
      linkOpenFile(fd, toolPath(name));
      break;
    } catch (e) {
      const code = e instanceof SysError ? e.code : '';
      if (code !== 'ENOENT' || dir === '/') {
        throw new FileError(who, `Can't link remap to ${p}: ${(e as Error).message}`, {
          object: name,
          hint: code === 'EXDEV' || code === 'EROFS' ? 'the file system must be writable' : undefined,
        });
      }
      dir = path.dirname(dir); // the directory is gone too: the grand parent (CRIU's trim_last_parent)
    }
  }
  made.push(name);
  log.info(`${who}: link remap ${p} -> ${name}`);
  const reg: RegFileEntry = { id: lid, flags: 0, pos: 0n, fown: zeroFown(), name };
  env.files.add({ type: FdTypes.REG, id: lid, reg });
  const rpe: RemapFilePathEntry = { orig_id: id, remap_id: lid, remap_type: RemapType.LINKED };
  env.extra.add('REMAP_FPATH', REMAP_FPATH, rpe);
}

/** After a dump: the names stay for the restore, unless the dump failed or the tree runs on (-R). */
export function afterDumpLinkRemaps(ok: boolean): void {
  const drop = !ok || regDumpOptions().leaveRunning;
  for (const n of made.splice(0)) {
    if (!drop) continue;
    try {
      fs.unlinkSync(toolPath(n));
      log.info(`Removed link remap ${n}`);
    } catch (e) {
      log.warn(`Failed to clean up link remap ${n}: ${(e as Error).message}`);
    }
  }
}

// ---------------------------------------------------------------- restore

/** The link_remap names the restore used: removed when it succeeded. */
export type LinkedState = Set<string>;

/**
 * `open(at)` on the file of a LINKED remap: linked at its old path `reg.name` (or
 * `<path>.cr_link`), opened there, the name removed again.
 */
export function openLinked(ctx: RestoreFdCtx, reg: RegFileEntry, remapId: number, s: LinkedState, who: string, open: (at: string) => number): number {
  const target = ctx.file(remapId)?.reg?.name;
  if (!target)
    throw new FileError(who, `the link remap ${remapId} of ${reg.name} is not in files.img`, { object: `file id ${remapId}`, hint: 'the image is damaged' });
  s.add(target);
  let at = reg.name;
  const made = mkParents(path.dirname(at), who);
  try {
    try {
      fs.linkSync(toolPath(target), toolPath(at));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      at = `${reg.name}.cr_link`; // another file has that name now (CRIU's fake link)
      fs.linkSync(toolPath(target), toolPath(at));
    }
  } catch (e) {
    rmParents(made);
    throw new FileError(who, `cannot link ${target} to ${reg.name}: ${(e as Error).message}`, {
      object: target,
      hint: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the link_remap file the dump made is gone' : undefined,
    });
  }
  try {
    return open(at);
  } finally {
    fs.unlinkSync(toolPath(at));
    rmParents(made);
  }
}

/** Removes the link_remap names once the restore succeeded. */
export function closeLinked(s: LinkedState, failed: boolean): void {
  if (!failed) {
    for (const n of s) {
      try {
        fs.unlinkSync(toolPath(n));
        log.info(`Unlink remap ${n}`);
      } catch (e) {
        log.warn(`Couldn't unlink remap ${n}: ${(e as Error).message}`);
      }
    }
  }
  s.clear();
}

/** The parent directories of a path made for it (CRIU's make_parent_dirs_if_need), deepest last. */
export function mkParents(dir: string, who: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(toolPath(d)); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      fs.mkdirSync(toolPath(d));
    } catch (e) {
      rmParents(missing.slice(0, missing.indexOf(d)));
      throw new FileError(who, `cannot make the directory ${d}: ${(e as Error).message}`, { object: d });
    }
  }
  return missing;
}

export function rmParents(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      fs.rmdirSync(toolPath(d));
    } catch {
      /* not empty or gone */
    }
  }
}
