// Guest kernels from Debian's packages: a series (6.1, 6.12) and a CPU name the newest
// linux-image package apt knows; it is downloaded once into the VM cache, unpacked, its module
// index made (depmod), and the few modules the initramfs needs before the host's tree is
// mounted (virtio, 9p, overlay) picked out in load order.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Debian's architecture names per CPU */
export const DEB_ARCH = { x86_64: 'amd64', aarch64: 'arm64' };

/** what the initramfs loads before /init can mount the host's tree (the rest is builtin or loaded later) */
export const EARLY_MODULES = ['virtio_pci', 'virtio_mmio', '9pnet_virtio', '9p', 'overlay'];

export class VmError extends Error {}

/** runs a program; its stdout, or a VmError naming it with the last lines it printed */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const why = r.error ? String(r.error) : `${r.stderr || r.stdout}`.trim().split('\n').slice(-5).join('\n');
    throw new VmError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${why}`);
  }
  return r.stdout;
}

/** a shell command line, as run() */
export const sh = (cmd, opts = {}) => run('sh', ['-c', cmd], opts);

/** package names of a series for a CPU, newest first: linux-image-6.1.0-N-amd64, linux-image-6.12.X+deb12-arm64 */
function candidates(series, arch) {
  const deb = DEB_ARCH[arch];
  const esc = series.replace(/\./g, '\\.');
  const re = new RegExp(`^linux-image-${esc}(\\.0-\\d+|\\.\\d+\\+deb\\d+)-${deb}$`);
  const names = run('apt-cache', ['pkgnames', `linux-image-${series}`])
    .split('\n')
    .filter((n) => re.test(n));
  const ver = (n) => n.match(/\d+/g).map(Number);
  return names.sort((a, b) => {
    const x = ver(a);
    const y = ver(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
    return 0;
  });
}

/**
 * The package of a kernel series for a CPU: { pkg, release (uname -r), version (the deb's) }.
 * arm64 packages need `dpkg --add-architecture arm64` and an apt update (done here as root).
 */
export function resolveKernel(series, arch) {
  const deb = DEB_ARCH[arch];
  if (!deb) throw new VmError(`no Debian architecture for CPU ${arch}`);
  if (deb !== run('dpkg', ['--print-architecture']).trim() && !run('dpkg', ['--print-foreign-architectures']).split('\n').includes(deb)) {
    run('dpkg', ['--add-architecture', deb]);
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-qq']);
  }
  for (const pkg of candidates(series, arch)) {
    const r = spawnSync('apt-cache', ['show', '--no-all-versions', pkg], { encoding: 'utf8' });
    const version = /^Version: (.*)$/m.exec(r.stdout ?? '')?.[1];
    if (r.status === 0 && version && /^Filename: /m.test(r.stdout)) return { pkg, release: pkg.replace(/^linux-image-/, ''), version, arch };
  }
  throw new VmError(`no Debian package of kernel ${series} for ${deb} (apt-cache pkgnames linux-image-${series}): try apt-get update`);
}

/** lib/modules/REL/modules.dep as name -> { file, deps } */
function readDeps(modDir) {
  const out = new Map();
  for (const line of fs.readFileSync(path.join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    const name = (f) =>
      path
        .basename(f)
        .replace(/\.ko(\.(xz|zst|gz))?$/, '')
        .replace(/-/g, '_');
    out.set(name(file), { file, deps: rest.trim().split(/\s+/).filter(Boolean).map(name) });
  }
  return out;
}

/** the early modules and what they need, in load order ([] for the builtin ones) */
export function earlyModules(modDir) {
  const deps = readDeps(modDir);
  const builtin = new Set(
    fs
      .readFileSync(path.join(modDir, 'modules.builtin'), 'utf8')
      .split('\n')
      .map((f) => path.basename(f).replace(/\.ko$/, '').replace(/-/g, '_')),
  );
  const order = [];
  const visit = (m) => {
    if (order.some((o) => o.name === m) || builtin.has(m)) return;
    const d = deps.get(m);
    if (!d) throw new VmError(`kernel module ${m} is neither built in nor in ${modDir}/modules.dep`);
    for (const x of d.deps) visit(x);
    order.push({ name: m, file: path.join(modDir, d.file) });
  };
  for (const m of EARLY_MODULES) if (deps.has(m) || !builtin.has(m)) visit(m);
  return order;
}

/**
 * The unpacked kernel in the cache: { dir, vmlinuz, modDir, release }. Downloads and unpacks
 * the package once per version; depmod makes the index modprobe reads in the guest.
 */
export function unpackKernel(cache, k) {
  const dir = path.join(cache, 'kernels', `${k.pkg}_${k.version}`);
  const modDir = path.join(dir, 'lib', 'modules', k.release);
  const done = path.join(dir, '.unpacked');
  if (!fs.existsSync(done)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'download', `${k.pkg}=${k.version}`], { cwd: dir });
    const deb = fs.readdirSync(dir).find((f) => f.endsWith('.deb'));
    if (!deb) throw new VmError(`apt-get download ${k.pkg} left no .deb in ${dir}`);
    run('dpkg-deb', ['-x', deb, '.'], { cwd: dir });
    fs.rmSync(path.join(dir, deb));
    run('depmod', ['-b', dir, k.release]);
    fs.writeFileSync(done, `${k.pkg} ${k.version}\n`);
  }
  const boot = path.join(dir, 'boot');
  const vmlinuz = fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-') || f.startsWith('vmlinux-'));
  if (!vmlinuz) throw new VmError(`no vmlinuz in ${boot}`);
  return { dir, vmlinuz: path.join(boot, vmlinuz), modDir, release: k.release };
}
