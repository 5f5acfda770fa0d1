// CRIU 4.2's command line: the option table against config.c, getopt_long's parsing, what every
// option does on every command, configuration files and their precedence, --version. Unit
// tests against the sources, plus a few runs of the real `criu`.
import { CRIU_FEATURES, OWN_FEATURES } from '../src/features.js';
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  parseArgs,
  refuseUnsupported,
  classify,
  isSet,
  UsageError,
  ExitRequest,
  versionText,
  LONG_NAMES,
  OPTS,
  verdict,
  type Cmd,
} from '../src/cli/options.js';
import { COMMANDS, IMPLEMENTED } from '../src/cli/opttable.js';
import { parseStatement, parseConfigText, ConfigFormatError } from '../src/cli/config.js';
import { fullHelp } from '../src/cli/help.js';
import { criu, tmpdir } from './lib.js';

// config.c long_opts[] of CRIU 4.2, BOOL_OPT expanded (name:has_arg)
const CRIU_LONG =
  'tree:1 leave-stopped:0 leave-running:0 restore-detached:0 no-restore-detached:0 restore-sibling:0 no-restore-sibling:0 daemon:0 no-daemon:0 images-dir:1 work-dir:1 log-file:1 join-ns:1 root:1 ext-unix-sk:2 help:0 tcp-established:0 no-tcp-established:0 close:1 log-pid:0 no-log-pid:0 version:0 evasive-devices:0 no-evasive-devices:0 pidfile:1 veth-pair:1 action-script:1 link-remap:0 no-link-remap:0 shell-job:0 no-shell-job:0 file-locks:0 no-file-locks:0 page-server:0 no-page-server:0 address:1 port:1 prev-images-dir:1 ms:0 track-mem:0 no-track-mem:0 auto-dedup:0 no-auto-dedup:0 libdir:1 cpu-cap:2 force-irmap:0 no-force-irmap:0 ext-mount-map:1 exec-cmd:0 manage-cgroups:2 cgroup-root:1 inherit-fd:1 feature:1 skip-mnt:1 enable-fs:1 enable-external-sharing:0 enable-external-masters:0 freeze-cgroup:1 ghost-limit:1 irmap-scan-path:1 lsm-profile:1 timeout:1 external:1 empty-ns:1 lazy-pages:0 extra:0 no-extra:0 experimental:0 no-experimental:0 all:0 cgroup-props:1 cgroup-props-file:1 cgroup-dump-controller:1 skip-in-flight:0 no-skip-in-flight:0 deprecated:0 no-deprecated:0 display-stats:0 no-display-stats:0 weak-sysctls:0 no-weak-sysctls:0 status-fd:1 tcp-close:0 no-tcp-close:0 verbosity:2 ps-socket:1 stream:0 no-stream:0 config:1 no-default-config:0 tls-cacert:1 tls-cacrl:1 tls-cert:1 tls-key:1 tls:0 no-tls:0 tls-no-cn-verify:0 cgroup-yard:1 pre-dump-mode:1 file-validation:1 skip-file-rwx-check:0 no-skip-file-rwx-check:0 lsm-mount-context:1 network-lock:1 mntns-compat-mode:0 no-mntns-compat-mode:0 unprivileged:0 no-unprivileged:0 ghost-fiemap:0 no-ghost-fiemap:0 allow-uprobes:0 no-allow-uprobes:0';
const CRIU_SHORT = 'dSsRt:hD:o:v::x::Vr:jJ:lW:L:M:';

const noFiles = { env: { HOME: '/nonexistent-home' }, globalConfig: '/nonexistent/default.conf' };
const P = (argv: string[], env: { env?: NodeJS.ProcessEnv; globalConfig?: string } = noFiles) => parseArgs(argv, env);

/** a valid way to give each option (what the walk below passes) */
const SAMPLE: Record<string, string[]> = {
  tree: ['-t', '4194301'],
  'images-dir': ['-D', '/tmp'],
  'work-dir': ['-W', '/tmp'],
  'log-file': ['-o', '-'],
  pidfile: ['--pidfile', 'p'],
  verbosity: ['-v4'],
  'cpu-cap': ['--cpu-cap=fpu'],
  'manage-cgroups': ['--manage-cgroups=soft'],
  'ext-unix-sk': ['-x'],
  'network-lock': ['--network-lock', 'nftables'],
  'pre-dump-mode': ['--pre-dump-mode', 'read'],
  'file-validation': ['--file-validation', 'filesize'],
  'empty-ns': ['--empty-ns', 'net'],
  'veth-pair': ['--veth-pair', 'eth0=veth0'],
  'join-ns': ['-J', 'net:/proc/1/ns/net'],
  'ext-mount-map': ['-M', 'auto'],
  port: ['--port', '1234'],
  'status-fd': ['--status-fd', '9'],
  'lsm-profile': ['--lsm-profile', 'apparmor:x'],
  'ghost-limit': ['--ghost-limit', '2M'],
  timeout: ['--timeout', '5'],
  feature: ['--feature', 'pagemap_scan'],
  config: ['--config', '/nonexistent.conf'],
  'ghost-fiemap': ['--no-ghost-fiemap'],
  'inherit-fd': ['--inherit-fd', 'fd[3]:pipe[1]'],
  close: ['--close', '99'],
};
const sample = (o: (typeof OPTS)[number]): string[] =>
  SAMPLE[o.long] ?? (o.arg === 'none' ? [`--${o.long}`] : o.arg === 'optional' ? [`--${o.long}`] : [`--${o.long}`, 'x']);

test('the table holds every long and short option of CRIU 4.2 with its arity', () => {
  const ours = LONG_NAMES.map((l) => `${l.name}:${l.hasArg}`);
  expect(ours).toEqual(CRIU_LONG.split(' ')); // also in CRIU's order (getopt lists ambiguous candidates in it)
  const shorts = OPTS.filter((o) => o.short)
    .map((o) => `${o.short}${{ none: '', required: ':', optional: '::' }[o.arg]}`)
    .sort();
  expect(shorts).toEqual(CRIU_SHORT.match(/.:?:?/g)!.sort());
  for (const o of OPTS) {
    // we act only where CRIU does; every ignored place names CRIU's source
    for (const c of o.ours ?? []) expect(o.criu, `--${o.long} on ${c}`).toContain(c);
    for (const c of COMMANDS) {
      const v = verdict(o, c);
      if (v.kind === 'ignored') expect(v.why, `--${o.long} on ${c}`).toMatch(/\.c\b/);
    }
  }
});

test('every option on every command is acted on, ignored, refused by name, or rejected as CRIU rejects it', () => {
  const count: Record<string, Record<string, number>> = {};
  for (const c of COMMANDS) {
    count[c] = { acts: 0, ignored: 0, refused: 0, rejects: 0 };
    for (const o of OPTS) {
      if (['help', 'version', 'ms'].includes(o.long)) continue; // they stop the parse (tested below)
      const words = c.split(' ');
      const p = P([...words, ...sample(o)]);
      expect(p.command, `--${o.long}`).toBe(c);
      expect(isSet(p, o.long), `--${o.long} on ${c}`).toBe(true);
      const v = verdict(o, c as Cmd, (l) => isSet(p, l));
      count[c][v.kind]++;
      const cl = classify(p, c as Cmd);
      const name = o.long === 'ghost-fiemap' ? 'no-ghost-fiemap' : o.long;
      if (v.kind === 'acts') {
        expect(o.ours, `--${o.long} acts on ${c}`).toContain(c);
        expect(cl.acts.map((x) => x.long)).toContain(o.long);
      } else if (v.kind === 'ignored') {
        expect(cl.ignored.find((x) => x.opt === o)?.why).toBe(v.why);
        expect(() => refuseUnsupported(p, c as Cmd)).not.toThrow();
      } else if (v.kind === 'refused') {
        expect(() => refuseUnsupported(p, c as Cmd), `--${o.long} on ${c}`).toThrow(`not supported yet: --${name}`);
      } else {
        expect(() => refuseUnsupported(p, c as Cmd)).toThrow(v.msg);
        expect(v.msg).not.toContain('not supported yet');
      }
    }
  }
  // what we act on, command by command (the commands we do not run refuse themselves first)
  for (const c of COMMANDS) if (!IMPLEMENTED.includes(c)) expect(count[c].acts, c).toBeLessThanOrEqual(4);
  expect(count.dump.acts).toBeGreaterThanOrEqual(12);
  console.log(JSON.stringify(count));
});

test('what CRIU ignores and acts on, where the brief names it', () => {
  const v = (o: string, c: Cmd, extra: string[] = []) => {
    const p = P([c, `--${o}`, ...extra]);
    return verdict(
      OPTS.find((x) => x.long === o)!,
      c,
      (l) => isSet(p, l),
    ).kind;
  };
  expect(v('leave-running', 'restore')).toBe('ignored');
  expect(v('leave-running', 'dump')).toBe('acts');
  expect(v('leave-stopped', 'restore')).toBe('refused'); // cr-restore.c stops the restored tasks
  expect(v('shell-job', 'dump')).toBe('acts');
  expect(v('shell-job', 'check')).toBe('ignored');
  expect(v('tcp-established', 'dump')).toBe('acts'); // a connected TCP socket is repaired (sk-tcp.c)
  expect(v('tcp-established', 'restore')).toBe('acts');
  expect(v('skip-in-flight', 'dump')).toBe('acts');
  expect(v('tcp-close', 'dump')).toBe('acts');
  expect(v('tcp-close', 'restore')).toBe('acts');
  expect(v('network-lock', 'dump', ['nftables'])).toBe('acts');
  expect(v('ext-unix-sk', 'restore')).toBe('acts');
  expect(v('ext-unix-sk', 'dump')).toBe('acts');
  expect(v('external', 'dump', ['unix[5]'])).toBe('acts'); // other kinds of resource: 'not supported yet: --external KIND[...]' (files/external.ts)
  expect(v('link-remap', 'restore')).toBe('ignored');
  expect(v('ghost-limit', 'dump', ['1M'])).toBe('acts');
  expect(v('evasive-devices', 'restore')).toBe('ignored');
  expect(v('weak-sysctls', 'dump')).toBe('ignored');
  expect(v('skip-file-rwx-check', 'dump')).toBe('ignored');
  expect(v('pre-dump-mode', 'dump', ['read'])).toBe('ignored');
  expect(v('address', 'dump', ['h'])).toBe('ignored'); // only with --page-server
  expect(v('address', 'dump', ['h', '--page-server'])).toBe('refused');
  expect(v('inherit-fd', 'dump', ['x'])).toBe('rejects');
  expect(v('exec-cmd', 'dump')).toBe('rejects');
  expect(v('lazy-pages', 'pre-dump')).toBe('rejects');
  expect(v('all', 'check')).toBe('acts');
  expect(refuseUnsupported(P(['restore', '--network-lock', 'iptables'])).ignored[0].warn).toContain('--network-lock will be ignored in restore command');
  expect(refuseUnsupported(P(['restore', '-t', '12'])).ignored[0].warn).toBe('Using -t with criu restore is obsoleted');
});

test('getopt_long forms: = and separate values, glued short values, optional arguments, -v counts', () => {
  const p = P(['dump', '-t', '42', '-D/tmp/x', '--work-dir=/w', '--log-file', 'l', '-o', 'm']);
  expect([p.opts.get('tree'), p.opts.get('images-dir'), p.opts.get('work-dir'), p.opts.get('log-file')]).toEqual([['42'], ['/tmp/x'], ['/w'], ['l', 'm']]);
  expect(P(['dump', '-t42']).opts.get('tree')).toEqual(['42']);
  const lvl = (...a: string[]) => P(['check', ...a]).logLevel;
  expect([lvl(), lvl('-v'), lvl('-v', '-v'), lvl('-vvv'), lvl('-v4'), lvl('--verbosity'), lvl('--verbosity=1'), lvl('-v0'), lvl('--verbosity=vv')]).toEqual([
    2, 3, 4, 5, 4, 3, 1, 0, 5,
  ]);
  expect(lvl('-vabc')).toBe(0); // atoi("abc"), as CRIU
  // an optional argument attaches only with '=' or glued: a separate word is an operand
  expect(P(['--verbosity', '4', 'dump']).command).toBe('4');
  expect(P(['-v', '4']).command).toBe('4');
  const occ = (a: string[], long: string) =>
    P(['dump', ...a])
      .occ.filter((o) => o.opt.long === long)
      .map((o) => o.value);
  expect(occ(['--cpu-cap'], 'cpu-cap')).toEqual([null]);
  expect(occ(['--cpu-cap=fpu'], 'cpu-cap')).toEqual(['fpu']);
  expect(P(['dump', '--cpu-cap', 'fpu']).rest).toEqual(['fpu']);
  expect(occ(['--manage-cgroups=soft', '--manage-cgroups'], 'manage-cgroups')).toEqual(['soft', null]);
  expect(occ(['-x', '-x123', '--ext-unix-sk=4,5', '--ext-unix-sk'], 'ext-unix-sk')).toEqual([null, '123', '4,5', null]);
  // grouped short options
  const g = P(['restore', '-dSjl']);
  expect(['restore-detached', 'restore-sibling', 'shell-job', 'file-locks'].every((l) => isSet(g, l))).toBe(true);
  expect(P(['dump', '-jt', '7']).opts.get('tree')).toEqual(['7']);
});

test('--no- forms, repeatable options, abbreviations and permutation as getopt_long does them', () => {
  expect(isSet(P(['dump', '--shell-job', '--no-shell-job']), 'shell-job')).toBe(false);
  expect(isSet(P(['dump', '-j', '--no-shell-job']), 'shell-job')).toBe(false);
  expect(isSet(P(['dump', '--no-shell-job', '-j']), 'shell-job')).toBe(true);
  expect(isSet(P(['dump', '--ghost-fiemap']), 'ghost-fiemap')).toBe(false); // its default
  expect(() => refuseUnsupported(P(['dump', '--no-ghost-fiemap']))).toThrow('not supported yet: --no-ghost-fiemap');
  expect(() => refuseUnsupported(P(['dump', '--no-tcp-established']))).not.toThrow(); // the default: nothing to do
  expect(isSet(P(['restore', '--daemon']), 'daemon')).toBe(true);
  expect(isSet(P(['restore', '-d', '--no-daemon']), 'restore-detached')).toBe(false); // one field
  for (const [o, vals] of [
    ['external', ['a', 'b']],
    ['inherit-fd', ['fd[1]:a', 'fd[2]:b']],
    ['skip-mnt', ['/a', '/b']],
    ['enable-fs', ['a', 'b']],
    ['ext-mount-map', ['a:b', 'c:d']],
    ['veth-pair', ['a=b', 'c=d']],
    ['join-ns', ['net:1', 'uts:2']],
    ['action-script', ['a', 'b']],
    ['irmap-scan-path', ['/a', '/b']],
    ['empty-ns', ['net', 'net']],
    ['cgroup-root', ['/a', 'cpu:/b']],
    ['feature', ['timens', 'uffd']],
  ] as const) {
    expect(P(['restore', `--${o}`, vals[0], `--${o}=${vals[1]}`]).opts.get(o), o).toEqual(vals);
  }
  expect(P(['dump', '-M', 'a:b', '-Mc:d']).opts.get('ext-mount-map')).toEqual(['a:b', 'c:d']);
  // unique prefixes
  expect(P(['dump', '--images=/x', '--log-f', 'l', '--restore-d', '--tcp-es']).opts.get('images-dir')).toEqual(['/x']);
  expect(P(['dump', '--log-f', 'l']).opts.get('log-file')).toEqual(['l']);
  expect(isSet(P(['restore', '--restore-d']), 'restore-detached')).toBe(true);
  expect(() => P(['dump', '--leave'])).toThrow("option '--leave' is ambiguous; possibilities: '--leave-stopped' '--leave-running'");
  expect(() => P(['dump', '--tls-c'])).toThrow("option '--tls-c' is ambiguous; possibilities: '--tls-cacert' '--tls-cacrl' '--tls-cert'");
  // permutation and --
  const want = P(['dump', '-t', '1', '-D', '/x']);
  for (const a of [
    ['-D', '/x', 'dump', '-t', '1'],
    ['-t', '1', '-D', '/x', 'dump'],
    ['-t', '1', 'dump', '-D/x'],
  ]) {
    const q = P(a);
    expect([q.command, q.opts.get('tree'), q.opts.get('images-dir')]).toEqual([want.command, ['1'], ['/x']]);
  }
  expect(P(['restore', '--exec-cmd', '--', 'sh', '-c', 'x']).rest).toEqual(['sh', '-c', 'x']);
  expect(P(['--', 'check']).command).toBe('check');
  expect(P(['cpuinfo', 'check']).command).toBe('cpuinfo check');
});

test('unknown options and bad values fail as CRIU fails', () => {
  const err = (a: string[]) => {
    try {
      P(a);
    } catch (e) {
      return e;
    }
    return null;
  };
  const u = err(['dump', '--no-such-option']) as UsageError;
  expect(u).toBeInstanceOf(UsageError);
  expect(u.raw).toBe("criu: unrecognized option '--no-such-option'");
  expect((err(['dump', '--foo=bar']) as UsageError).raw).toBe("criu: unrecognized option '--foo=bar'");
  expect((err(['dump', '-q']) as UsageError).raw).toBe("criu: invalid option -- 'q'");
  expect((err(['dump', '-t']) as UsageError).raw).toBe("criu: option requires an argument -- 't'");
  expect((err(['dump', '--tree']) as UsageError).raw).toBe("criu: option '--tree' requires an argument");
  expect((err(['dump', '--leave-running=yes']) as UsageError).raw).toBe("criu: option '--leave-running' doesn't allow an argument");
  // CRIU prints the usage after these (parse_options returns 2)
  for (const [a, m] of [
    [['--manage-cgroups=bogus'], "Unknown cgroups mode `bogus' selected"],
    [['--cpu-cap=x'], "Unknown FPU mode `x' selected"],
    [['--cpu-cap=fpu,^cpu,bad'], "Unknown FPU mode `bad' selected"],
    [['--file-validation=x'], "Unknown file validation method `x' selected"],
  ] as const) {
    const e = err(['dump', ...a]);
    expect(e, a[0]).toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe(m);
  }
  // and not after these (it returns 1)
  for (const [a, m] of [
    [['-t', 'abc'], 'invalid argument for -t: abc'],
    [['--tree=0'], 'invalid argument for --tree: 0'],
    [['--port', 'x'], 'invalid argument for --port: x'],
    [['--pre-dump-mode=x'], 'Unable to parse value of --pre-dump-mode'],
    [['--network-lock=x'], 'Invalid value for --network-lock: x'],
    [['--status-fd', 'x'], 'Unable to parse a value of --status-fd'],
    [['--empty-ns', 'pid'], 'Unsupported empty namespace: pid'],
    [['--veth-pair', 'x'], 'invalid argument for --veth-pair: x'],
    [['-M', 'x'], 'invalid argument for -M: x'],
    [['-J', 'x'], 'invalid argument for -J: x'],
    [['--ms'], '--ms is deprecated; see "Check options" of criu --help'],
    [['-x0'], "Can't parse unix socket inode from optarg: 0"],
  ] as const) {
    const e = err(['dump', ...a]);
    expect(e, a.join(' ')).not.toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe(m);
  }
  expect(err(['dump', '-h', '--no-such'])).toBeInstanceOf(ExitRequest); // pre_parse: help first
  expect(err(['dump', '--version', '--no-such'])).toBeInstanceOf(ExitRequest);
  expect(err(['dump', '--no-such', '--version'])).toBeInstanceOf(UsageError);
});

test("--version prints CRIU's format, and --help comes from the table", () => {
  expect(versionText()).toBe('Version: 4.2\n');
  expect(versionText()).not.toContain('-'); // runc/go-criu take a '-' for a git version and want "GitID: vX.Y"
  const h = fullHelp();
  expect(h).toContain('criu dump');
  for (const o of OPTS.filter((x) => x.help !== undefined)) expect(h, o.long).toContain(`--${o.long}`);
  expect(h).toMatch(/--tcp-established +checkpoint\/restore established TCP connections\n +\[criu-ts: dump, restore\]/);
  expect(h).toMatch(
    /--tcp-close +don't dump the state of, or block, established tcp\n +connections, and restore them in closed state.\n +\[criu-ts: dump, restore\]/,
  );
});

test('configuration file lines parse as CRIU parse_statement parses them', () => {
  const s = parseStatement;
  expect(s('tcp-close\n')).toEqual(['--tcp-close']);
  expect(s('\n')).toEqual([]);
  expect(s('   # comment\n')).toEqual([]);
  expect(s('tcp-close # comment\n')).toEqual(['--tcp-close']);
  expect(s('log-file dump.log\n')).toEqual(['--log-file', 'dump.log']);
  expect(s('  log-file   dump.log   # where\n')).toEqual(['--log-file', 'dump.log']);
  expect(s('log-file a#b\n')).toEqual(['--log-file', 'a']);
  expect(s('verbosity=4\n')).toEqual(['--verbosity=4']);
  expect(s('lsm-profile "selinux:a b"\n')).toEqual(['--lsm-profile', 'selinux:a b']);
  expect(s('lsm-profile "a\\"b"\n')).toEqual(['--lsm-profile', 'a"b']);
  expect(s('log-file ""\n')).toEqual(['--log-file', '']);
  expect(s('log-file "\n')).toBe('error');
  expect(s('log-file "abc\n')).toBe('error');
  expect(s('log-file "abc" more\n')).toBe('error');
  expect(s('tree 1 23\n')).toBe('error');
  // CRIU's quirks: the last character after a value is not looked at, and a quoted value may hold
  // a blank only before about its name's length (parse_statement measures from the line's start)
  expect(s('tree 1 2\n')).toEqual(['--tree', '1']);
  expect(s('lsm-profile "selinux:system_u:object_r:a b"\n')).toBe('error');
  expect(() => parseConfigText('tcp-close\nlog-file "x\n', '/f.conf')).toThrow(ConfigFormatError);
  expect(() => parseConfigText('tcp-close\nlog-file "x\n', '/f.conf')).toThrow('Unsupported configuration file format');
});

test("configuration files: CRIU's sources, order and precedence", () => {
  const dir = tmpdir('cfg');
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.criu'), { recursive: true });
  const g = path.join(dir, 'global.conf');
  const user = path.join(home, '.criu', 'default.conf');
  const envf = path.join(dir, 'env.conf');
  const cfg = path.join(dir, 'cmd.conf');
  fs.writeFileSync(g, '# global\nlog-file g.log\nexternal g\nverbosity\nshell-job\n');
  fs.writeFileSync(user, 'log-file u.log\nexternal u\n');
  fs.writeFileSync(envf, 'log-file e.log\nexternal e\n');
  fs.writeFileSync(cfg, 'log-file c.log\nexternal c\n');
  const penv = (extra: NodeJS.ProcessEnv = {}) => ({ env: { HOME: home, ...extra }, globalConfig: g });
  let p = P(['dump'], penv());
  expect(p.configFiles).toEqual([g, user]);
  expect(p.opts.get('log-file')).toEqual(['g.log', 'u.log']); // the last one is used
  expect(p.opts.get('external')).toEqual(['g', 'u']); // lists add up
  expect(p.logLevel).toBe(3);
  expect(isSet(p, 'shell-job')).toBe(true);
  p = P(['dump', '-v', '--no-shell-job', '-o', 'cmd.log', '--external', 'x'], penv());
  expect(p.logLevel).toBe(4); // -v adds to the file's
  expect(isSet(p, 'shell-job')).toBe(false); // the command line wins
  expect(p.opts.get('log-file')!.at(-1)).toBe('cmd.log');
  expect(p.opts.get('external')).toEqual(['g', 'u', 'x']);
  // CRIU_CONFIG_FILE is read after the default files and before --config
  p = P(['dump'], penv({ CRIU_CONFIG_FILE: envf }));
  expect(p.configFiles).toEqual([g, user, envf]);
  // --config turns the default files off, not CRIU_CONFIG_FILE
  for (const a of [['--config', cfg], [`--config=${cfg}`]]) {
    p = P(['dump', ...a], penv({ CRIU_CONFIG_FILE: envf }));
    expect(p.configFiles).toEqual([envf, cfg]);
    expect(p.opts.get('log-file')!.at(-1)).toBe('c.log');
  }
  p = P(['dump', '--no-default-config'], penv({ CRIU_CONFIG_FILE: envf }));
  expect(p.configFiles).toEqual([envf]);
  p = P(['dump', '--no-default-config'], penv());
  expect(p.configFiles).toEqual([]);
  expect(isSet(p, 'shell-job')).toBe(false);
  // a file that cannot be read is skipped, as CRIU skips it
  expect(P(['dump', '--config', path.join(dir, 'none.conf')], penv()).configFiles).toEqual([]);
  // an optional argument in a file needs '=': "verbosity 4" is --verbosity and a stray word
  fs.writeFileSync(cfg, 'verbosity 4\n');
  expect(P(['dump', '--config', cfg], penv()).logLevel).toBe(3);
  fs.writeFileSync(cfg, 'verbosity=4\nlazy-pages\n');
  p = P(['dump', '--config', cfg], penv());
  expect(p.logLevel).toBe(4);
  expect(() => refuseUnsupported(p)).toThrow('not supported yet: --lazy-pages');
  // a broken file stops criu, but --help on the command line still shows the help
  fs.writeFileSync(cfg, 'log-file "x\n');
  expect(() => P(['dump', '--config', cfg], penv())).toThrow('Unsupported configuration file format');
  expect(() => P(['dump', '--config', cfg, '--help'], penv())).toThrow(ExitRequest);
  fs.writeFileSync(cfg, 'no-such-option\n');
  expect(() => P(['dump', '--config', cfg], penv())).toThrow("unrecognized option '--no-such-option'");
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---- the real binary

test('criu: unknown option, bad value, --version, -V, --help', () => {
  let r = criu(['dump', '--no-such-option']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe("criu: unrecognized option '--no-such-option'\n");
  expect(r.stdout).toContain('Usage:');
  expect(r.stdout).toContain('Try -h|--help for more info');
  r = criu(['dump', '--manage-cgroups=bogus']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("Unknown cgroups mode `bogus' selected");
  expect(r.stdout).toContain('Try -h|--help');
  for (const a of [['--version'], ['-V'], ['dump', '--version']]) {
    r = criu(a);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, 'Version: 4.2\n', '']);
  }
  r = criu(['-h']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('--tcp-established');
  r = criu(['bogus-command']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('unknown command: bogus-command');
  r = criu(['dump', '-t', '1', 'extra']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('excessive parameter for command dump');
});

test('criu: ignored options are accepted and said at -v4, refused ones are named', () => {
  const dir = tmpdir('opts');
  const env = { HOME: path.join(dir, 'nohome'), CRIU_TS_GLOBAL_CONFIG: path.join(dir, 'none.conf') };
  // every option CRIU ignores on check, at once
  const ignoredOnCheck = OPTS.filter((o) => !['help', 'version', 'ms'].includes(o.long) && verdict(o, 'check').kind === 'ignored');
  const args = ['check', '-v4', '-o', '-', ...ignoredOnCheck.flatMap((o) => sample(o))];
  const r = criu(args, env);
  expect(r.stderr).not.toContain('not supported yet');
  const parsed = P(args);
  for (const o of ignoredOnCheck) {
    if (!isSet(parsed, o.long)) continue; // --daemon after -d, -R after -s: the later one is the one in effect

    const name = o.long === 'ghost-fiemap' ? 'no-ghost-fiemap' : o.long;
    expect(r.stderr, o.long).toContain(`--${name} is ignored by criu check, as CRIU does (`);
  }
  expect(r.code).toBe(0);
  expect(criu(['check', '--shell-job'], env).code).toBe(0);
  // restore: --leave-running is ignored (the restore itself then fails on an empty dir)
  const img = path.join(dir, 'img');
  fs.mkdirSync(img);
  const rr = criu(['restore', '-D', img, '--leave-running', '-v4', '-o', 'restore.log'], env);
  expect(rr.stderr).not.toContain('not supported yet: --leave-running');
  expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toContain('--leave-running is ignored by criu restore, as CRIU does (cr-restore.c');
  const d = criu(['dump', '-t', '1', '--lazy-pages', '-D', img], env);
  expect(d.code).toBe(1);
  expect(d.stderr).toContain('not supported yet: --lazy-pages');
  expect(criu(['restore', '-D', img, '--leave-stopped'], env).stderr).toContain('not supported yet: --leave-stopped');
  expect(criu(['dump', '-t', '1', '-D', img, '--inherit-fd', 'fd[1]:x'], env).stderr).toContain('--inherit-fd is restore-only option');
  expect(criu(['pre-dump', '-t', '1', '-D', img], env).stderr).toContain('not supported yet: criu pre-dump');
  fs.rmSync(dir, { recursive: true, force: true });
});

test("criu: a configuration file in $HOME and CRIU_CONFIG_FILE are read, --no-default-config turns $HOME's off", () => {
  const dir = tmpdir('cfgrun');
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.criu'), { recursive: true });
  fs.writeFileSync(path.join(home, '.criu', 'default.conf'), 'lazy-pages\n');
  const img = path.join(dir, 'img');
  fs.mkdirSync(img);
  const env = { HOME: home, CRIU_TS_GLOBAL_CONFIG: path.join(dir, 'none.conf') };
  expect(criu(['restore', '-D', img], env).stderr).toContain('not supported yet: --lazy-pages');
  expect(criu(['restore', '-D', img, '--no-default-config'], env).stderr).not.toContain('not supported yet');
  const envf = path.join(dir, 'env.conf');
  fs.writeFileSync(envf, 'auto-dedup\n');
  expect(criu(['restore', '-D', img, '--no-default-config'], { ...env, CRIU_CONFIG_FILE: envf }).stderr).toContain('not supported yet: --auto-dedup');
  // the global file, made injectable for tests
  const g = path.join(dir, 'global.conf');
  fs.writeFileSync(g, 'auto-dedup\n');
  expect(criu(['restore', '-D', img], { HOME: path.join(dir, 'x'), CRIU_TS_GLOBAL_CONFIG: g }).stderr).toContain('not supported yet: --auto-dedup');
  fs.rmSync(dir, { recursive: true, force: true });
});

test('--feature takes the names of CRIU 4.2 (and our own probes) on every command; any other fails as in CRIU', () => {
  expect(() => parseArgs(['dump', '-t', '1', '--feature', 'no_such_feature'])).toThrow('Unknown feature no_such_feature');
  for (const n of [...CRIU_FEATURES, ...OWN_FEATURES]) expect(() => parseArgs(['check', '--feature', n]), n).not.toThrow();
  const r = criu(['check', '--feature', 'tun']);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('tun is not supported: criu-ts does not checkpoint or restore what it stands for yet\n');
  expect(criu(['check', '--feature', 'timens']).stdout).toBe('timens is supported\n');
});
