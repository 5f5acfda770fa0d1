// The bench's pure parts: medians and spreads, formatting, tables, targets, the plot, the
// breakdown of a MISS. No test here measures or asserts a time of the machine.
import { test, expect } from '@playwright/test';
import { median, spread, fmtS, fmtSpread, fmtBytes, mbps, fmtPct, fmtRatio, mdTable, textTable, judge } from '../lib/stats.mjs';
import { niceTicks, plotSvg } from '../lib/svg.mjs';
import { breakdown } from '../run.mjs';

test.describe('median and spread', () => {
  test('odd, even, unsorted, with missing values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
    expect(median([null, 2, undefined, NaN, 4])).toBe(3);
    expect(median([])).toBeNull();
    expect(median([null])).toBeNull();
  });
  test('spread gives min, max, median and relative spread', () => {
    expect(spread([2, 1, 3])).toEqual({ n: 3, min: 1, max: 3, median: 2, rel: 1 });
    expect(spread([0.5])).toEqual({ n: 1, min: 0.5, max: 0.5, median: 0.5, rel: 0 });
    expect(spread([null, undefined])).toBeNull();
    expect(spread([0, 0]).rel).toBe(0);
  });
});

test.describe('formatting', () => {
  test('seconds', () => {
    expect(fmtS(0.00123)).toBe('0.0012');
    expect(fmtS(0.1234)).toBe('0.123');
    expect(fmtS(1.5)).toBe('1.500');
    expect(fmtS(12.34)).toBe('12.3');
    expect(fmtS(null)).toBe('–');
    expect(fmtS(NaN)).toBe('–');
  });
  test('a spread as median (min–max), one sample as the median alone', () => {
    expect(fmtSpread(spread([0.3, 0.1, 0.2]))).toBe('0.200 (0.100–0.300)');
    expect(fmtSpread(spread([0.2]))).toBe('0.200');
    expect(fmtSpread(spread([0.2, 0.2]))).toBe('0.200');
    expect(fmtSpread(null)).toBe('–');
  });
  test('bytes, rates, percentages, ratios', () => {
    expect(fmtBytes(512)).toBe('512 B');
    expect(fmtBytes(2048)).toBe('2.0 KiB');
    expect(fmtBytes(64 * 2 ** 20)).toBe('64.0 MiB');
    expect(fmtBytes(2 * 2 ** 30)).toBe('2.00 GiB');
    expect(mbps(1e9, 2)).toBe(500);
    expect(mbps(0, 2)).toBeNull();
    expect(mbps(1e9, null)).toBeNull();
    expect(fmtPct(0.456)).toBe('46%');
    expect(fmtPct(null)).toBe('–');
    expect(fmtRatio(1, 2)).toBe('0.50×');
    expect(fmtRatio(1, 0)).toBe('–');
    expect(fmtRatio(null, 1)).toBe('–');
  });
});

test.describe('tables', () => {
  test('markdown: header, alignment row, escaped cells, missing cells', () => {
    const t = mdTable(
      ['a', 'b'],
      [
        ['x|y', 1],
        [null, 'z\nw'],
      ],
      'lr',
    );
    expect(t.split('\n')).toEqual(['| a | b |', '| --- | ---: |', '| x\\|y | 1 |', '| – | z w |', '']);
  });
  test('text: padded columns, right alignment, a rule under the header', () => {
    const t = textTable(
      ['name', 'n'],
      [
        ['ab', '1'],
        ['c', '100'],
      ],
      'lr',
    );
    expect(t.split('\n')).toEqual(['name    n', '----  ---', 'ab      1', 'c     100', '']);
  });
});

test.describe('targets', () => {
  test('an upper bound: equal is OK, over or unmeasured is a MISS', () => {
    expect(judge(0.38, 0.38)).toBe('OK');
    expect(judge(0.2, 0.38)).toBe('OK');
    expect(judge(0.381, 0.38)).toBe('MISS');
    expect(judge(null, 0.38)).toBe('MISS');
    expect(judge(NaN, 0.38)).toBe('MISS');
  });
  const ctx = {
    ceil: { pcwriteGBs: 4, touchGBs: 0.5, memcpyGBs: 10 },
    startup: { ours: { median: 0.2 }, node: { median: 0.1 }, loadTool: { median: 0.15 } },
    binName: { ours: 'criu' },
  };
  const sp = (x: number) => spread([x]);
  test('a dump breakdown: parts from the measurements, largest first, each with its numbers', () => {
    const s = { bin: 'ours', bytes: sp(1e9), dump: sp(1.0), memdump: sp(0.5), collect: sp(0.1), freezing: sp(0.01) };
    const parts = breakdown(s, 'dump', ctx, 0.38);
    // memory 0.5, start-up 0.2, the rest 0.14, collect 0.1, import 0.15 - 0.1 (node), freezing 0.01
    const want = [0.5, 0.2, 0.14, 0.1, 0.05, 0.01];
    parts.forEach((p, i) => expect(p.s).toBeCloseTo(want[i], 9));
    expect(parts[0].what).toContain('2.00 GB/s = 50% of the 4.00 GB/s page-cache-write ceiling');
    expect(parts[0].close).toContain('0.250 s');
    const rest = parts.find((p) => p.what.startsWith('the rest'));
    expect(rest.s).toBeCloseTo(1.0 - 0.5 - 0.1 - 0.01 - 0.2 - 0.05, 9);
  });
  test('a restore bound by first touch says the limit is out of reach on this machine', () => {
    const s = { bin: 'ours', bytes: sp(1e9), restore: sp(3), restoreMem: sp(2.5) };
    const [top] = breakdown(s, 'restore', ctx, 0.53);
    expect(top.s).toBe(2.5);
    expect(top.close).toContain('takes 2.000 s, over the 0.530 s limit');
  });
  test('start-up over the limit is named as such', () => {
    const s = { bin: 'ours', bytes: sp(1e6), dump: sp(0.3), memdump: sp(0.01), collect: sp(0.01), freezing: sp(0.001) };
    const su = breakdown(s, 'dump', ctx, 0.1).find((p) => p.what.startsWith('start-up'));
    expect(su.close).toContain('start-up alone is over the 0.100 s limit');
  });
});

test.describe('plot', () => {
  test('nice ticks cover the maximum in 1-2-5 steps', () => {
    expect(niceTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(7.3)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });
  test('the SVG is one well-formed document with a legend entry and a point per value', () => {
    const svg = plotSvg({
      title: 'a < b & c',
      series: [
        {
          label: 'dump',
          color: '#00f',
          points: [
            { x: 64, y: 0.5, lo: 0.4, hi: 0.6 },
            { x: 512, y: 1 },
            { x: 2048, y: NaN },
          ],
        },
        { label: 'others', color: '#f00', line: false, marker: 'square', points: [{ x: 4, y: 2, tag: 'fds' }] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg.match(/<circle /g)).toHaveLength(2);
    expect(svg.match(/<rect x=/g)).toHaveLength(3); // the frame, one square and its legend mark
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg).toContain('>dump</text>');
    expect(svg).not.toContain('NaN');
  });
});

test.describe('verdicts by ratio (--vs)', () => {
  test('ours ÷ theirs: OK at ≤ 1.0, the second mark at ≤ 0.8, MISS above or without a value', async () => {
    const { judgeRatio } = await import('../lib/stats.mjs');
    expect(judgeRatio(0.5, 1)).toEqual({ ratio: 0.5, verdict: 'OK ≤0.8' });
    expect(judgeRatio(0.8, 1).verdict).toBe('OK ≤0.8');
    expect(judgeRatio(0.9, 1).verdict).toBe('OK');
    expect(judgeRatio(1, 1).verdict).toBe('OK');
    expect(judgeRatio(1.01, 1).verdict).toBe('MISS');
    expect(judgeRatio(null, 1)).toEqual({ ratio: null, verdict: 'MISS' });
    expect(judgeRatio(1, null).verdict).toBe('MISS');
    expect(judgeRatio(1, 0).verdict).toBe('MISS');
  });
});

test('with --vs each workload is judged by ours ÷ theirs for dump, frozen time and restore', async () => {
  const { ratioVerdicts } = await import('../run.mjs');
  const m = (median: number) => ({ median });
  const sums = [
    { workload: 'a', bin: 'ours', dump: m(0.7), frozenR: m(0.9), restore: m(1.2), answer: m(1) },
    { workload: 'a', bin: 'vs', dump: m(1), frozenR: m(1), restore: m(1), answer: m(2) },
    { workload: 'b', bin: 'ours', dump: m(1) },
    { workload: 'b', bin: 'vs', dump: m(1) },
  ];
  const [a, b] = ratioVerdicts([{ name: 'a' }, { name: 'b' }], sums);
  expect(a.verdicts).toEqual({ dump: 'OK ≤0.8', frozenR: 'OK', restore: 'MISS' });
  expect([a.dump, a.frozenR, a.restore, a.answer]).toEqual(['0.70×', '0.90×', '1.20×', '0.50×']);
  // a measure either side lacks (a refused restore) is no win
  expect(b.verdicts).toEqual({ dump: 'OK', frozenR: 'MISS', restore: 'MISS' });
});

test('--scaling: one chart per parameter (memory, tasks, VMAs), a dump and a restore line for each binary', async () => {
  const { scalingPlots, SCALING } = await import('../run.mjs');
  const sums = SCALING.flatMap((w: { name: string; x: number }) =>
    ['ours', 'vs'].map((bin) => ({ workload: w.name, bin, dump: spread([w.x / 100]), restore: spread([w.x / 50]) })),
  );
  const plots = scalingPlots(sums, ['ours', 'vs'], '2026-12-07');
  expect(Object.keys(plots).sort()).toEqual(['memory', 'tasks', 'vmas']);
  for (const svg of Object.values(plots) as string[]) {
    for (const l of ['ours: dump', 'ours: restore', 'vs: dump', 'vs: restore']) expect(svg).toContain(l);
    expect(svg.match(/<svg/g)?.length).toBe(1);
  }
  expect(plots.tasks).toContain('processes (log scale)');
  // a binary with no measurement on an axis draws no line there
  expect(
    scalingPlots(
      sums.filter((s: { workload: string; bin: string }) => !(s.bin === 'vs' && s.workload.startsWith('vmas'))),
      ['ours', 'vs'],
      'd',
    ).vmas,
  ).not.toContain('vs: dump');
});
