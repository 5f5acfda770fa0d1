// crit: CRIU image tool (decode/encode/show/info and the `x` explorers),
// command-line compatible with CRIU's crit.
import fs from 'node:fs';
import path from 'node:path';
import { CriuError, describe } from '../errors.js';
import {
  ImageError,
  jsonToImageBytes,
  openImage,
  ImageReader,
  imageToJsonPieces,
  messageToDict,
  readImage,
  readSingle,
  readMessagesOf,
  readPagemapLoose,
  type CoreEntry,
  type FileEntry,
  type FsEntry,
  type ImageEntry,
  type MmEntry,
  type PstreeEntry,
  type RegFileEntry,
  type TaskKobjIdsEntry,
  type UnixSkEntry,
  type VmaEntry,
  enumInfo,
} from '../images/index.js';

const VERSION = '4.2';

const USAGE = `usage: crit [-h] [--version] {decode,encode,info,x,show} ...`;

const HELP = `${USAGE}

CRiu Image Tool

positional arguments:
  {decode,encode,info,x,show}
                        Use crit CMD --help for command-specific help
    decode              convert criu image from binary type to json
    encode              convert criu image from json type to binary
    info                show info about image
    x                   explore image dir
    show                convert criu image from binary to human-readable json

options:
  -h, --help            show this help message and exit
  --version             show program's version number and exit
`;

const SUB_HELP: Record<string, string> = {
  decode: `usage: crit decode [-h] [--pretty] [-i IN] [-o OUT]

options:
  -h, --help         show this help message and exit
  --pretty           Multiline with indents and some numerical fields in field-specific format
  -i IN, --in IN     criu image in binary format to be decoded (stdin by default)
  -o OUT, --out OUT  where to put criu image in json format (stdout by default)
`,
  encode: `usage: crit encode [-h] [-i IN] [-o OUT]

options:
  -h, --help         show this help message and exit
  -i IN, --in IN     criu image in json format to be encoded (stdin by default)
  -o OUT, --out OUT  where to put criu image in binary format (stdout by default)
`,
  info: `usage: crit info [-h] in

positional arguments:
  in

options:
  -h, --help  show this help message and exit
`,
  x: `usage: crit x [-h] [-o OUT] dir {ps,fds,mems,rss,plan,html}

positional arguments:
  dir
  {ps,fds,mems,rss,plan,html}

options:
  -h, --help         show this help message and exit
  -o OUT, --out OUT  where to put the html page (stdout by default)
`,
  show: `usage: crit show [-h] [--nopl] in

positional arguments:
  in

options:
  -h, --help  show this help message and exit
  --nopl      do not show entry payload (if exists)
`,
};

/** A user-facing failure: printed as "crit: message", exit status 1. */
export class CritError extends CriuError {}

interface Opts {
  cmd: string;
  in?: string;
  out?: string;
  pretty: boolean;
  nopl: boolean;
  dir?: string;
  what?: string;
  help: boolean;
  version: boolean;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { cmd: '', pretty: false, nopl: false, help: false, version: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (name: string): string => {
      const eq = a.indexOf('=');
      if (a.startsWith('--') && eq > 0) return a.slice(eq + 1);
      if (!a.startsWith('--') && a.length > 2) return a.slice(2);
      if (i + 1 >= argv.length) throw new CritError(`argument ${name}: expected one argument`);
      return argv[++i];
    };
    if (a === '-h' || a === '--help') o.help = true;
    else if (a === '--version' && !o.cmd) o.version = true;
    else if (!o.cmd && !a.startsWith('-')) o.cmd = a;
    else if (a === '--pretty' && o.cmd === 'decode') o.pretty = true;
    else if (a === '--nopl' && o.cmd === 'show') o.nopl = true;
    else if ((o.cmd === 'decode' || o.cmd === 'encode') && (a === '-i' || a.startsWith('--in') || (a.startsWith('-i') && a.length > 2))) {
      if (a.startsWith('--') && !/^--in(=|$)/.test(a)) throw new CritError(`unrecognized arguments: ${a}`);
      o.in = value('-i/--in');
    } else if ((o.cmd === 'decode' || o.cmd === 'encode' || o.cmd === 'x') && (a === '-o' || a.startsWith('--out') || (a.startsWith('-o') && a.length > 2))) {
      if (a.startsWith('--') && !/^--out(=|$)/.test(a)) throw new CritError(`unrecognized arguments: ${a}`);
      o.out = value('-o/--out');
    } else if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    } else if (a.startsWith('-') && a !== '-') throw new CritError(`unrecognized arguments: ${a}`);
    else positional.push(a);
  }
  if (o.help || o.version) return o;
  switch (o.cmd) {
    case '':
      throw new CritError('too few arguments (try crit --help)');
    case 'decode':
    case 'encode':
      if (positional.length) throw new CritError(`unrecognized arguments: ${positional.join(' ')}`);
      break;
    case 'info':
    case 'show':
      if (positional.length !== 1) throw new CritError(`${o.cmd}: expected one image file argument`);
      o.in = positional[0];
      if (o.cmd === 'show') o.pretty = true;
      break;
    case 'x':
      if (positional.length !== 2) throw new CritError('x: expected an images directory and one of ps, fds, mems, rss, plan, html');
      [o.dir, o.what] = positional;
      if (!['ps', 'fds', 'mems', 'rss', 'plan', 'html'].includes(o.what)) {
        throw new CritError(`argument what: invalid choice: '${o.what}' (choose from 'ps', 'fds', 'mems', 'rss', 'plan', 'html')`);
      }
      if (o.out !== undefined && o.what !== 'html') throw new CritError(`argument -o/--out: only x DIR html writes to a file, not x DIR ${o.what}`);
      break;
    default:
      throw new CritError(`invalid choice: '${o.cmd}' (choose from 'decode', 'encode', 'info', 'x', 'show')`);
  }
  return o;
}

async function readInput(file: string | undefined): Promise<Buffer> {
  if (file !== undefined) {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new CritError(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function writeStdout(data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.write(data, () => resolve());
  });
}

/** Writes the data (or its pieces, in batches of about 1 MiB) to the file, or to stdout. */
async function writeOutput(file: string | undefined, data: string | Buffer | string[]): Promise<void> {
  const batches: (string | Buffer)[] = [];
  if (Array.isArray(data)) {
    let cur: string[] = [],
      size = 0;
    for (const p of data) {
      cur.push(p);
      size += p.length;
      if (size >= 1 << 20) {
        batches.push(cur.join(''));
        cur = [];
        size = 0;
      }
    }
    if (cur.length) batches.push(cur.join(''));
  } else batches.push(data);
  if (file === undefined) {
    for (const b of batches) await writeStdout(b);
    return;
  }
  try {
    const fd = fs.openSync(file, 'w');
    try {
      for (const b of batches) fs.writeFileSync(fd, b);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    throw new CritError(`${file}: ${(e as Error).message}`);
  }
}

async function decode(o: Opts): Promise<void> {
  // entries are decoded and turned into text one at a time; nothing is written before the
  // whole image decoded, so a bad entry leaves no half a JSON behind
  const r = o.in !== undefined ? openImage(o.in, { name: o.in }) : ImageReader.fromBuffer(await readInput(undefined), { name: '<stdin>' });
  let pieces: string[];
  try {
    pieces = imageToJsonPieces(r.kind, r, { pretty: o.pretty, nopl: o.nopl }, o.pretty ? 4 : undefined);
  } catch (e) {
    // a value the JSON cannot show (an enum value the schema does not know): name the file
    if (e instanceof ImageError && !e.file) throw new ImageError(e.message, o.in ?? '<stdin>');
    throw e;
  }
  if (o.out === undefined) pieces.push('\n');
  await writeOutput(o.out, pieces);
}

async function encode(o: Opts): Promise<void> {
  const buf = await readInput(o.in);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new CritError('cannot read JSON: input is not UTF-8 text (encode expects what decode printed, not a binary image)');
  }
  const img = jsonToImageBytes(text);
  await writeOutput(o.out, img);
}

async function info(o: Opts): Promise<void> {
  const r = openImage(o.in!, { name: o.in });
  let count = r.count();
  if (r.kind.layout === 'pagemap') count = Math.max(0, count - 1);
  await writeStdout(`{\n    "magic": "${r.kind.name}",\n    "count": ${count}\n}\n`);
}

// ---------------------------------------------------------------- explorers

function pad(s: string | number | bigint, w: number, left = false): string {
  const t = String(s);
  return left ? t.padEnd(w) : t.padStart(w);
}

function hexs(v: number | bigint): string {
  return BigInt(v).toString(16);
}

class Explorer {
  private files: FileEntry[] | undefined;
  private typeImages = new Map<string, Array<Record<string, unknown>>>();
  private cache = new Map<string, string>();
  private readonly fdTypeName: Map<number, string>;

  constructor(readonly dir: string) {
    this.fdTypeName = enumInfo('fd_types').byValue;
  }

  img(name: string): ImageEntry[] {
    return readImage(path.join(this.dir, name), { name }).entries;
  }

  single<T>(name: string): T {
    return readSingle<T>(path.join(this.dir, name), { name });
  }

  pstree(): PstreeEntry[] {
    return readMessagesOf(path.join(this.dir, 'pstree.img'), 'PSTREE', { name: 'pstree.img' });
  }

  private filesImg(): FileEntry[] {
    if (!this.files) {
      // images older than files.img keep each type in its own image: fall back to those only
      // when files.img is absent, not when it is damaged
      this.files = fs.existsSync(path.join(this.dir, 'files.img')) ? readMessagesOf(path.join(this.dir, 'files.img'), 'FILES', { name: 'files.img' }) : [];
    }
    return this.files;
  }

  /** The sub-object of a files.img entry, or an entry of the old per-type image. */
  private find(field: keyof FileEntry, imgName: string, id: number): Record<string, unknown> | undefined {
    const files = this.filesImg();
    if (files.length) {
      const f = files.find((x) => x.id === id);
      if (f) return f[field] as Record<string, unknown> | undefined;
    }
    let list = this.typeImages.get(imgName);
    if (!list) {
      list = this.img(imgName).map((e) => e.msg);
      this.typeImages.set(imgName, list);
    }
    return list.find((x) => x.id === id);
  }

  fileStr(type: string, id: number): string {
    const key = `${type}/${id}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let s: string;
    if (type === 'REG') {
      const rf = this.find('reg', 'reg-files.img', id) as RegFileEntry | undefined;
      s = rf && rf.name ? rf.name : 'unknown path';
    } else if (type === 'PIPE') {
      const p = this.find('pipe', 'pipes.img', id) as { pipe_id?: number } | undefined;
      s = p && p.pipe_id !== undefined ? `pipe[${p.pipe_id}]` : 'pipe[?]';
    } else if (type === 'UNIXSK') {
      const ux = this.find('usk', 'unixsk.img', id) as UnixSkEntry | undefined;
      if (!ux) s = 'unix[?]';
      else {
        const name = messageToDict('unix_sk_entry', ux).name as string;
        s = `unix[${ux.ino} (${ux.peer})${name ? ' ' + name : ''}]`;
      }
    } else {
      s = `${type}.${id}`;
    }
    this.cache.set(key, s);
    return s;
  }

  fdTypeStr(t: number): string {
    return this.fdTypeName.get(t) ?? String(t);
  }
}

function explorePs(ex: Explorer): string[] {
  interface Node {
    p: PstreeEntry;
    comm: string;
    kids: Node[];
  }
  const nodes = new Map<number, Node>();
  for (const p of ex.pstree()) {
    const core = ex.single<CoreEntry>(`core-${p.pid}.img`);
    nodes.set(p.pid, { p, comm: core.tc?.comm ?? '', kids: [] });
  }
  let root: Node | undefined;
  for (const [i, n] of [...nodes.values()].entries()) {
    if (n.p.ppid === 0) {
      root = n;
      continue;
    }
    const parent = nodes.get(n.p.ppid);
    if (!parent) throw new CritError(`pstree.img: entry ${i}: ppid ${n.p.ppid}: the parent of ${n.p.pid} is not in the tree`);
    parent.kids.push(n);
  }
  const out = [`${pad('PID', 7)}${pad('PGID', 7)}${pad('SID', 7)}   COMM`];
  const show = (n: Node, depth: number): void => {
    out.push(`${pad(n.p.pid, 7)}${pad(n.p.pgid, 7)}${pad(n.p.sid, 7)}   ${' '.repeat(4 * depth)}${n.comm}`);
    for (const k of n.kids) show(k, depth + 1);
  };
  if (!root) throw new CritError('pstree.img: no root task (ppid 0)');
  show(root, 0);
  return out;
}

function exploreFds(ex: Explorer): string[] {
  const out: string[] = [];
  for (const p of ex.pstree()) {
    const ids = ex.single<TaskKobjIdsEntry>(`ids-${p.pid}.img`);
    const fds = readMessagesOf(path.join(ex.dir, `fdinfo-${ids.files_id}.img`), 'FDINFO', { name: `fdinfo-${ids.files_id}.img` });
    out.push(String(p.pid));
    for (const fd of fds) out.push(`\t${pad(fd.fd, 7)}: ${ex.fileStr(ex.fdTypeStr(fd.type), fd.id)}`);
    const fsE = ex.single<FsEntry>(`fs-${p.pid}.img`);
    out.push(`\t${pad('cwd', 7)}: ${ex.fileStr('REG', fsE.cwd_id)}`);
    out.push(`\t${pad('root', 7)}: ${ex.fileStr('REG', fsE.root_id)}`);
  }
  return out;
}

function exploreMems(ex: Explorer): string[] {
  const out: string[] = [];
  const ids = new Map<bigint, number>();
  const vid = (id: bigint): number => {
    let v = ids.get(id);
    if (!v) {
      v = ids.size + 1;
      ids.set(id, v);
    }
    return v;
  };
  for (const p of ex.pstree()) {
    const mm = ex.single<MmEntry>(`mm-${p.pid}.img`);
    out.push(String(p.pid));
    out.push(`\t${pad('exe', 36, true)}    ${ex.fileStr('REG', mm.exe_file_id)}`);
    for (const vma of mm.vmas ?? []) {
      const st = vma.status;
      let fn: string;
      if (st & (1 << 10)) fn = ` ips[${hexs(vid(vma.shmid))}]`;
      else if (st & (1 << 8)) fn = ` shmem[${hexs(vid(vma.shmid))}]`;
      else if (st & (1 << 11)) fn = ` packet[${hexs(vid(vma.shmid))}]`;
      else if (st & ((1 << 6) | (1 << 7))) {
        fn = ' ' + ex.fileStr('REG', Number(vma.shmid));
        if (vma.pgoff) fn += ` + 0x${hexs(vma.pgoff)}`;
        if (st & (1 << 7)) fn += ' (s)';
      } else if (st & (1 << 1)) fn = ' [stack]';
      else if (st & (1 << 2)) fn = ' [vsyscall]';
      else if (st & (1 << 3)) fn = ' [vdso]';
      else if (vma.flags & 0x100) fn = ' [stack?]';
      else fn = '';
      if (!(st & 1)) fn += ' *';
      const prot = (vma.prot & 1 ? 'r' : '-') + (vma.prot & 2 ? 'w' : '-') + (vma.prot & 4 ? 'x' : '-');
      const astr = `${hexs(vma.start).padStart(8, '0')}-${hexs(vma.end).padStart(8, '0')}`;
      out.push(`\t${pad(astr, 36, true)}${prot}${fn}`);
    }
  }
  return out;
}

function exploreRss(ex: Explorer): string[] {
  const out: string[] = [];
  for (const p of ex.pstree()) {
    const vmas: VmaEntry[] = ex.single<MmEntry>(`mm-${p.pid}.img`).vmas ?? [];
    const pms = readPagemapLoose(path.join(ex.dir, `pagemap-${p.pid}.img`), { name: `pagemap-${p.pid}.img` }).entries;
    out.push(String(p.pid));
    let vmi = 0;
    let pvmi = -1;
    for (const pm of pms) {
      const nr = BigInt(pm.nr_pages ?? 0);
      const pstr = `\t${hexs(pm.vaddr)} / ${pad(nr, 8, true)}`;
      while (vmi < vmas.length && vmas[vmi].end <= pm.vaddr) vmi++;
      const pme = pm.vaddr + (nr << 12n);
      let vstr = '';
      while (vmi < vmas.length && vmas[vmi].start < pme) {
        const vma = vmas[vmi];
        if (vmi === pvmi) vstr += ' ~';
        else {
          vstr += ` ${hexs(vma.start).padStart(8, '0')} / ${pad((vma.end - vma.start) >> 12n, 8, true)}`;
          if (vma.status & ((1 << 6) | (1 << 7))) vstr += ' ' + ex.fileStr('REG', Number(vma.shmid));
          pvmi = vmi;
        }
        vstr += '\n\t' + ' '.repeat(23);
        vmi++;
      }
      vmi--;
      out.push(`${pad(pstr, 24, true)}${vstr}`);
    }
  }
  return out;
}

async function explore(o: Opts): Promise<void> {
  if (o.what === 'plan') {
    // what a restore of these images would do, step by step (restore/plan.ts)
    const { loadImages } = await import('../restore/images.js');
    const { planRestore, formatPlan } = await import('../restore/plan.js');
    const img = loadImages(o.dir!);
    await writeStdout(formatPlan(planRestore(img), img));
    return;
  }
  if (o.what === 'html') {
    // one self-contained page of the folder (cli/html.ts)
    const { dumpHtml } = await import('./html.js');
    await writeOutput(o.out, dumpHtml(o.dir!));
    return;
  }
  const ex = new Explorer(o.dir!);
  const fn = { ps: explorePs, fds: exploreFds, mems: exploreMems, rss: exploreRss }[o.what as 'ps'];
  const lines = fn(ex);
  await writeStdout(lines.join('\n') + '\n');
}

/** Runs crit with the given arguments (without "node crit"); returns the exit status. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  try {
    const o = parseArgs(argv);
    if (o.version) {
      await writeStdout(VERSION + '\n');
      return 0;
    }
    if (o.help) {
      await writeStdout(o.cmd && SUB_HELP[o.cmd] ? SUB_HELP[o.cmd] : HELP);
      return 0;
    }
    switch (o.cmd) {
      case 'decode':
      case 'show':
        await decode(o);
        break;
      case 'encode':
        await encode(o);
        break;
      case 'info':
        await info(o);
        break;
      case 'x':
        await explore(o);
        break;
    }
    return 0;
  } catch (e) {
    let msg: string;
    if (e instanceof ImageError || e instanceof CritError) msg = e.message;
    else if (e instanceof CriuError)
      msg = describe(e); // from the image checks of x DIR plan|html
    else if (e instanceof Error && 'code' in e && typeof (e as NodeJS.ErrnoException).code === 'string') msg = e.message;
    else msg = `internal error: ${e instanceof Error ? e.message : String(e)}`;
    if (process.env.CRIT_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.stderr.write(`crit: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

/** Entry point used by criu/bin/crit.js. */
export function run(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`crit: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
