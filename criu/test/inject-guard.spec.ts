// Arguments for injected calls go into the task's scratch area; more than it holds is refused
// before anything is written (it would land on the task's own memory).
import { test, expect } from '@playwright/test';
import { Injector } from '../src/ptrace/inject.js';
import type { Tracee } from '../src/ptrace/tracee.js';

test('an argument block longer than the scratch area is refused, one that fits is not', () => {
  const written: number[] = [];
  const inj = new Injector({ tid: 4242 } as unknown as Tracee, 0n);
  inj.scratch = 0x10000n;
  inj.scratchSize = 4 * 4096;
  expect(() => inj.write(0x10000n + 4096n, Buffer.alloc(3 * 4096 + 1))).toThrow(
    'task 4242: 12289 bytes of arguments at scratch+4096 overrun its 16384-byte area',
  );
  // a block that fits goes on to process_vm_writev (which fails here: there is no task 4242)
  try {
    inj.write(0x10000n, Buffer.alloc(4 * 4096));
  } catch (e) {
    written.push(1);
    expect(String(e)).not.toContain('overrun');
  }
  expect(written.length).toBeLessThanOrEqual(1);
});
