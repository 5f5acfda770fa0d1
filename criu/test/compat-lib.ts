// The field-for-field comparison of our images with CRIU's (compat.spec.ts), kept apart so that
// its rules can be tested on synthetic images (xsave.spec.ts).
//
// The xsave part of a core image depends on the CPU: CRIU writes one field per component the
// CPU that dumped has (pkru only with PKU, opmask_reg/zmm_upper/hi16_zmm only with AVX-512 …).
// A component is therefore compared only where both CPUs have it: theirs as their image shows
// it, ours as this CPU's layout says (so a component our CPU has and our dump left out is still
// caught). A one-sided component is dropped from both sides, with its xstate_bv bit.

export type Msg = Record<string, unknown>;

// values that follow addresses, PIDs, time or this machine (its memory size sets RLIMIT_NPROC
// and RLIMIT_SIGPENDING), and pipe inodes
export const VARIES = new RegExp(
  [
    String.raw`(^|\.)(vaddr|nr_pages|start|end|pgoff|shmid|pid|ppid|pgid|sid|threads\[\]|clear_tid_addr|futex_rla|rseq_abi_pointer)$`,
    String.raw`(^|\.)(sigaction|restorer|tv_sec|tv_nsec|dump_criu_run_id|pipe_id|[a-z_]*_time|pages_[a-z_]+|page_pipe[a-z_]*|shpages_[a-z_]+)$`,
    String.raw`^mm_[a-z_]+$`,
    String.raw`^mm_saved_auxv\[\]$`,
    String.raw`^thread_info\.(gpregs|fpregs)\.`,
    String.raw`^tc\.rlimits\.rlimits\[(6|11)\]\.`,
  ].join('|'),
);

/** The xsave components CRIU's image has a field for, with their xstate_bv bit. */
export const XSAVE_FIELDS: Record<string, number> = {
  ymmh_space: 2,
  bndreg_state: 3,
  bndcsr_state: 4,
  opmask_reg: 5,
  zmm_upper: 6,
  hi16_zmm: 7,
  pkru: 9,
};

export function flat(o: unknown, pre = '', out: Record<string, string> = {}): Record<string, string> {
  if (o === null || typeof o !== 'object' || Buffer.isBuffer(o)) {
    out[pre] = Buffer.isBuffer(o) ? o.toString('hex') : String(o);
  } else if (Array.isArray(o)) {
    o.forEach((x, i) => flat(x, `${pre}[${i}]`, out));
  } else {
    for (const [k, v] of Object.entries(o)) flat(v, pre ? `${pre}.${k}` : k, out);
  }
  return out;
}
export const shape = (k: string): string => k.replace(/\[\d+\]/g, '[]');
export const fields = (msgs: Msg[]): string[] => [...new Set(msgs.flatMap((m) => Object.keys(flat(m)).map(shape)))].sort();

type Xsave = Record<string, unknown> & { xstate_bv?: bigint | number | string };
const xsaveOf = (m: Msg): Xsave | undefined => (m as { thread_info?: { fpregs?: { xsave?: Xsave } } }).thread_info?.fpregs?.xsave;

/** The xsave components an image's CPU had: the fields its core entries carry. */
export function imageComponents(msgs: Msg[]): Set<string> {
  const s = new Set<string>();
  // (a repeated field the image does not have decodes as [])
  for (const m of msgs) for (const [k, v] of Object.entries(xsaveOf(m) ?? {})) if (k in XSAVE_FIELDS && (v as unknown[]).length) s.add(k);
  return s;
}

/** A copy of m without the xsave components outside `keep`, nor their xstate_bv bits. */
export function onlyComponents(m: Msg, keep: Set<string>): Msg {
  const xs = xsaveOf(m);
  if (!xs) return m;
  // copied along the path to xsave only: the rest (Buffers included) is shared, unchanged
  const ti = m.thread_info as Msg & { fpregs: Msg };
  const cx: Xsave = { ...xs };
  const copy: Msg = { ...m, thread_info: { ...ti, fpregs: { ...ti.fpregs, xsave: cx } } };
  for (const [field, bit] of Object.entries(XSAVE_FIELDS)) {
    if (keep.has(field)) continue;
    delete cx[field];
    if (cx.xstate_bv !== undefined) {
      const bv = BigInt(cx.xstate_bv) & ~(1n << BigInt(bit));
      cx.xstate_bv = typeof cx.xstate_bv === 'bigint' ? bv : typeof cx.xstate_bv === 'number' ? Number(bv) : String(bv);
    }
  }
  return copy;
}

/**
 * The differences between CRIU's entries of one image file (`theirs`) and ours, as lines naming
 * the file, the entry and the field; [] when they hold. `ourCpu`: the xsave components this
 * CPU has (the fields our dump must write); theirs are read from their image.
 */
export function compareEntries(file: string, theirs: Msg[], ours: Msg[], ourCpu: Set<string>): string[] {
  const both = new Set([...imageComponents(theirs)].filter((c) => ourCpu.has(c)));
  const a = theirs.map((m) => onlyComponents(m, both));
  const b = ours.map((m) => onlyComponents(m, both));
  const out: string[] = [];
  const fa = fields(a),
    fb = fields(b);
  for (const k of fa) if (!fb.includes(k)) out.push(`${file}: field ${k} is missing in ours`);
  for (const k of fb) if (!fa.includes(k)) out.push(`${file}: field ${k} is ours only`);
  // CRIU cuts pagemap entries at its page-pipe buffers (256 pages) and finds a text page
  // COWed by its own parasite code: the entries, and their number, follow addresses
  if (file.startsWith('pagemap-')) return out;
  if (b.length !== a.length) {
    out.push(`${file}: ${b.length} entries in ours, ${a.length} in theirs`);
    return out;
  }
  a.forEach((m, i) => {
    const va = flat(m),
      vb = flat(b[i]);
    for (const k of Object.keys(va)) {
      if (VARIES.test(shape(k)) || VARIES.test(k)) continue;
      if (vb[k] !== va[k]) out.push(`${file} entry ${i} ${k}: ours ${vb[k]}, theirs ${va[k]}`);
    }
    // register values follow the run, but a shared component has as many values on both sides
    const xa = xsaveOf(m),
      xb = xsaveOf(b[i]);
    for (const c of both) {
      const na = (xa?.[c] as unknown[] | undefined)?.length ?? 0,
        nb = (xb?.[c] as unknown[] | undefined)?.length ?? 0;
      if (na && nb && na !== nb) out.push(`${file} entry ${i} thread_info.fpregs.xsave.${c}: ${nb} values in ours, ${na} in theirs`);
    }
  });
  return out;
}

/**
 * The xsave components an image's core entry really uses, in layout order: its xstate_bv bit
 * set and a value other than the init state (zero) or, for pkru, the kernel's default
 * 0x55555554. (The tests' own reading of the rule, to hold the tool's restore against.)
 */
export function componentsInUse(m: Msg): string[] {
  const xs = xsaveOf(m);
  if (!xs) return [];
  const bv = BigInt(xs.xstate_bv ?? 0);
  return Object.entries(XSAVE_FIELDS)
    .filter(([field, bit]) => {
      const vals = (xs[field] as (number | bigint)[] | undefined) ?? [];
      if (!((bv >> BigInt(bit)) & 1n) || !vals.length) return false;
      if (field === 'pkru') return ![0, 0x55555554].includes(Number(vals[0])) || vals.slice(1).some((v) => BigInt(v) !== 0n);
      return vals.some((v) => BigInt(v) !== 0n);
    })
    .map(([field]) => field);
}
