// A guest for a VM cell: the kernel (ci/vm/kernel.mjs) and an initramfs of busybox-static,
// the early modules and ci/vm/init.sh, cached under the VM cache (CRIU_VM_CACHE, default
// /var/cache/criu-ts/vm) by a key of all of its inputs: a new kernel package, busybox or
// init script makes a new one, an unchanged one is reused.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEB_ARCH, VmError, earlyModules, resolveKernel, sh, unpackKernel } from './kernel.mjs';
import { hostArch } from '../../zdtm/runner/catalog.mjs';
import { rootFor } from './rootfs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

export function vmCache() {
  return process.env.CRIU_VM_CACHE || '/var/cache/criu-ts/vm';
}

export { hostArch };

/** busybox-static for the guest's CPU: the host's for its own CPU, else the package's unpacked into the cache */
function busybox(cache, arch) {
  if (arch === hostArch) {
    if (!fs.existsSync('/bin/busybox')) throw new VmError('no /bin/busybox: install busybox-static');
    return '/bin/busybox';
  }
  const dir = path.join(cache, `busybox-${DEB_ARCH[arch]}`);
  const bin = path.join(dir, 'bin', 'busybox');
  if (!fs.existsSync(bin)) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    sh(`apt-get -o DPkg::Lock::Timeout=600 download busybox-static:${DEB_ARCH[arch]} && dpkg-deb -x busybox-static_*.deb . && rm -f *.deb`, { cwd: dir });
  }
  return bin;
}

function hashOf(parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** copies a module into the initramfs uncompressed (busybox insmod reads plain .ko) */
function putModule(src, dst) {
  if (src.endsWith('.ko')) fs.copyFileSync(src, dst);
  else if (src.endsWith('.ko.xz')) fs.writeFileSync(dst, sh(`xz -dc '${src}'`, { encoding: 'buffer' }));
  else if (src.endsWith('.ko.zst')) fs.writeFileSync(dst, sh(`zstd -dc '${src}'`, { encoding: 'buffer' }));
  else if (src.endsWith('.ko.gz')) fs.writeFileSync(dst, sh(`gzip -dc '${src}'`, { encoding: 'buffer' }));
  else throw new VmError(`kernel module ${src}: unknown compression`);
}

/**
 * The guest of a cell: { kernel: { vmlinuz, modDir, release, pkg, version }, initrd, key }.
 * Built when missing; `log` says what is being built (it takes a minute for a new kernel).
 */
export function guestFor(series, arch, log = () => {}, pin = undefined) {
  const cache = vmCache();
  fs.mkdirSync(cache, { recursive: true });
  // pin: the exact package of a bundle (--repro), else the newest of the series
  const k = pin ? { ...pin, release: pin.pkg.replace(/^linux-image-/, ''), arch } : resolveKernel(series, arch);
  log(`kernel ${k.pkg} ${k.version}`);
  const t0 = Date.now();
  const unpacked = unpackKernel(cache, k);
  const bb = busybox(cache, arch);
  const init = fs.readFileSync(path.join(here, 'init.sh'));
  const mods = earlyModules(unpacked.modDir);
  const key = hashOf([k.pkg, k.version, fs.readFileSync(bb), init, mods.map((m) => m.name).join(' ')]);
  const initrd = path.join(cache, 'initrd', `${k.release}-${key}.cpio.gz`);
  if (!fs.existsSync(initrd)) {
    const tmp = fs.mkdtempSync(path.join(cache, 'initrd-'));
    try {
      for (const d of ['bin', 'lib/modules', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
      fs.copyFileSync(bb, path.join(tmp, 'bin', 'busybox'));
      fs.chmodSync(path.join(tmp, 'bin', 'busybox'), 0o755);
      fs.copyFileSync(path.join(here, 'init.sh'), path.join(tmp, 'init'));
      fs.chmodSync(path.join(tmp, 'init'), 0o755);
      for (const m of mods) putModule(m.file, path.join(tmp, 'lib', 'modules', `${m.name}.ko`));
      fs.writeFileSync(path.join(tmp, 'modules'), `${mods.map((m) => m.name).join('\n')}\n`);
      fs.mkdirSync(path.dirname(initrd), { recursive: true });
      sh(`find . | cpio -o -H newc --quiet | gzip -1 > '${initrd}.tmp' && mv '${initrd}.tmp' '${initrd}'`, { cwd: tmp });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  // a guest of another CPU boots on a root of its own (the host's programs cannot run there)
  const root = arch === hostArch ? undefined : rootFor(cache, arch, log);
  const built = Date.now() - t0;
  return { kernel: { ...unpacked, pkg: k.pkg, version: k.version }, initrd, key, arch, series, root: root?.dir, node: root?.node, builtMs: built };
}
