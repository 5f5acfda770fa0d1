// --status-fd (util.c status_ready): the status-ready action, then one '\0' byte on the fd, which
// is closed. CRIU 4.2 calls it from criu service, page-server and lazy-pages only; dump, restore
// and check accept the option and never write to it.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setStatusFd, statusReady } from '../src/status.js';
import { addScript, resetNotify } from '../src/notify.js';
import { criu, tmpdir } from './lib.js';

test('statusReady runs status-ready, writes one NUL byte to the status fd and closes it', () => {
  const dir = tmpdir('status-fd');
  const seen = path.join(dir, 'seen');
  const s = path.join(dir, 's.sh');
  fs.writeFileSync(s, `#!/bin/sh\necho "$CRTOOLS_SCRIPT_ACTION" >> ${seen}\n`, { mode: 0o755 });
  const file = path.join(dir, 'status');
  const fd = fs.openSync(file, 'w');
  resetNotify();
  addScript(s);
  try {
    setStatusFd(fd);
    expect(statusReady()).toBe(0);
  } finally {
    resetNotify();
  }
  expect(fs.readFileSync(seen, 'utf8')).toBe('status-ready\n');
  expect([...fs.readFileSync(file)]).toEqual([0]);
  expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  // once only: the fd is gone, a second call writes nothing
  expect(statusReady()).toBe(0);
  expect(fs.readFileSync(file).length).toBe(1);
});

test('a failing status-ready script: no byte is written', () => {
  const dir = tmpdir('status-fd-fail');
  const s = path.join(dir, 's.sh');
  fs.writeFileSync(s, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
  const file = path.join(dir, 'status');
  const fd = fs.openSync(file, 'w');
  resetNotify();
  addScript(s);
  try {
    setStatusFd(fd);
    expect(statusReady()).toBe(-1);
  } finally {
    resetNotify();
    setStatusFd(-1);
    fs.closeSync(fd);
  }
  expect(fs.readFileSync(file).length).toBe(0);
});

test('criu check --status-fd takes the option and writes nothing, as CRIU 4.2', () => {
  const dir = tmpdir('status-fd-check');
  const r = criu(['check', '--status-fd', '1', '-D', dir]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).not.toContain('\0');
});
