// Mapping kinds the dump reads from VmFlags (CRIU's parse_vmflags): locked memory becomes
// MAP_LOCKED in the vma_entry flags; hugetlb mappings and aio rings are refused by name. Hugetlb
// pages are not reserved on this machine (nr_hugepages 0), so those mappings are given as smaps
// text; the locked and THP cases also run for real in zdtm mlock00.
import { test, expect } from '@playwright/test';
import { parseSmaps } from '../src/proc/maps.js';
import { toVmaRecs, MAP } from '../src/dump/vmas.js';

const smaps = (head: string, flags: string): string =>
  `${head}\nSize:                  2048 kB\nRss:                      0 kB\nLocked:                   0 kB\nVmFlags: ${flags}\n`;

const none = (): number => {
  throw new Error('no file expected');
};

test('a locked anonymous VMA is MAP_LOCKED in its vma_entry; one without "lo" is not', () => {
  const v = parseSmaps(
    smaps('7f0000000000-7f0000200000 rw-p 00000000 00:00 0 ', 'rd wr mr mw me lo ac') +
      smaps('7f0000300000-7f0000500000 rw-p 00000000 00:00 0 ', 'rd wr mr mw me ac hg'),
  );
  const r = toVmaRecs(1, v, none);
  expect(r[0].flags & MAP.LOCKED).toBe(MAP.LOCKED);
  expect(r[0].flags & (MAP.PRIVATE | MAP.ANON)).toBe(MAP.PRIVATE | MAP.ANON);
  expect(r[1].flags & MAP.LOCKED).toBe(0);
  // MADV_HUGEPAGE: bit 14 of the madvise bitmap
  expect(r[1].madv).toBe(1n << 14n);
});

test('a hugetlb mapping is refused by name', () => {
  const v = parseSmaps(smaps('7f0000000000-7f0000200000 rw-s 00000000 00:10 4321 /anon_hugepage (deleted)', 'rd wr sh mr mw me ms de ht'));
  expect(() => toVmaRecs(1, v, none)).toThrow(/not supported yet: task 1: VMA 7f0000000000-7f0000200000 .*: a hugetlb mapping \(MAP_HUGETLB/);
});

test('an aio ring is refused by name', () => {
  const v = parseSmaps(smaps('7f0000000000-7f0000002000 rw-s 00000000 00:12 77 /[aio] (deleted)', 'rd wr sh mr mw me ms dc de'));
  expect(() => toVmaRecs(1, v, none)).toThrow(/not supported yet: task 1: VMA 7f0000000000-7f0000002000 .*: an aio ring \(io_setup\)/);
});
