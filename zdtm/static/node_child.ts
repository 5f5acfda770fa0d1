// A child process spawned with pipes keeps its state and answers after the restore.
import { spawn } from 'node:child_process';
import { init, daemon, waitsig, pass, fail, msg, isBreak, withTimeout } from '../lib/zdtm.js';

await init();
const child = spawn(
  process.execPath,
  [
    '-e',
    `
let n = 0, buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    process.stdout.write(++n + ':' + line + ':' + process.pid + '\\n');
  }
});
`,
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
);
child.stdout.setEncoding('utf8');
let exited = false;
child.on('exit', () => {
  exited = true;
});

let pendingLine = '';
const lines: string[] = [];
let waiter: (() => void) | undefined;
child.stdout.on('data', (d: string) => {
  pendingLine += d;
  let i;
  while ((i = pendingLine.indexOf('\n')) >= 0) {
    lines.push(pendingLine.slice(0, i));
    pendingLine = pendingLine.slice(i + 1);
  }
  waiter?.();
});
function ask(q: string): Promise<string> {
  child.stdin.write(q + '\n');
  return withTimeout(
    new Promise<string>((resolve) => {
      const check = () => {
        if (lines.length) {
          waiter = undefined;
          resolve(lines.shift()!);
        }
      };
      waiter = check;
      check();
    }),
    3000,
    'the child',
  );
}

const first = await ask('hello');
if (first !== `1:hello:${child.pid}`) fail(`setup: the child answered '${first}'`);
await daemon();
if (isBreak()) {
  child.kill('SIGKILL');
  msg('break: killed the child');
}
await waitsig();

if (exited) fail(`the child ${child.pid} has exited`);
let answer: string;
try {
  answer = await ask('ping');
} catch {
  fail('the child does not answer');
}
if (answer !== `2:ping:${child.pid}`) fail(`the child answered '${answer}', expected '2:ping:${child.pid}'`);
child.stdin.end();
child.kill();
pass();
