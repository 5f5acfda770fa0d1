// The root of a guest whose CPU is not the host's (aarch64 on x86_64): the host's tree cannot
// run there, so the guest boots on a small root made of Debian's packages for its CPU
// (busybox-static, the C and C++ runtimes Node needs, iproute2, iptables and nftables) and Node 20 from the npm registry's
// node-linux-<cpu>, cached under the VM cache by a key of its inputs. The project and the VM
// cache are bound into it at their host paths by the initramfs (ci/vm/init.sh, criu_vm_binds).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEB_ARCH, VmError, sh } from './kernel.mjs';

/**
 * Debian packages of the root, per CPU: the dynamic loader and libraries Node links, and dash as
 * /bin/sh (busybox's sh runs its own applets before PATH: a test's system("ip ...") would get
 * busybox's ip, which has no veth, bridge or nodad)
 */
const BASE = ['libc6', 'libgcc-s1', 'libstdc++6', 'busybox-static', 'dash'];
/**
 * the tools the tool runs, as a host has them (ns/net.ts: ip; net/lock.ts: iptables-restore,
 * nft; the kernel: modprobe; native/mnt-helper.c: GNU tar and gzip for tmpfs contents), with
 * their libraries
 */
const TOOLS = ['iproute2', 'iptables', 'nftables', 'kmod', 'tar', 'gzip'];
/** libraries the closure drags in for debconf's frontends, never loaded by the tools */
const NOT_NEEDED = new Set(['libdebian-installer4', 'libnewt0.52', 'libslang2', 'libtextwrap1']);

/** BASE, TOOLS and the libraries TOOLS depend on (apt's dependency closure, libraries only) */
function packagesFor(deb) {
  const out = sh(
    `apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances ${TOOLS.map((t) => `${t}:${deb}`).join(' ')}`,
  );
  const libs = new Set();
  for (const l of out.split('\n')) {
    const m = new RegExp(`^((?:lib|zlib)[\\w.+-]+):${deb}$`).exec(l.trim());
    if (m && !NOT_NEEDED.has(m[1]) && !l.startsWith(' ')) libs.add(m[1]);
  }
  return [...new Set([...BASE, ...TOOLS, ...[...libs].sort()])];
}
const NODE_MAJOR = '20';
/** the layout of a made root (links, checks): a change here makes the cached roots again */
const ROOT_LAYOUT = 2;
const NPM_CPU = { aarch64: 'arm64', x86_64: 'x64' };

/** the newest Node of the major line in the npm registry for the CPU: { name, version } */
function nodePackage(arch) {
  const name = `node-linux-${NPM_CPU[arch]}`;
  const versions = JSON.parse(sh(`npm view ${name}@${NODE_MAJOR} version --json`));
  const list = (Array.isArray(versions) ? versions : [versions]).filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  if (!list.length) throw new VmError(`the npm registry has no ${name}@${NODE_MAJOR}`);
  const num = (v) => v.split('.').map(Number);
  list.sort((a, b) => num(b)[1] - num(a)[1] || num(b)[2] - num(a)[2]);
  return { name, version: list[0] };
}

/**
 * Refuses a root where a tool's program needs a library the root lacks (the closure above takes
 * library packages by name; one named otherwise, as zlib1g, would leave ip unable to start in
 * the guest): the NEEDED entries of every ELF file in its bin and lib dirs, found in its lib dirs.
 */
export function missingLibs(root) {
  const libDirs = ['lib', 'usr/lib', 'lib64'].flatMap((d) => {
    const p = path.join(root, d);
    return fs.existsSync(p)
      ? [
          p,
          ...fs
            .readdirSync(p)
            .map((e) => path.join(p, e))
            .filter((e) => /-linux-gnu$/.test(e)),
        ]
      : [];
  });
  const missing = [];
  const binDirs = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin'].map((d) => path.join(root, d));
  for (const dir of [...binDirs, ...libDirs]) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (fs.lstatSync(p).isSymbolicLink() || !fs.statSync(p).isFile()) continue;
      const head = Buffer.alloc(4);
      const fd = fs.openSync(p, 'r');
      fs.readSync(fd, head, 0, 4, 0);
      fs.closeSync(fd);
      if (head.toString('latin1') !== '\x7fELF') continue;
      for (const m of sh(`readelf -d '${p}'`).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
        if (!libDirs.some((l) => fs.existsSync(path.join(l, m[1])))) missing.push(`${path.relative(root, p)} needs ${m[1]}`);
      }
    }
  }
  if (missing.length) throw new VmError(`the guest root lacks libraries: ${missing.join(', ')} (add their packages in ci/vm/rootfs.mjs)`);
}

/** the candidate versions of the root's packages for the CPU (the key of the cached root) */
function debVersions(deb) {
  return packagesFor(deb).map((p) => {
    const v = /^Version: (.*)$/m.exec(sh(`apt-cache show --no-all-versions ${p}:${deb}`))?.[1];
    if (!v) throw new VmError(`apt has no ${p}:${deb} (dpkg --add-architecture ${deb} and apt-get update)`);
    return `${p}=${v}`;
  });
}

/**
 * The root of a guest of CPU arch: a folder in the cache with /bin (busybox and its applets),
 * the loader and libraries, /usr/local/bin/node; made once per set of package versions.
 */
export function rootFor(cache, arch, log = () => {}) {
  const deb = DEB_ARCH[arch];
  const pkgs = debVersions(deb);
  const node = nodePackage(arch);
  const key = createHash('sha256')
    .update([`layout ${ROOT_LAYOUT}`, ...pkgs, `${node.name}@${node.version}`].join(' '))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cache, 'roots', `${deb}-${key}`);
  if (fs.existsSync(path.join(dir, '.made'))) return { dir, node: node.version };
  log(`making the ${arch} root: ${pkgs.join(' ')}, ${node.name}@${node.version}`);
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(path.join(tmp, 'debs'), { recursive: true });
  sh(`apt-get -o DPkg::Lock::Timeout=600 download ${pkgs.map((p) => p.replace('=', `:${deb}=`)).join(' ')}`, { cwd: path.join(tmp, 'debs') });
  for (const f of fs.readdirSync(path.join(tmp, 'debs'))) sh(`dpkg-deb -x debs/${f} .`, { cwd: tmp });
  fs.rmSync(path.join(tmp, 'debs'), { recursive: true });
  // Node: the package's tarball holds bin/node
  const t = sh(`npm pack ${node.name}@${node.version} --silent`, { cwd: tmp }).trim();
  sh(`mkdir -p usr/local/bin && tar -xzf ${t} package/bin/node && mv package/bin/node usr/local/bin/node && rm -rf package ${t}`, { cwd: tmp });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'root', 'etc', 'var/tmp', 'results']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  // busybox's applets as links (sh, mount, ip, sed ...) and the files a root needs
  // (the guest's busybox cannot run here: the host's, of the same package, lists the applets)
  const applets = sh('/bin/busybox --list');
  for (const a of applets.split('\n').filter(Boolean)) {
    const p = path.join(tmp, 'bin', a);
    // a real tool of the root (iproute2's ip, kmod's modprobe) wins wherever it is
    if (!['bin', 'sbin', 'usr/bin', 'usr/sbin'].some((d) => fs.existsSync(path.join(tmp, d, a)))) fs.symlinkSync('busybox', p);
  }
  // what update-alternatives would have linked: iptables as the host has it (nft or legacy)
  const flavor = /legacy/.test(fs.realpathSync('/usr/sbin/iptables')) ? 'legacy' : 'nft';
  for (const v of ['iptables', 'ip6tables'])
    for (const c of ['', '-restore', '-save']) {
      const p = path.join(tmp, 'usr', 'sbin', `${v}${c}`);
      if (!fs.existsSync(p)) fs.symlinkSync(`xtables-${flavor}-multi`, p);
    }
  missingLibs(tmp);
  fs.writeFileSync(path.join(tmp, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nzdtm:x:18943:18943::/tmp:/bin/sh\n');
  fs.writeFileSync(path.join(tmp, 'etc', 'group'), 'root:x:0:\ntty:x:5:\nzdtm:x:18943:\n');
  fs.writeFileSync(path.join(tmp, '.made'), `${pkgs.join(' ')} ${node.name}@${node.version}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, node: node.version };
}
