// One error family: every error the tool raises is a CriuError, which may name the task, the
// object and what to try; errno values are shown by name. Checks the classes, scans the source
// for errors outside the family and numeric errnos, and looks at a few real messages.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CriuError, NotSupportedError, describe } from '../src/errors.js';
import { SysError, errnoName, close, E } from '../src/sys/libc.js';
import { TaskGoneError } from '../src/ptrace/tracee.js';
import { InjectError } from '../src/ptrace/inject.js';
import { ImageError, ProtoError } from '../src/images/errors.js';
import { readSingle } from '../src/images/index.js';
import { ProcGoneError, ProcParseError, readProcText } from '../src/proc/util.js';
import { UsageError, ExitRequest } from '../src/cli/options.js';
import { ConfigFormatError } from '../src/cli/config.js';
import { CritError } from '../src/cli/crit.js';
import { BadImage, checkImages } from '../src/restore/images.js';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const where = { task: 4242, object: 'fd 5', hint: 'try again' };

test('every error class is a CriuError and carries task, object and hint when given', () => {
  const made: [string, Error][] = [
    ['CriuError', new CriuError('m', where)],
    ['NotSupportedError', new NotSupportedError('m', where)],
    ['SysError', new SysError('close', E.EBADF, [5], where)],
    ['TaskGoneError', new TaskGoneError(4242, 'gone', where)],
    ['InjectError', new InjectError(4242, 'mmap', -12n, '', where)],
    ['ImageError', new ImageError('m', 'core-1.img', 3, where)],
    ['ProtoError', new ProtoError('m', 3, where)],
    ['ProcGoneError', new ProcGoneError(4242, '/proc/4242', where)],
    ['ProcParseError', new ProcParseError('/proc/4242/maps', 1, 'x', 'bad', where)],
    ['UsageError', new UsageError('m', undefined, where)],
    ['CritError', new CritError('m', where)],
  ];
  for (const [name, e] of made) {
    expect(e, name).toBeInstanceOf(CriuError);
    expect(e, name).toBeInstanceOf(Error);
    expect(e.constructor.name, name).toBe(name);
    const c = e as InstanceType<typeof CriuError>;
    expect({ task: c.task, object: c.object, hint: c.hint }, name).toEqual(where);
    expect(describe(e), name).toBe(`${e.message} (try again)`);
  }
  // the classes made without explicit details
  expect(new ExitRequest('help')).toBeInstanceOf(CriuError);
  const cfg = new ConfigFormatError('/etc/criu/default.conf', 3, 'x y');
  expect(cfg).toBeInstanceOf(CriuError);
  expect(cfg.object).toBe('/etc/criu/default.conf:3');
  expect(cfg.hint).toBe('/etc/criu/default.conf:3: "x y"');
  const bad = new BadImage('pstree.img', 2, 'ppid', 'is wrong');
  expect(bad).toBeInstanceOf(CriuError);
  expect(bad.message).toBe('bad image: pstree.img: entry 2: ppid is wrong');
  expect(bad.object).toBe('pstree.img: entry 2: ppid');
  expect(bad.hint).toBe('the images are damaged or not CRIU images');
  // details the classes know by themselves
  expect(new TaskGoneError(77, 'x').task).toBe(77);
  expect(new InjectError(77, 'mmap', -12n).task).toBe(77);
  const gone = new ProcGoneError(77, '/proc/77/task/78');
  expect([gone.task, gone.object, gone.code]).toEqual([77, '/proc/77/task/78', 'ESRCH']);
  const parse = new ProcParseError('/proc/77/task/78/stat', 1, 'x', 'bad');
  expect([parse.task, parse.object]).toEqual([78, '/proc/77/task/78/stat:1']);
  expect(new ImageError('m', 'core-1.img', 12).object).toBe('core-1.img: offset 12');
  // a plain hint as the second argument, as before
  const h = new CriuError('m', 'do this');
  expect([h.hint, h.task, h.object, describe(h)]).toEqual(['do this', undefined, undefined, 'm (do this)']);
  expect(describe(new CriuError('m'))).toBe('m');
});

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? sources(p) : d.name.endsWith('.ts') ? [p] : [];
  });
}

test('no error class outside the family, no plain Error thrown, no errno shown as a number (source scan)', () => {
  const files = sources(SRC);
  expect(files.length).toBeGreaterThan(50);
  const found: string[] = [];
  for (const f of files) {
    const rel = path.relative(SRC, f);
    fs.readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        const at = `${rel}:${i + 1}: ${line.trim()}`;
        // the family's root is the one class that extends a built-in error
        if (/\bextends\s+(Error|TypeError|RangeError|SyntaxError)\b/.test(line) && rel !== path.join('sys', 'errors.ts')) found.push(at);
        if (/\bthrow\s+new\s+(Error|TypeError|RangeError|SyntaxError)\s*\(/.test(line)) found.push(at);
        // errnoName's own fallback for a number without a name is the one allowed "errno N"
        if (/errno[\s=:]*\$\{/.test(line) && !/export const errnoName = /.test(line)) found.push(at);
        // "${-r}": a negative syscall result (an errno) put into a message as a number
        if (/\$\{\s*-/.test(line)) found.push(at);
      });
  }
  expect(found).toEqual([]);
});

test('real messages: a failing syscall names its errno, a vanished task, a damaged image', () => {
  expect(errnoName(17)).toBe('EEXIST');
  let e: unknown;
  try {
    close(-1);
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(SysError);
  expect(e).toBeInstanceOf(CriuError);
  expect((e as Error).message).toBe('close(-1): EBADF (Bad file descriptor)');
  expect((e as InstanceType<typeof SysError>).code).toBe('EBADF');

  // a pid that does not exist: above pid_max
  const pid = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1;
  e = undefined;
  try {
    readProcText(pid, 'status');
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(ProcGoneError);
  expect(e).toBeInstanceOf(CriuError);
  expect((e as Error).message).toBe(`task ${pid}: gone (no /proc/${pid})`);
  expect((e as InstanceType<typeof CriuError>).task).toBe(pid);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'errors-spec-'));
  try {
    const f = path.join(dir, 'core-1.img');
    fs.writeFileSync(f, Buffer.from([1, 2, 3]));
    e = undefined;
    try {
      readSingle(f);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ImageError);
    expect(e).toBeInstanceOf(CriuError);
    expect((e as Error).message.startsWith(`${f}: `)).toBe(true);
    expect((e as InstanceType<typeof CriuError>).object?.startsWith(f)).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  e = undefined;
  try {
    checkImages({ dir: '/x', inventory: {}, files: new Map(), tasks: [{ pid: 10, pstree: { threads: [] } }] } as never);
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(CriuError);
  expect(describe(e)).toBe(
    'bad image: pstree.img: entry 0: threads is empty (a task has at least its main thread) (the images are damaged or not CRIU images)',
  );
  expect((e as InstanceType<typeof CriuError>).object).toBe('pstree.img: entry 0: threads');
});
