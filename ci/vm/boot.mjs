// Boots a VM cell's guest in qemu: the host's tree shared read-only (9p, tag hostroot), a
// results folder shared writable (tag results) holding cmd.sh, and the serial console kept in
// console.log. KVM is used where it runs a guest here (probed once per host boot, never
// assumed: /dev/kvm may exist and run nothing), software emulation (TCG) otherwise.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmError } from './kernel.mjs';
import { hostArch, vmCache } from './guest.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

const QEMU = {
  x86_64: { bin: 'qemu-system-x86_64', machine: [], console: 'ttyS0' },
  aarch64: { bin: 'qemu-system-aarch64', machine: ['-M', 'virt'], console: 'ttyAMA0' },
};

function qemuOf(arch) {
  const q = QEMU[arch];
  if (!q) throw new VmError(`no qemu for CPU ${arch}`);
  if (spawnSync('sh', ['-c', `command -v ${q.bin}`]).status !== 0)
    throw new VmError(`${q.bin} is missing: install ${arch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-arm'}`);
  return q;
}

function bootId() {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Whether KVM runs a guest of this CPU here: the kernel must print its banner on the serial
 * console within 20 s under -accel kvm (on a host without hardware virtualization /dev/kvm
 * opens and the guest never starts). The answer is kept per host boot.
 */
export function kvmWorks(guest) {
  if (guest.arch !== hostArch) return false;
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return false;
  }
  const file = path.join(vmCache(), 'kvm-probe.json');
  let known = {};
  try {
    known = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    /* first probe */
  }
  if (known.bootId === bootId() && typeof known[guest.arch] === 'boolean') return known[guest.arch];
  const q = qemuOf(guest.arch);
  const r = spawnSync(
    q.bin,
    [
      ...q.machine,
      '-accel',
      'kvm',
      '-cpu',
      'host',
      '-m',
      '256',
      '-nographic',
      '-no-reboot',
      '-kernel',
      guest.kernel.vmlinuz,
      '-append',
      `console=${q.console} panic=-1 rdinit=/none`,
    ],
    { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const ok = /Linux version/.test(r.stdout ?? '');
  fs.writeFileSync(file, JSON.stringify({ ...known, bootId: bootId(), [guest.arch]: ok }));
  return ok;
}

/** the qemu command line of a cell */
export function qemuArgs(guest, { results, accel, cpu, keep, mem = 3072, smp = Math.min(4, os.cpus().length) }) {
  const q = qemuOf(guest.arch);
  const append = [
    `console=${q.console}`,
    'panic=-1',
    'quiet',
    'loglevel=3',
    `criu_vm_guest=${path.join(here, 'guest.sh')}`,
    `criu_vm_mods=${guest.kernel.modDir}`,
    ...(keep ? ['criu_vm_keep=1'] : []),
    // a root of the guest's CPU, with the project and the VM cache bound in at their paths
    ...(guest.root ? [`criu_vm_root=${guest.root}`, `criu_vm_binds=${repo}:${vmCache()}`] : []),
  ].join(' ');
  const share = (p, tag, ro) => ['-virtfs', `local,path=${p},mount_tag=${tag},security_model=passthrough,multidevs=remap${ro ? ',readonly=on' : ''}`];
  return {
    bin: q.bin,
    args: [
      ...q.machine,
      ...(accel === 'kvm' ? ['-accel', 'kvm'] : ['-accel', 'tcg,thread=multi']),
      '-cpu',
      cpu ?? (accel === 'kvm' ? 'host' : 'max'),
      '-m',
      String(mem),
      '-smp',
      String(smp),
      '-nographic',
      '-no-reboot',
      '-kernel',
      guest.kernel.vmlinuz,
      '-initrd',
      guest.initrd,
      '-append',
      append,
      ...share('/', 'hostroot', true),
      ...share(results, 'results', false),
    ],
  };
}

function tail(file, n) {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r/g, '').split('\n').filter(Boolean).slice(-n).join('\n');
  } catch {
    return '(no console output)';
  }
}

/**
 * Runs cmd (a shell script) in a fresh guest: resolves { rc, accel, cpu, bootMs, ms, console }
 * once the guest is off; rejects with the console's last lines when the guest never ran it or
 * the time ran out. onLine gets the lines of /results/out.log as they come (progress).
 */
export async function runInGuest(guest, { results, cmd, timeoutMs, cpu, keep, onLine = () => {} }) {
  fs.mkdirSync(results, { recursive: true });
  for (const f of ['rc', 'out.log']) fs.rmSync(path.join(results, f), { force: true });
  fs.writeFileSync(path.join(results, 'cmd.sh'), cmd);
  const accel = kvmWorks(guest) ? 'kvm' : 'tcg';
  const { bin, args } = qemuArgs(guest, { results, accel, cpu, keep });
  const consoleLog = path.join(results, 'console.log');
  fs.writeFileSync(path.join(results, 'qemu.cmd'), `${[bin, ...args].map((a) => (/[\s"'$]/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  const out = fs.openSync(consoleLog, 'w');
  const t0 = Date.now();
  // keep: the console is the user's terminal (a shell in the guest once the command is done)
  const child = spawn(bin, args, { stdio: keep ? 'inherit' : ['ignore', out, out] });
  if (keep) timeoutMs = 24 * 3600_000;
  let bootMs = 0;
  let seen = 0;
  const poll = setInterval(() => {
    if (!bootMs && /criu-vm: up:/.test(tail(consoleLog, 50))) bootMs = Date.now() - t0;
    try {
      const text = fs.readFileSync(path.join(results, 'out.log'), 'utf8');
      const lines = text.slice(seen).split('\n');
      const done = lines.slice(0, -1);
      seen += done.reduce((n, l) => n + l.length + 1, 0);
      for (const l of done) onLine(l);
    } catch {
      /* not started */
    }
  }, 500);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(s ?? c)));
  clearInterval(poll);
  clearTimeout(timer);
  fs.closeSync(out);
  const ms = Date.now() - t0;
  const last = tail(consoleLog, 15);
  if (!bootMs && /criu-vm: up:/.test(last)) bootMs = ms;
  if (!fs.existsSync(path.join(results, 'rc'))) {
    const why = ms >= timeoutMs ? `the time ran out (${Math.round(timeoutMs / 1000)} s)` : `qemu ended (${code}) before the command finished`;
    throw new VmError(`guest ${guest.kernel.release} (${guest.arch}, ${accel}): ${why}; the console's last lines:\n${last}`);
  }
  const rc = Number(fs.readFileSync(path.join(results, 'rc'), 'utf8').trim());
  return { rc, accel, cpu: cpu ?? (accel === 'kvm' ? 'host' : 'max'), bootMs, ms, console: consoleLog };
}
