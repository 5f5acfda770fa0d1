// A process whose main thread called pthread_exit() while its other threads run on shows as a
// zombie in /proc: it must not be dumped as one (its live threads would be lost). The dump
// refuses it by name and the tree runs on, untraced.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { criu, tmpdir, waitFile, alive, waitGone } from './lib.js';

// MODE "root": the main thread of the started process exits; "child": that of a forked child,
// the root sleeps. The pid file gets the root's pid, then the process whose leader is dead.
const PROG = `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void *spin(void *a) { for (;;) pause(); return a; }
static void leaderless(const char *pidfile, pid_t root) {
  pthread_t t;
  pthread_create(&t, 0, spin, 0);
  FILE *f = fopen(pidfile, "w"); fprintf(f, "%d %d\\n", root, getpid()); fclose(f);
  pthread_exit(0);
}
int main(int argc, char **argv) {
  if (fork()) return 0;
  setsid();
  if (!strcmp(argv[1], "root")) leaderless(argv[2], getpid());
  pid_t root = getpid();
  if (fork() == 0) leaderless(argv[2], root);
  for (;;) pause();
}
`;

for (const mode of ['root', 'child']) {
  test(`a ${mode} whose main thread exited while a thread runs on is refused by name, and runs on`, async () => {
    const dir = tmpdir(`zleader-${mode}`);
    fs.writeFileSync(path.join(dir, 'p.c'), PROG);
    execFileSync('gcc', ['-O2', '-pthread', '-o', path.join(dir, 'p'), path.join(dir, 'p.c')]);
    const pidfile = path.join(dir, 'pid');
    execFileSync(path.join(dir, 'p'), [mode, pidfile], { stdio: 'ignore' });
    const [root, leaderless] = (await waitFile(pidfile)).trim().split(' ').map(Number);
    try {
      for (let i = 0; i < 200 && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${leaderless}/status`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
      const threads = fs
        .readdirSync(`/proc/${leaderless}/task`)
        .map(Number)
        .filter((t) => t !== leaderless);
      expect(threads).toHaveLength(1);
      const d = criu(['dump', '-t', String(root), '-D', path.join(dir, 'img')]);
      expect(d.code).toBe(1);
      expect(d.stderr).toContain(`not supported yet: task ${leaderless}: its main thread has exited while thread ${threads[0]} runs on`);
      expect(fs.existsSync(path.join(dir, 'img', 'inventory.img'))).toBe(false);
      for (const t of threads) expect(fs.readFileSync(`/proc/${leaderless}/task/${t}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);
      expect(alive(root)).toBe(true);
    } finally {
      for (const p of [leaderless, root]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await waitGone(root);
    }
  });
}
