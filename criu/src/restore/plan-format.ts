// The restore plan as text, for people (`crit x DIR plan`).
import type { RestorePlan, PlanTask, PlannedVma, FdStep, PlannedFd } from './plan.js';
import type { DumpImages } from './images.js';

const hx = (v: bigint): string => v.toString(16);
const PROTS = (p: number): string => `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`;

function vmaLine(v: PlannedVma, forked: boolean): string {
  const h = v.how;
  let what: string;
  switch (h.how) {
    case 'special':
      what = `${h.what} (the kernel's)`;
      break;
    case 'anon':
      what = 'anonymous private';
      break;
    case 'anon-moved':
      what = 'anonymous private, mapped elsewhere and moved (keeps its boundary)';
      break;
    case 'file':
      what = `file ${h.shared ? 'shared' : 'private'} id ${h.fileId} ${h.path ?? '?'} pgoff 0x${hx(v.pgoff)}`;
      break;
    case 'memfd':
      what = `memfd id ${h.fileId} pgoff 0x${hx(v.pgoff)}`;
      break;
    case 'socket':
      what = `packet ring of socket id ${h.fileId}`;
      break;
    case 'shmem':
      what = `shared anonymous shmid ${h.shmid}`;
      break;
    case 'sysv':
      what = h.attach
        ? `SysV shm ${h.shmid} attached (shmat${h.write ? '' : ' SHM_RDONLY'})`
        : `SysV shm ${h.shmid}, a later part (protected only) pgoff 0x${hx(v.pgoff)}`;
      break;
    case 'aio':
      what = 'aio ring: an anonymous stand-in, replaced by a new ring (io_setup, mremap)';
      break;
    default:
      what = 'not supported';
  }
  const cow = forked && v.cow && h.how !== 'special' ? ', kept from the parent copy-on-write if inherited' : '';
  return `    ${hx(v.start)}-${hx(v.end)} ${PROTS(v.prot)} ${what}${v.filled ? ', pages' : ''}${cow}`;
}

function fdText(img: DumpImages | undefined, f: PlannedFd): string {
  const e = img?.files.get(f.id);
  const reg = e?.reg;
  const pipe = e?.pipe;
  const extra = reg ? ` ${reg.name}${BigInt(reg.pos ?? 0) ? ` pos ${reg.pos}` : ''}` : pipe ? ` pipe ${pipe.pipe_id}` : '';
  return `${f.fd}=${f.kind} id ${f.id}${extra}${f.cloexec ? ' cloexec' : ''}`;
}

function stepLine(img: DumpImages | undefined, s: FdStep): string {
  if ('single' in s) return `    one fd: ${fdText(img, s.single)}`;
  return `    batch: ${s.batch.map((f) => (f ? fdText(img, f) : 'stand-in')).join(', ')}`;
}

function taskLines(t: PlanTask): string[] {
  const how = t.parent === null ? 'root, made by the launcher' : `forked from ${t.parent}${t.sharesFiles ? ' with CLONE_FILES' : ''}`;
  const out = [`task ${t.pid}: ${how}${t.zombie ? ', zombie' : ''}; threads ${t.threads.join(' ') || '-'}; fd table ${t.filesId ?? '-'}`];
  const sg = [
    t.session ?? '',
    t.joinGroup ? `joins group ${t.joinGroup.pgid}${t.joinGroup.leaderInTree ? '' : ' (through a helper if its leader is gone)'}` : '',
  ].filter(Boolean);
  if (sg.length) out.push(`  session/group: ${sg.join(', ')}`);
  if (!t.sessionOk) out.push("  session: neither its own nor its parent's (refused)");
  if (t.vmas.length) out.push('  vmas:', ...t.vmas.map((v) => vmaLine(v, t.parent !== null)));
  if (t.guards.length)
    out.push(`  guard regions (MADV_GUARD_INSTALL once its memory is in place): ${t.guards.map((g) => `${hx(g.start)}-${hx(g.end)}`).join(' ')}`);
  return out;
}

export function formatPlan(plan: RestorePlan, img?: DumpImages): string {
  const out = [`restore plan of ${plan.dir}`, `fork order: ${plan.order.map((t) => t.pid).join(' ')}`];
  for (const t of plan.order) out.push(...taskLines(t));
  for (const tb of plan.fdTables.values()) {
    out.push(`fd table ${tb.filesId}: installed by ${tb.owner}${tb.users.length > 1 ? `, shared by ${tb.users.slice(1).join(' ')}` : ''}`);
    out.push(...tb.steps.map((s) => stepLine(img, s)));
  }
  out.push(`transport fd: ${plan.transportFd}`);
  for (const s of plan.shared) out.push(`shared file id ${s.id} (${s.kind}): ${s.holders.map((h) => `table ${h.filesId} fd ${h.fd}`).join(', ')}`);
  out.push(
    plan.gadget.hole === null
      ? "gadget: no hole outside the images' VMAs"
      : `gadget: ${plan.gadget.pages / 4096n} pages at 0x${hx(plan.gadget.hole)} (or above, past the puppet's own mappings)`,
  );
  return out.join('\n') + '\n';
}
