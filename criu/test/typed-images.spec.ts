// The typed image readers and writers (images/typed.ts): one kind→message list for the magic
// table and the types, a kind check on every read, and round trips on CRIU 4.2's fixtures.
import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  IMAGE_KINDS,
  KIND_MESSAGE,
  ImageError,
  readEntries,
  readOne,
  readMessagesOf,
  readOptional,
  readPagemap,
  writeMessages,
  writePagemap,
} from '../src/images/index.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures', 'criu-4.2');
const TREE = path.join(FIXTURES, 'tree');

test('KIND_MESSAGE names the message of every kind of the magic table, and only those', () => {
  const table = Object.fromEntries(IMAGE_KINDS.filter((k) => !k.raw).map((k) => [k.name, k.message]));
  expect(KIND_MESSAGE).toEqual(table);
});

test('a typed read fails, naming the file, on an image of another kind', () => {
  const core = fs.readdirSync(TREE).find((f) => f.startsWith('core-'))!;
  expect(() => readOne(path.join(TREE, core), 'MM', { name: core })).toThrow(ImageError);
  expect(() => readOne(path.join(TREE, core), 'MM', { name: core })).toThrow(new RegExp(core));
});

test('typed reads give the fixture tree its pstree, cores and pagemaps', () => {
  const pstree = readMessagesOf(path.join(TREE, 'pstree.img'), 'PSTREE');
  expect(pstree.length).toBe(3);
  for (const p of pstree) {
    const core = readOne(path.join(TREE, `core-${p.pid}.img`), 'CORE');
    expect(core.mtype).toBe(1); // x86_64
    const pm = readPagemap(path.join(TREE, `pagemap-${p.pid}.img`));
    expect(pm.head.pages_id).toBeGreaterThan(0);
    expect(pm.entries.length).toBeGreaterThan(0);
    expect(typeof pm.entries[0].vaddr).toBe('bigint');
  }
  expect(readOptional(TREE, 'no-such.img', 'FILES')).toBeNull();
  expect(readOptional(TREE, 'files.img', 'FILES')!.length).toBeGreaterThan(0);
});

test('typed writes round-trip byte for byte', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'typed-'));
  try {
    const files = readEntries(path.join(TREE, 'files.img'), 'FILES');
    writeMessages(
      dir,
      'files.img',
      'FILES',
      files.map((e) => e.msg),
    );
    expect(fs.readFileSync(path.join(dir, 'files.img'))).toEqual(fs.readFileSync(path.join(TREE, 'files.img')));
    expect(fs.statSync(path.join(dir, 'files.img')).mode & 0o777).toBe(0o600);
    const pid = readMessagesOf(path.join(TREE, 'pstree.img'), 'PSTREE')[0].pid;
    const name = `pagemap-${pid}.img`;
    writePagemap(dir, name, readPagemap(path.join(TREE, name)));
    expect(fs.readFileSync(path.join(dir, name))).toEqual(fs.readFileSync(path.join(TREE, name)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
