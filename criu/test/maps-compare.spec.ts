// The maps comparison of the tests and the zdtm harness (zdtm/runner/maps.ts): field by field, so
// the kernel's padding of the inode column does not count, and every field does.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import { mapsFields, parseMapsText, sameMaps } from '../../zdtm/runner/maps.js';
import { normMaps } from '../../zdtm/runner/state.js';

// the same VMAs as the kernel prints them for a shmem inode of 7 digits and of 6 digits
const WIDE = [
  '7f0000000000-7f0000004000 rw-s 00000000 00:01 1234567                    /dev/zero (deleted)',
  '7f0000004000-7f0000005000 r--p 00001000 fe:01 42                         /usr/lib/a b.so',
  '7f0000005000-7f0000006000 rw-p 00000000 00:00 0 ',
  '7ffd8fe53000-7ffd8fe74000 rw-p 00000000 00:00 0                          [stack]',
].join('\n');

test('two maps texts that differ only in padding compare equal', () => {
  const narrow = WIDE.replace(/ +/g, ' ').replace(/ $/gm, '');
  expect(narrow).not.toBe(WIDE);
  expect(mapsFields(narrow)).toEqual(mapsFields(WIDE));
  expect(sameMaps(narrow, WIDE)).toBe(true);
  // a path keeps its own blanks
  expect(parseMapsText(WIDE)[1].path).toBe('/usr/lib/a b.so');
  expect(parseMapsText(WIDE)[0]).toMatchObject({ start: 0x7f0000000000n, perms: 'rw-s', dev: '00:01', inode: '1234567', path: '/dev/zero (deleted)' });
});

test('maps that differ in inode, dev, offset, perms, bounds or path do not compare equal', () => {
  const changes: Array<[string, string]> = [
    ['inode', WIDE.replace(' 1234567 ', ' 123456 ')],
    ['dev', WIDE.replace('fe:01', 'fe:02')],
    ['offset', WIDE.replace('r--p 00001000', 'r--p 00002000')],
    ['perms', WIDE.replace('rw-p 00000000 00:00 0 ', 'r--p 00000000 00:00 0 ')],
    ['end', WIDE.replace('7f0000005000-7f0000006000', '7f0000005000-7f0000007000')],
    ['path', WIDE.replace('a b.so', 'a  b.so')],
    ['a VMA less', WIDE.split('\n').slice(1).join('\n')],
  ];
  for (const [what, other] of changes) {
    expect(other, what).not.toBe(WIDE);
    expect(sameMaps(other, WIDE), what).toBe(false);
    expect(mapsFields(other), what).not.toEqual(mapsFields(WIDE));
  }
  // the inode only with its padding changed: equal
  expect(sameMaps(WIDE.replace(' 1234567 ', ' 123456  '), WIDE.replace(' 1234567 ', ' 123456 '))).toBe(true);
  // the harness leaves dev and inode out (a restored shmem object has a new inode)
  expect(sameMaps(changes[0][1], WIDE, ['dev', 'inode'])).toBe(true);
  expect(normMaps(changes[0][1])).toEqual(normMaps(WIDE));
  expect(normMaps(changes[2][1])).not.toEqual(normMaps(WIDE));
});

test('a line that is not a maps line is an error naming it', () => {
  expect(() => mapsFields(`${WIDE}\ngarbage`)).toThrow(/^maps:5: not a \/proc\/PID\/maps line: "garbage"/);
});

test('the real /proc/self/maps parses, and equals itself re-padded', () => {
  const text = fs.readFileSync('/proc/self/maps', 'utf8');
  const e = parseMapsText(text);
  expect(e.length).toBe(text.trim().split('\n').length);
  expect(mapsFields(text.replace(/ {2,}/g, ' '))).toEqual(mapsFields(text));
});
