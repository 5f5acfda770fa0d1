// Bench workload: a Node.js process with a big V8 heap, zdtm-style like wl.c.
//   node heap.mjs MIB --pidfile P --outfile O
// The first process starts the real one detached (its own session, stdio on O) and exits once
// that one has written P. The real one fills MIB of JS arrays of doubles (on the V8 heap), then
// runs: SIGUSR1 is a ping answered by writing "<largest event-loop gap in us>\n" to O.ping,
// SIGTERM verifies the checksum of every array and prints PASS or FAIL.
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const opt = (n) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : undefined;
};
const mib = Number(argv[0]);
const pidfile = opt('--pidfile'),
  outfile = opt('--outfile');
if (!(mib > 0) || !pidfile || !outfile) {
  process.stderr.write('usage: node heap.mjs MIB --pidfile P --outfile O\n');
  process.exit(2);
}

if (!argv.includes('--child')) {
  const out = fs.openSync(outfile, 'a');
  const child = spawn(process.execPath, [`--max-old-space-size=${mib * 2 + 512}`, fileURLToPath(import.meta.url), ...argv, '--child'], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.on('exit', (code) => {
    process.stderr.write(`heap workload exited (${code}) before it was ready\n`);
    process.exit(1);
  });
  const t = setInterval(() => {
    if (fs.existsSync(pidfile)) {
      clearInterval(t);
      child.unref();
      process.exit(0);
    }
  }, 20);
} else {
  const PER = 1 << 20; // doubles per array: 8 MiB each
  const arrays = [];
  let seed = 0x9e3779b9;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const sum = (a) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i] * ((i & 7) + 1);
    return s;
  };
  const sums = [];
  for (let n = 0; n < (mib << 20) / (8 * PER); n++) {
    const a = new Array(PER);
    for (let i = 0; i < PER; i++) a[i] = rnd() + n;
    arrays.push(a);
    sums.push(sum(a));
  }
  let last = process.hrtime.bigint(),
    maxGap = 0n;
  const beat = setInterval(() => {
    const t = process.hrtime.bigint();
    if (t - last > maxGap) maxGap = t - last;
    last = t;
  }, 1);
  const atomically = (p, text) => {
    fs.writeFileSync(`${p}.tmp`, text);
    fs.renameSync(`${p}.tmp`, p);
  };
  process.on('SIGUSR1', () => {
    atomically(`${outfile}.ping`, `${maxGap / 1000n}\n`);
    maxGap = 0n;
  });
  process.on('SIGTERM', () => {
    clearInterval(beat);
    const bad = arrays.filter((a, i) => sum(a) !== sums[i]).length;
    process.stdout.write(bad ? `FAIL: ${bad} of ${arrays.length} arrays changed\n` : `PASS (${arrays.length} arrays of ${PER} doubles checked)\n`);
    process.exit(bad ? 1 : 0);
  });
  atomically(pidfile, `${process.pid}\n`);
}
