// `criu --help` and the short usage of a wrong command line, made from the option table: CRIU
// 4.2's text and layout, each option marked with the commands where this tool acts on it.
import { OPTS, IMPLEMENTED, type Opt, type Section } from './opttable.js';

const HEAD = `
Usage:
  criu dump|pre-dump -t PID [<options>]
  criu restore [<options>]
  criu check [--feature FEAT]
  criu page-server
  criu service [<options>]
  criu dedup
  criu lazy-pages -D DIR [<options>]

Commands:
  dump           checkpoint a process/tree identified by pid
  pre-dump       pre-dump task(s) minimizing their frozen time
  restore        restore a process/tree
  check          checks whether the kernel support is up-to-date
  page-server    launch page server
  service        launch service
  dedup          remove duplicates in memory dump
  cpuinfo dump   writes cpu information into image file
  cpuinfo check  validates cpu information read from image file
`;

/** What CRIU prints after a wrong command line (to stdout), before exiting with 1. */
export const shortUsage = (): string => `${HEAD}\nTry -h|--help for more info\n`;

const SECTIONS: [Section, string][] = [
  ['generic', 'Dump/Restore options:\n\n* Generic:'],
  ['external', '* External resources support:'],
  ['special', '* Special resources support:'],
  [
    'check',
    'Check options:\n  Without options, "criu check" checks availability of absolutely required\n  kernel features, critical for performing dump and restore.',
  ],
  ['logging', '* Logging:'],
  ['memory', '* Memory dumping options:'],
  ['server', 'Page/Service server options:'],
  ['config', 'Configuration file options:'],
  ['other', 'Other options:'],
];

function left(o: Opt): string {
  const short = o.short ? `-${o.short}|` : '   ';
  const arg = o.metavar ? (o.arg === 'optional' ? ` [${o.metavar}]` : ` ${o.metavar}`) : '';
  return `  ${short}--${o.long}${arg}`;
}

function ours(o: Opt): string {
  if (['help', 'version', 'config', 'no-default-config'].includes(o.long)) return '';
  const where = (o.ours ?? []).filter((c) => IMPLEMENTED.includes(c) && c !== 'exec' && c !== 'show');
  return where.length ? `[criu-ts: ${where.join(', ')}]` : '[criu-ts: not supported yet]';
}

function entry(o: Opt): string {
  const lines = (o.help ?? '').split('\n');
  const tag = ours(o);
  if (tag) lines.push(tag);
  const l = left(o);
  const pad = 24;
  const first = l.length < pad ? `${l.padEnd(pad)}${lines[0]}` : `${l}\n${' '.repeat(pad)}${lines[0]}`;
  return [first, ...lines.slice(1).map((x) => `${' '.repeat(pad)}${x}`)].join('\n');
}

/** `criu --help`. */
export function fullHelp(features: readonly string[] = []): string {
  const out: string[] = [
    HEAD,
    'Most of the true / false long options (the ones without arguments) can be\nprefixed with --no- to negate the option (example: --display-stats and\n--no-display-stats).\n',
    'criu-ts: [criu-ts: ...] says on which commands this tool acts on an option; an option\nCRIU acts on and this tool does not is refused with "not supported yet: --OPTION";\none CRIU ignores on a command is accepted there (said at -v4).\n',
  ];
  for (const [sec, title] of SECTIONS) {
    out.push(title);
    for (const o of OPTS.filter((x) => x.section === sec && x.help !== undefined)) {
      out.push(entry(o));
      if (o.long === 'feature' && features.length) out.push(`${' '.repeat(24)}one of: ${features.join(', ')}`);
    }
    if (sec === 'logging') {
      out.push(
        [
          '  -v[v...]|--verbosity  increase verbosity (can use multiple v)',
          '  -vNUM|--verbosity=NUM set verbosity to NUM (higher level means more output):',
          '                          -v1 - only errors and messages',
          '                          -v2 - also warnings (default level)',
          '                          -v3 - also information messages and timestamps',
          '                          -v4 - lots of debug',
        ].join('\n'),
      );
    }
    out.push('');
  }
  return out.join('\n');
}
