// Image layer: every CRIU 4.2 fixture decodes fully and re-encodes to the same bytes,
// the decoded values match what the fixtures README and dump.log state, and the
// reader/writer/JSON helpers behave.
import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import os from 'node:os';
import { tmpdir } from './lib.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import {
  IMAGE_KINDS,
  ImageError,
  ImageWriter,
  dictToMessage,
  encodeImage,
  encodeMessage,
  decodeMessage,
  decodeCarefully,
  messageInfo,
  hasMessage,
  imageBytesToJson,
  imageToDict,
  imageToJsonPieces,
  jsonToImageBytes,
  kindForFileName,
  messageToDict,
  openImage,
  parseImage,
  parseJson,
  readImage,
  readMessages,
  readSingle,
  stringifyJson,
  unknownFields,
  writeImage,
  writePagemap,
  readPagemapLoose,
  type CoreEntry,
  type FileEntry,
  type FdinfoEntry,
  type FsEntry,
  type InventoryEntry,
  type MmEntry,
  type PagemapEntry,
  type PagemapHead,
  type PstreeEntry,
  type TaskKobjIdsEntry,
} from '../src/images/index.js';
import { tryFastDecode } from '../src/images/fast-decode.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'criu-4.2');
const DIRS = ['mem', 'threads', 'tree'] as const;

const PE_PARENT = 1;
const PE_LAZY = 2;
const PE_PRESENT = 4;

function imageFiles(dir: string): string[] {
  // Fails (ENOENT) when the fixtures are missing: that is a test failure, not a skip.
  return fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter((f) => (f.endsWith('.img') || f.startsWith('stats-')) && !/^pages-\d+\.img$/.test(f))
    .sort();
}

function fx(dir: string, file: string): string {
  return path.join(FIXTURES, dir, file);
}

function tmpDir(): string {
  return tmpdir('images');
}

test('fixtures directory exists', () => {
  expect(fs.existsSync(FIXTURES), `missing ${FIXTURES}`).toBe(true);
  for (const d of DIRS) expect(fs.existsSync(path.join(FIXTURES, d, 'pstree.img')), `${d}/pstree.img`).toBe(true);
});

for (const dir of DIRS) {
  test(`${dir}: every image decodes with no unknown field and re-encodes to the same bytes`, () => {
    const files = imageFiles(dir);
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) {
      const p = fx(dir, f);
      const orig = fs.readFileSync(p);
      const img = readImage(p);
      expect(img.entries.length, f).toBeGreaterThan(0);
      expect(kindForFileName(f)?.name, f).toBe(img.kind.name);
      const unknown = img.entries.flatMap((e) => unknownFields(e.type, e.msg));
      expect(unknown, `${f}: unknown fields`).toEqual([]);
      expect(encodeImage(img.kind, img.entries).equals(orig), `${f}: typed re-encode`).toBe(true);
      // per-message round trip through the codec too
      for (const e of img.entries) {
        const again = decodeMessage(e.type, encodeMessage(e.type, e.msg));
        expect(again, `${f}: message round trip`).toEqual(e.msg);
      }
    }
  });

  test(`${dir}: crit JSON (plain and pretty) encodes back to the same bytes`, () => {
    for (const f of imageFiles(dir)) {
      const orig = fs.readFileSync(fx(dir, f));
      for (const pretty of [false, true]) {
        const json = imageBytesToJson(orig, { pretty });
        const back = jsonToImageBytes(json);
        expect(back.equals(orig), `${f} pretty=${pretty}`).toBe(true);
        // the JSON itself is stable
        expect(stringifyJson(parseJson(json), pretty ? 4 : undefined)).toBe(json);
      }
    }
  });

  test(`${dir}: streaming reader matches the whole-file reader`, () => {
    for (const f of imageFiles(dir)) {
      const whole = readImage(fx(dir, f)).entries;
      const r = openImage(fx(dir, f));
      let i = 0;
      for (const e of r) {
        expect(e.msg).toEqual(whole[i].msg);
        i++;
      }
      expect(i).toBe(whole.length);
    }
  });
}

test('inventory: img_version 2, own magic only', () => {
  for (const d of DIRS) {
    const raw = fs.readFileSync(fx(d, 'inventory.img'));
    expect(raw.readUInt32LE(0)).toBe(0x58313116);
    const inv = readSingle<InventoryEntry>(fx(d, 'inventory.img'));
    expect(inv.img_version).toBe(2);
  }
  const stats = fs.readFileSync(fx('mem', 'stats-dump'));
  expect(stats.readUInt32LE(0)).toBe(0x55105940);
  expect(stats.readUInt32LE(4)).toBe(0x57093306);
});

test('mem: one task 3999102, pagemap covers ~8 MiB of PE_LAZY|PE_PRESENT pages', () => {
  const ps = readMessages<PstreeEntry>(fx('mem', 'pstree.img'));
  expect(ps).toHaveLength(1);
  expect(ps[0]).toMatchObject({ pid: 3999102, ppid: 0, threads: [3999102] });

  const core = readSingle<CoreEntry>(fx('mem', 'core-3999102.img'));
  expect(core.mtype).toBe(1); // X86_64
  expect(core.tc?.comm).toBe('fixture-prog');
  expect(core.thread_info?.gpregs).toBeDefined();

  const img = readImage(fx('mem', 'pagemap-3999102.img'));
  expect(img.kind.name).toBe('PAGEMAP');
  const head = img.entries[0].msg as unknown as PagemapHead;
  expect(img.entries[0].type).toBe('pagemap_head');
  expect(head.pages_id).toBe(1);
  const pms = img.entries.slice(1).map((e) => e.msg as unknown as PagemapEntry);
  let present = 0n;
  let lazy = 0n;
  for (const pm of pms) {
    expect(pm.compat_nr_pages ?? 0).toBe(0);
    const n = BigInt(pm.nr_pages ?? 0);
    if (pm.flags! & PE_PRESENT) present += n;
    if (pm.flags! & PE_LAZY && pm.flags! & PE_PRESENT) lazy += n;
    expect(pm.flags! & PE_PARENT).toBe(0);
  }
  const MiB = 1024n * 1024n;
  expect(lazy * 4096n).toBeGreaterThanOrEqual(8n * MiB);
  expect(lazy * 4096n).toBeLessThan(9n * MiB);
  // present pages lie in pages-1.img, in order, one 4 KiB page each
  expect(BigInt(fs.statSync(fx('mem', 'pages-1.img')).size)).toBe(present * 4096n);
  const pretty = imageBytesToJson(fs.readFileSync(fx('mem', 'pagemap-3999102.img')), { pretty: true });
  expect(pretty).toContain('"flags": "PE_LAZY | PE_PRESENT"');

  const mm = readSingle<MmEntry>(fx('mem', 'mm-3999102.img'));
  const VVAR = 1 << 12;
  const vvar = (mm.vmas ?? []).filter((v) => v.status & VVAR);
  expect(vvar).toHaveLength(1);
  expect(vvar[0].end - vvar[0].start).toBe(24n * 1024n);
  const big = (mm.vmas ?? []).find((v) => v.end - v.start === 8n * MiB);
  expect(big, '8 MiB anonymous VMA').toBeDefined();
  const mmJson = imageBytesToJson(fs.readFileSync(fx('mem', 'mm-3999102.img')), { pretty: true });
  expect(mmJson).toContain('"flags": "MAP_PRIVATE | MAP_ANON"');
  expect(mmJson).toContain('"prot": "PROT_READ | PROT_WRITE"');
});

test('threads: task 3999202 with threads 3999203, 3999205-3999207', () => {
  const ps = readMessages<PstreeEntry>(fx('threads', 'pstree.img'));
  expect(ps).toHaveLength(1);
  expect(ps[0].pid).toBe(3999202);
  expect(ps[0].threads).toEqual([3999202, 3999203, 3999205, 3999206, 3999207]);
  const cores = fs.readdirSync(path.join(FIXTURES, 'threads')).filter((f) => f.startsWith('core-'));
  expect(cores.sort()).toEqual(ps[0].threads!.map((t) => `core-${t}.img`).sort());
  for (const t of ps[0].threads!) {
    const core = readSingle<CoreEntry>(fx('threads', `core-${t}.img`));
    expect(core.thread_core, `core-${t}`).toBeDefined();
    // task-wide state lives in the leader's core only
    if (t === 3999202) expect(core.tc).toBeDefined();
    else expect(core.tc).toBeUndefined();
  }
});

test('tree: 3999302 and two children, pipes, 42 pipe bytes, file.dat at 4096', () => {
  const ps = readMessages<PstreeEntry>(fx('tree', 'pstree.img'));
  expect(ps.map((p) => p.pid)).toEqual([3999302, 3999303, 3999304]);
  expect(ps[0]).toMatchObject({ ppid: 0, pgid: 3999302, sid: 3999302 });
  for (const child of ps.slice(1)) expect(child.ppid).toBe(3999302);

  // three fd tables
  const fdTables = fs.readdirSync(path.join(FIXTURES, 'tree')).filter((f) => f.startsWith('fdinfo-'));
  expect(fdTables).toHaveLength(3);
  const ids = readSingle<TaskKobjIdsEntry>(fx('tree', 'ids-3999302.img'));
  const fds = readMessages<FdinfoEntry>(fx('tree', `fdinfo-${ids.files_id}.img`));
  expect(fds.map((f) => f.fd)).toEqual([0, 1, 2, 4, 5, 7, 8, 9]);

  const files = readMessages<FileEntry>(fx('tree', 'files.img'));
  const dat = files.find((f) => f.reg?.name === '/tmp/criu-fixture/data/file.dat');
  expect(dat, 'file.dat entry').toBeDefined();
  expect(dat!.reg!.pos).toBe(4096n);
  expect(dat!.reg!.size).toBe(8192n);
  const fd9 = fds.find((f) => f.fd === 9)!;
  expect(fd9.id).toBe(dat!.id);

  const pd = readImage(fx('tree', 'pipes-data.img'));
  const full = pd.entries.filter((e) => (e.msg.bytes as number) > 0);
  expect(full).toHaveLength(1);
  expect(full[0].msg.bytes).toBe(42);
  expect(full[0].blob?.length).toBe(42);
  expect(full[0].blob!.subarray(0, 41).toString()).toBe('unread data that must survive in the pipe');
  const pipeIds = new Set(files.filter((f) => f.pipe).map((f) => f.pipe!.pipe_id));
  expect(pipeIds.has(full[0].msg.pipe_id as number)).toBe(true);

  const fsE = readSingle<FsEntry>(fx('tree', 'fs-3999302.img'));
  expect(files.find((f) => f.id === fsE.cwd_id)?.reg?.name).toBe('/tmp/criu-fixture');
});

test('magic table: names, messages, file name patterns', () => {
  for (const k of IMAGE_KINDS) if (k.message) expect(hasMessage(k.message), k.name).toBe(true);
  const cases: Array<[string, string | undefined]> = [
    ['core-12.img', 'CORE'],
    ['pagemap-12.img', 'PAGEMAP'],
    ['pagemap-shmem-77.img', 'PAGEMAP'],
    ['pages-3.img', 'PAGES'],
    ['stats-dump', 'STATS'],
    ['stats-restore', 'STATS'],
    ['inventory.img', 'INVENTORY'],
    ['fdinfo-2.img', 'FDINFO'],
    ['files.img', 'FILES'],
    ['ids-5.img', 'IDS'],
    ['pipes-data.img', 'PIPES_DATA'],
    ['ghost-file-1a.img', 'GHOST_FILE'],
    ['eventpoll-tfd.img', 'EVENTPOLL_TFD'],
    ['netns-ct-3.img', 'NETNF_CT'],
    ['netns-3.img', 'NETNS'],
    ['timens-0.img', 'TIMENS'],
    ['seccomp.img', 'SECCOMP'],
    ['whatever.txt', undefined],
  ];
  for (const [name, kind] of cases) expect(kindForFileName(name)?.name, name).toBe(kind);
  expect(kindForFileName('pages-1.img')?.raw).toBe(true);
});

test('writer: mode 0600, header by file name, payloads checked', () => {
  const dir = tmpDir();
  try {
    const p = writeImage(dir, 'pstree.img', [{ pid: 10, ppid: 0, pgid: 10, sid: 10, threads: [10, 11] } satisfies PstreeEntry]);
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    const raw = fs.readFileSync(p);
    expect(raw.readUInt32LE(0)).toBe(0x54564319);
    expect(raw.readUInt32LE(4)).toBe(0x50273030);
    // levels (our field 16 for pid namespaces) decodes as an empty repeated field
    expect(readMessages<PstreeEntry>(p)).toEqual([{ pid: 10, ppid: 0, pgid: 10, sid: 10, threads: [10, 11], levels: [] }]);

    const inv = writeImage(dir, 'inventory.img', [{ img_version: 2 }]);
    expect(fs.readFileSync(inv).readUInt32LE(0)).toBe(0x58313116);
    const st = writeImage(dir, 'stats-dump', [{}]);
    expect(fs.readFileSync(st).readUInt32LE(0)).toBe(0x55105940);

    // pagemap: head first, then entries
    const w = ImageWriter.create(path.join(dir, 'pagemap-10.img'));
    w.write({ pages_id: 1 });
    for (let i = 0; i < 1000; i++) w.write({ vaddr: BigInt(i) * 0x10000n, compat_nr_pages: 0, nr_pages: 1n, flags: PE_PRESENT });
    w.close();
    const pm = readImage(path.join(dir, 'pagemap-10.img'));
    expect(pm.entries).toHaveLength(1001);
    expect(pm.entries[1000].msg).toMatchObject({ vaddr: 999n * 0x10000n, nr_pages: 1n, flags: PE_PRESENT });

    // pipe data with its payload
    const data = Buffer.from('hello pipe');
    writeImage(dir, 'pipes-data.img', [{ pipe_id: 5, bytes: data.length }], { blobs: [data] });
    const pd = readImage(path.join(dir, 'pipes-data.img'));
    expect(pd.entries[0].blob?.equals(data)).toBe(true);
    expect(() => writeImage(dir, 'pipes-data.img', [{ pipe_id: 5, bytes: 3 }])).toThrow(ImageError);
    expect(() => writeImage(dir, 'pstree.img', [{ pid: 1 }])).toThrow(/missing required field ppid/);
    expect(() => writeImage(dir, 'unknown-thing.bin', [{}])).toThrow(ImageError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reader errors are ImageErrors naming file and offset', () => {
  const core = fs.readFileSync(fx('mem', 'core-3999102.img'));
  const cases: Array<[Buffer, RegExp]> = [
    [core.subarray(0, 30), /x\.img: offset 8: entry length \d+ goes past the end of the file/],
    [core.subarray(0, 6), /x\.img: offset 0: file too short/],
    [core.subarray(0, 10), /x\.img: offset 8: truncated entry/],
    [Buffer.from([0x19, 0x43, 0x56, 0x54, 1, 2, 3, 4]), /x\.img: offset 4: unknown magic 0x04030201/],
    [Buffer.concat([core.subarray(0, 8), Buffer.from([3, 0, 0, 0, 0xff, 0xff, 0xff])]), /x\.img: offset 8: bad core_entry entry/],
    [Buffer.concat([core.subarray(0, 8), Buffer.from([2, 0, 0, 0, 0x0f, 0x00])]), /x\.img: offset 8: bad core_entry entry: invalid wire type 7/],
  ];
  for (const [buf, re] of cases) {
    let err: unknown;
    try {
      parseImage(buf, { name: 'x.img' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  }
  expect(() => parseImage(core, { expect: 'MM', name: 'x.img' })).toThrow(/wrong magic: this is a CORE image, expected MM/);
  expect(() => readImage(fx('mem', 'pages-1.img'))).toThrow(/unknown magic/);
  expect(() => readImage(path.join(FIXTURES, 'no-such.img'))).toThrow(/no such file/);
});

test('unknown fields are kept, reported and re-encoded', () => {
  const known = encodeMessage('pstree_entry', { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1] });
  const extra = Buffer.from([0x98, 0x06, 0x2a]); // field 99, varint 42
  const buf = Buffer.concat([known, extra]);
  const msg = decodeMessage('pstree_entry', buf);
  expect(unknownFields('pstree_entry', msg)).toEqual(['pstree_entry#99']);
  expect(encodeMessage('pstree_entry', msg).equals(buf)).toBe(true);
  // nested, and enum values outside the enum
  const fe = decodeMessage('file_entry', encodeMessage('file_entry', { type: 99, id: 1 }));
  expect(unknownFields('file_entry', fe)).toEqual(['file_entry.type=99']);
});

test('JSON: 64-bit values exact, hex/dev/ip/enum formatting round-trips', () => {
  const vma = {
    start: 0xffffffffff600000n,
    end: 0xffffffffffffffffn,
    pgoff: 0n,
    shmid: 0n,
    prot: 5,
    flags: 0x22,
    status: ((1 << 31) | 1 | 0x40000) >>> 0,
    fd: -1n,
  };
  const plain = messageToDict('vma_entry', vma);
  expect(stringifyJson(plain)).toContain('"end": 18446744073709551615');
  const pretty = messageToDict('vma_entry', vma, true);
  expect(pretty).toMatchObject({
    start: '0xffffffffff600000',
    end: '0xffffffffffffffff',
    prot: 'PROT_READ | PROT_EXEC',
    flags: 'MAP_PRIVATE | MAP_ANON',
    status: 'VMA_AREA_REGULAR | VMA_UNSUPP | 0x40000',
  });
  for (const d of [plain, pretty]) {
    const back = dictToMessage('vma_entry', parseJson(stringifyJson(d)) as Record<string, never>);
    expect(back).toEqual(vma);
  }

  // IPv4 and IPv6 addresses, dict names
  const sk = decodeMessage(
    'inet_sk_entry',
    encodeMessage('inet_sk_entry', {
      id: 1,
      ino: 2,
      family: 10,
      type: 1,
      proto: 6,
      state: 10,
      src_port: 80,
      dst_port: 0,
      flags: 0,
      backlog: 5,
      src_addr: [0, 0, 0, 0x01000000],
      dst_addr: [0x0200000a],
      fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 },
      opts: { so_sndbuf: 1, so_rcvbuf: 2, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n },
    }),
  );
  const d = messageToDict('inet_sk_entry', sk, true);
  expect(d).toMatchObject({ family: 'INET6', type: 'STREAM', proto: 'TCP', state: 'LISTEN', src_addr: ['::1'], dst_addr: ['10.0.0.2'] });
  expect(encodeMessage('inet_sk_entry', dictToMessage('inet_sk_entry', d)).equals(encodeMessage('inet_sk_entry', sk))).toBe(true);

  // ghost file dev numbers
  const g = { uid: 0, gid: 0, mode: 0o100644, dev: (8 << 20) | 3, rdev: 0x0801 };
  const gd = messageToDict('ghost_file_entry', g, true);
  expect(gd).toMatchObject({ dev: '8:3', rdev: '8:1' });
  expect(dictToMessage('ghost_file_entry', gd)).toMatchObject(g);

  // bytes: base64 in 76-column lines like Python's encodebytes
  const sa = messageToDict('aa_policy', { name: 'p', blob: Buffer.alloc(100, 1) });
  expect((sa.blob as string).split('\n').map((l) => l.length)).toEqual([76, 60, 0]);
});

test('payload-carrying image kinds round-trip through bytes and crit JSON', () => {
  const desc = { key: 1, uid: 0, gid: 0, cuid: 0, cgid: 0, mode: 0o600, id: 7 };
  const tcp = { inq_len: 3, inq_seq: 1, outq_len: 5, outq_seq: 2, opt_mask: 0x7, snd_wscale: 7, mss_clamp: 1460 };
  const msg1 = encodeMessage('ipc_msg', { mtype: 1n, msize: 5 });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(msg1.length);
  const cases: Array<{ kind: string; entries: Array<{ msg: object; blob?: Buffer }>; check?: (j: Record<string, unknown>) => void }> = [
    { kind: 'FIFO_DATA', entries: [{ msg: { pipe_id: 3, bytes: 4 }, blob: Buffer.from('abcd') }] },
    { kind: 'SK_QUEUES', entries: [{ msg: { id_for: 2, length: 2 }, blob: Buffer.from([1, 2]) }] },
    {
      kind: 'TCP_STREAM',
      entries: [{ msg: tcp, blob: Buffer.from('inqoutqq') }],
      check: (j) => expect(j.extra).toEqual({ inq: Buffer.from('inq').toString('base64') + '\n', outq: Buffer.from('outqq').toString('base64') + '\n' }),
    },
    {
      kind: 'IPCNS_SEM',
      entries: [{ msg: { desc, nsems: 3 }, blob: Buffer.from([1, 0, 2, 0, 3, 0, 0, 0]) }],
      check: (j) => expect(j.extra).toEqual([1, 2, 3]),
    },
    { kind: 'IPCNS_SHM', entries: [{ msg: { desc, size: 5n }, blob: Buffer.from('hello\0\0\0') }, { msg: { desc, size: 4096n, in_pagemaps: true } }] },
    { kind: 'IPCNS_MSG', entries: [{ msg: { desc, qbytes: 100, qnum: 1 }, blob: Buffer.concat([len, msg1, Buffer.from('hello\0\0\0')]) }] },
    { kind: 'GHOST_FILE', entries: [{ msg: { uid: 0, gid: 0, mode: 0o100600, size: 6n }, blob: Buffer.from('ghost!') }] },
    {
      kind: 'GHOST_FILE',
      entries: [
        { msg: { uid: 0, gid: 0, mode: 0o100600, chunks: true, size: 8192n } },
        { msg: { len: 2n, off: 0n }, blob: Buffer.from('ab') },
        { msg: { len: 3n, off: 4096n }, blob: Buffer.from('cde') },
      ],
    },
    { kind: 'BPFMAP_DATA', entries: [{ msg: { map_id: 1, keys_bytes: 2, values_bytes: 2, count: 1 }, blob: Buffer.from([1, 2, 3, 4]) }] },
  ];
  for (const c of cases) {
    const bytes = encodeImage(c.kind, c.entries);
    const img = parseImage(bytes, { name: c.kind });
    expect(img.kind.name).toBe(c.kind);
    expect(img.entries.map((e) => e.blob?.toString('hex'))).toEqual(c.entries.map((e) => e.blob?.toString('hex')));
    expect(encodeImage(img.kind, img.entries).equals(bytes), c.kind).toBe(true);
    for (const pretty of [false, true]) {
      const json = imageBytesToJson(bytes, { pretty });
      expect(jsonToImageBytes(json).equals(bytes), `${c.kind} json pretty=${pretty}`).toBe(true);
      if (c.check) c.check((JSON.parse(json) as { entries: Array<Record<string, unknown>> }).entries[0]);
    }
  }
});

test('crit decode text built entry by entry is the text of the whole tree, and decodes many large entries in bounded memory', () => {
  for (const mode of ['mem', 'threads', 'tree']) {
    const dir = path.join(FIXTURES, mode);
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.img') && !x.startsWith('pages-'))) {
      const img = readImage(path.join(dir, f));
      for (const indent of [undefined, 4]) {
        const pretty = indent !== undefined;
        expect(imageToJsonPieces(img.kind, img.entries, { pretty }, indent).join(''), `${mode}/${f}`).toBe(
          stringifyJson(imageToDict(img.kind, img.entries, { pretty }), indent),
        );
      }
    }
  }
  // no entries at all
  const empty = parseImage(encodeImage('SECCOMP', []));
  for (const indent of [undefined, 4]) {
    expect(imageToJsonPieces(empty.kind, empty.entries, {}, indent).join('')).toBe(stringifyJson(imageToDict(empty.kind, empty.entries), indent));
  }
  // an mm entry with as many VMAs as vm.max_map_count allows (65530): its text, in bounded memory
  const mm = readSingle<MmEntry>(path.join(FIXTURES, 'mem', 'mm-3999102.img'));
  const fixtureVmas = mm.vmas ?? [];
  expect(fixtureVmas.length).toBeGreaterThan(0);
  const vmas = Array.from({ length: 65530 }, (_, i) => ({ ...fixtureVmas[i % fixtureVmas.length], start: BigInt(i) * 8192n, end: BigInt(i) * 8192n + 4096n }));
  const mmDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crit-many-vmas-'));
  try {
    writeImage(mmDir, 'mm-1.img', [{ ...mm, vmas }]);
    const r = spawnSync(
      process.execPath,
      ['--max-old-space-size=256', path.join(repoRoot, 'criu', 'bin', 'crit.js'), 'decode', '--pretty', '-i', path.join(mmDir, 'mm-1.img')],
      { maxBuffer: 1 << 30 },
    );
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).entries[0].vmas).toHaveLength(65530);
  } finally {
    fs.rmSync(mmDir, { recursive: true, force: true });
  }
  // 3000 copies of a core entry (a fuzz case that exhausted a 256 MiB heap): crit decodes it
  const core = fs.readFileSync(path.join(FIXTURES, 'mem', 'core-3999102.img'));
  const len = core.readUInt32LE(8);
  const big = Buffer.concat([core.subarray(0, 8), ...Array.from({ length: 3000 }, () => core.subarray(8, 12 + len))]);
  const file = path.join(os.tmpdir(), `crit-big-core-${process.pid}.img`);
  fs.writeFileSync(file, big);
  try {
    const r = spawnSync(process.execPath, ['--max-old-space-size=256', path.join(repoRoot, 'criu', 'bin', 'crit.js'), 'decode', '-i', file], {
      maxBuffer: 1 << 30,
    });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(JSON.parse(r.stdout.toString()).entries).toHaveLength(3000);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('the encoder writes nested messages in place: lengths of 1, 2 and 3 bytes, 64-bit values, as protobufjs does', async () => {
  const { encodeMessage, decodeMessage } = await import('../src/images/index.js');
  const { createRequire } = await import('node:module');
  const req = createRequire(import.meta.url);
  const protobuf = req('protobufjs');
  const pbDir = path.join(path.dirname(req.resolve('protobufjs/package.json')), 'google', 'protobuf');
  const root = new protobuf.Root();
  root.resolvePath = (_o: string, t: string) =>
    t.startsWith('google/protobuf/') ? path.join(pbDir, t.slice('google/protobuf/'.length)) : path.join(repoRoot, 'proto', path.basename(t));
  root.loadSync(path.join(repoRoot, 'proto', 'fdinfo.proto'), { keepCase: true });
  const T = root.lookupType('file_entry');
  for (const n of [10, 200, 20000]) {
    const msg = {
      type: 1,
      id: 7,
      reg: { id: 7, flags: 0o2, pos: 0x1f_ffff_ffff_ffn, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 }, name: 'x'.repeat(n), size: 2n ** 63n + 5n },
    };
    const ours = encodeMessage('file_entry', msg);
    const theirs = Buffer.from(T.encode(T.fromObject({ ...msg, reg: { ...msg.reg, pos: msg.reg.pos.toString(), size: msg.reg.size.toString() } })).finish());
    expect(ours.toString('hex'), `name of ${n} bytes`).toBe(theirs.toString('hex'));
    const back = decodeMessage<{ reg: { name: string; size: bigint } }>('file_entry', ours);
    expect(back.reg.name.length).toBe(n);
    expect(BigInt(back.reg.size)).toBe(2n ** 63n + 5n);
  }
});

test('the fast decoder takes every well-formed entry and agrees with the careful one; anything else goes the careful way', () => {
  let n = 0;
  for (const dir of DIRS)
    for (const f of imageFiles(dir))
      for (const e of readImage(fx(dir, f)).entries) {
        const body = encodeMessage(e.type, e.msg);
        const fast = tryFastDecode(messageInfo(e.type), body, 0, body.length);
        expect(fast, `${dir}/${f}: ${e.type} went the careful way`).not.toBeNull();
        expect(fast, `${dir}/${f}: ${e.type}`).toEqual(decodeCarefully(e.type, body));
        n++;
      }
  expect(n).toBeGreaterThan(100);
  // negative int32 (a 10-byte varint), packed and unpacked repeated, sint, bool, 2-byte tags
  const odd: Array<[string, Record<string, unknown>]> = [
    ['pstree_entry', { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1, 300, 70000] }],
    [
      'timerfd_entry',
      {
        id: 1,
        flags: 2,
        fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 5 },
        clockid: 0,
        ticks: 2n ** 63n,
        settime_flags: 1,
        vsec: 1n,
        vnsec: 2n,
        isec: 0n,
        insec: 0n,
        abs_sec: 2n ** 40n,
        abs_nsec: 5n,
      },
    ],
    ['autofs_entry', { fd: -1, pgrp: -300, timeout: 0, minproto: 3, maxproto: 5, mode: -2147483648, uid: 2147483647 }],
    // 64-bit values around the decoder's number/bigint border (seven varint bytes: below 2^49)
    [
      'vma_entry',
      {
        start: 2n ** 47n - 4096n,
        end: 2n ** 49n - 1n,
        pgoff: 2n ** 49n,
        shmid: 2n ** 53n + 1n,
        prot: 0xffffffff,
        flags: 1,
        status: 2,
        fd: -1,
        madv: 2n ** 64n - 1n,
      },
    ],
  ];
  for (const [type, m] of odd) {
    const body = encodeMessage(type, m);
    const fast = tryFastDecode(messageInfo(type), body, 0, body.length);
    expect(fast, type).not.toBeNull();
    expect(fast).toEqual(decodeCarefully(type, body));
  }
  // a uint32 written as a wider varint (5 to 8 bytes) keeps its low 32 bits, as protobuf does
  for (const wide of [2 ** 32 + 7, 2 ** 40 + 2 ** 33 + 5, 2 ** 48 + 3, 2 ** 52 + 9]) {
    const v: number[] = [];
    for (let x = BigInt(wide); ; x >>= 7n) {
      if (x < 0x80n) {
        v.push(Number(x));
        break;
      }
      v.push(Number(x & 0x7fn) | 0x80);
    }
    const body = Buffer.from([0x08, ...v, 0x10, ...v, 0x18, 1, 0x20, 1]);
    const fast = tryFastDecode(messageInfo('pstree_entry'), body, 0, body.length);
    expect(fast, String(wide)).toEqual(decodeCarefully('pstree_entry', body));
    expect(fast).toMatchObject({ pid: wide % 2 ** 32, ppid: wide % 2 ** 32 });
  }
  // an unknown field, a truncated entry, a missing required field: the careful way
  const known = encodeMessage('pstree_entry', { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1] });
  expect(tryFastDecode(messageInfo('pstree_entry'), Buffer.concat([known, Buffer.from([0x98, 0x06, 0x2a])]), 0, known.length + 3)).toBeNull();
  expect(tryFastDecode(messageInfo('pstree_entry'), known, 0, known.length - 1)).toBeNull();
  const noPid = encodeMessage('pstree_entry', { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [] }).subarray(2);
  expect(tryFastDecode(messageInfo('pstree_entry'), noPid, 0, noPid.length)).toBeNull();
  expect(() => decodeMessage('pstree_entry', noPid)).toThrow(/missing required field pid/);
});

test('pagemap-N.img is written and read in one loop as the encoder and decoder would, and the unusual entries go their careful way', () => {
  const dir = tmpdir('pagemap-fast');
  const head: PagemapHead = { pages_id: 3 };
  const usual: PagemapEntry[] = [
    { vaddr: 0x400000n, compat_nr_pages: 1 },
    { vaddr: 0x7ffff7dd0000n, compat_nr_pages: 300, flags: 2 },
    { vaddr: 0x7ffff7f00000n, compat_nr_pages: 0, in_parent: true, flags: 6, nr_pages: 2n ** 40n },
    { vaddr: 2n ** 53n - 4096n, compat_nr_pages: 0xffffffff, in_parent: false },
  ];
  // beyond 2^53: the encoder's way (exact bigints)
  const unusual: PagemapEntry[] = [...usual, { vaddr: 2n ** 60n, compat_nr_pages: 1, nr_pages: 2n ** 63n }];
  for (const [name, entries] of [
    ['pagemap-1.img', usual],
    ['pagemap-2.img', unusual],
  ] as const) {
    writePagemap(dir, name, { head, entries });
    const want = encodeImage('PAGEMAP', [{ msg: head }, ...entries.map((msg) => ({ msg }))]);
    expect(fs.readFileSync(path.join(dir, name)).equals(want), name).toBe(true);
    expect(readPagemapLoose(path.join(dir, name))).toEqual({ head, entries });
    expect(readPagemapLoose(path.join(dir, name)).entries).toEqual(readMessages(path.join(dir, name)).slice(1));
  }
  // a wrong entry is still named by the encoder
  expect(() => writePagemap(dir, 'pagemap-3.img', { head, entries: [{ vaddr: 1n, compat_nr_pages: -1 }] })).toThrow(/compat_nr_pages/);
});
