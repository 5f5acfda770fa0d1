// Mapping kinds the dump reads from VmFlags (CRIU's parse_vmflags): locked memory becomes
// MAP_LOCKED in the vma_entry flags; anonymous hugetlb memory is anonymous with CRIU's
// hugetlb_flag, a mapping of a hugetlbfs file is refused by name. The mappings are given as smaps
// text (a machine may have no huge pages); the locked and THP cases also run for real in zdtm
// mlock00, hugetlb ones in zdtm hugetlb00/01 and aio rings in aio00.
import { test, expect } from '@playwright/test';
import { parseSmaps } from '../src/proc/maps.js';
import { toVmaRecs, MAP, VMA } from '../src/dump/vmas.js';
import { aioNrReqs } from '../src/mem/aio.js';

const smaps = (head: string, flags: string): string =>
  `${head}\nSize:                  2048 kB\nKernelPageSize:        ${flags.includes(' ht') ? 2048 : 4} kB\nRss:                      0 kB\nLocked:                   0 kB\nVmFlags: ${flags}\n`;

// the tests' own pid: toVmaRecs also scans the task's page map for guard regions (it has none)
const ME = process.pid;

const none = (): number => {
  throw new Error('no file expected');
};

test('a locked anonymous VMA is MAP_LOCKED in its vma_entry; one without "lo" is not', () => {
  const v = parseSmaps(
    smaps('7f0000000000-7f0000200000 rw-p 00000000 00:00 0 ', 'rd wr mr mw me lo ac') +
      smaps('7f0000300000-7f0000500000 rw-p 00000000 00:00 0 ', 'rd wr mr mw me ac hg'),
  );
  const r = toVmaRecs(ME, v, none);
  expect(r[0].flags & MAP.LOCKED).toBe(MAP.LOCKED);
  expect(r[0].flags & (MAP.PRIVATE | MAP.ANON)).toBe(MAP.PRIVATE | MAP.ANON);
  expect(r[1].flags & MAP.LOCKED).toBe(0);
  // MADV_HUGEPAGE: bit 14 of the madvise bitmap
  expect(r[1].madv).toBe(1n << 14n);
});

const HUGE_2MB = (MAP.HUGETLB | (21 << 26)) >>> 0;

test('anonymous hugetlb memory is anonymous with MAP_HUGETLB | MAP_HUGE_2MB (shared: a shmem object, private: its own pages)', () => {
  const v = parseSmaps(
    smaps('7f0000000000-7f0000200000 rw-s 00000000 00:10 4321 /anon_hugepage (deleted)', 'rd wr sh mr mw me ms de ht') +
      smaps('7f0000400000-7f0000800000 rw-p 00000000 00:10 4322 /anon_hugepage (deleted)', 'rd wr mr mw me de ht'),
  );
  const [sh, priv] = toVmaRecs(ME, v, none);
  expect(sh.flags >>> 0).toBe((MAP.SHARED | MAP.ANON | HUGE_2MB) >>> 0);
  expect(sh.status).toBe(VMA.REGULAR | VMA.ANON_SHARED);
  expect(sh.shmid).toBe(4321);
  expect(sh.dumpPages).toBe(false);
  expect(priv.flags >>> 0).toBe((MAP.PRIVATE | MAP.ANON | HUGE_2MB) >>> 0);
  expect(priv.status).toBe(VMA.REGULAR | VMA.ANON_PRIVATE);
  expect(priv.dumpPages).toBe(true);
});

test('a mapping of a file on a hugetlbfs mount is refused by name', () => {
  const v = parseSmaps(smaps('7f0000000000-7f0000200000 rw-s 00000000 00:2a 99 /dev/hugepages/x', 'rd wr sh mr mw me ms de ht'));
  expect(() => toVmaRecs(ME, v, none)).toThrow(new RegExp(`not supported yet: task ${ME}: VMA 7f0000000000-7f0000200000 .*: a mapping of a hugetlbfs file`));
});

test("an aio ring's nr_req is what io_setup must be asked to make a ring of that size (CRIU's aio_estimate_nr_reqs)", () => {
  // io_setup(64) on 2 CPUs: 128 + 2 events, 2 pages, 255 events; io_setup(1): 8 * 2 + 2, one page, 127
  expect(aioNrReqs(8192n)).toBe(126);
  expect(aioNrReqs(4096n)).toBe(62);
});
