// CRIU's configuration files (criu/config.c: pre_parse, next_config, parse_config and
// parse_statement), read in CRIU's order, each one's options applied in turn, so that a later
// source overrides an earlier one and the command line wins:
//   1. /etc/criu/default.conf        } not read with --no-default-config, nor with --config
//   2. $HOME/.criu/default.conf      }
//   3. $CRIU_CONFIG_FILE             read whatever the command line says (it adds, it does not replace)
//   4. --config FILE                 (the first --config/--config= on the command line is not
//                                    special: CRIU's pre_parse keeps the last one it sees)
//   5. the command line
// A file that cannot be opened is skipped without a word, as CRIU skips it.
//
// A line is an option name without its dashes, then optionally one blank and its value:
//   tcp-close
//   verbosity=4                  (an optional argument only attaches with '=', as on the command line)
//   log-file dump.log
//   lsm-profile "selinux:a b"    (a value in double quotes; \" inside is a quote)
//   # a comment, and anything after '#' on a line
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CriuError } from '../errors.js';

export class ConfigFormatError extends CriuError {
  constructor(file: string, line: number, text: string) {
    super('Unsupported configuration file format. Please consult man page criu(8)', {
      object: `${file}:${line}`,
      hint: `${file}:${line}: ${JSON.stringify(text)}`,
    });
  }
}

const isspace = (c: string | undefined): boolean => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * One line as CRIU's parse_statement turns it into getopt words: none, ["--name"] or
 * ["--name", "value"]. Its quirks are CRIU's (a value's first blank ends it; '#' anywhere in
 * a value cuts it; a quoted value may hold blanks only up to a point, see the tests).
 */
export function parseStatement(line: string): string[] | 'error' {
  let off = 0;
  if (line.length === 0) return [];
  while (off < line.length && isspace(line[off]) && line[off] !== '\n') off++;
  if (off >= line.length || line[off] === '\n') return [];
  if (line[off] === '#') return [];
  let input = line.slice(off);
  const nl = input.indexOf('\n');
  if (nl >= 0) input = input.slice(0, nl);
  // the name ends at the first space, or else at the first tab
  let sep = input.indexOf(' ');
  if (sep < 0) sep = input.indexOf('\t');
  if (sep < 0) return [`--${input}`];
  const name = `--${input.slice(0, sep)}`;
  off = sep + 1;
  while (off < input.length && isspace(input[off])) off++;
  if (input[off] === '#') return [name];
  let value: string;
  if (input[off] === '"') {
    off++;
    const start = off;
    if (off >= input.length) return 'error';
    if (input[off] === '"') return [name, ''];
    let q = off;
    let end = -1;
    for (;;) {
      const n = input.indexOf('"', q + 1);
      if (n < 0) break;
      q = n;
      if (input[n - 1] === '\\') continue;
      end = n;
      break;
    }
    if (end < 0) return 'error';
    value = input.slice(start, end);
    off++;
    // words after the closing quote (up to a comment) are refused; CRIU does not look at the last character
    const after = input.slice(end + 1);
    if (after.includes(' ')) {
      for (let j = 0; j < after.length - 1; j++) {
        if (after[j] === '#') break;
        if (!isspace(after[j])) return 'error';
      }
    }
  } else {
    value = input.slice(off);
    const sp = value.indexOf(' ');
    off = sp >= 0 ? sp : 0;
  }
  if (value.includes('\\"')) {
    let skipped = 0;
    let out = '';
    for (let j = 0; j < value.length; j++) {
      if (value[j] === '\\' && value[j + 1] === '"') {
        skipped++;
        continue;
      }
      out += value[j];
    }
    value = out;
    off += skipped + 1;
  }
  // a comment ends the value, wherever the '#' is
  const hash = value.indexOf('#');
  if (hash >= 0) value = value.slice(0, hash);
  // more words after the value are refused (CRIU does not look at the last character); past the
  // value's end CRIU reads beyond its string, we take it as nothing more
  const tail = off <= value.length ? value.slice(off) : '';
  if (tail.includes(' ')) {
    for (let j = 0; j < tail.length - 1; j++) if (!isspace(tail[j])) return 'error';
    value = value.slice(0, off + tail.indexOf(' '));
  }
  return [name, value];
}

/** A whole file's getopt words; throws CRIU's format error naming the line. */
export function parseConfigText(text: string, file = 'config'): string[] {
  const words: string[] = [];
  const lines = text.split(/(?<=\n)/);
  lines.forEach((l, i) => {
    const w = parseStatement(l);
    if (w === 'error') throw new ConfigFormatError(file, i + 1, l.replace(/\n$/, ''));
    words.push(...w);
  });
  return words;
}

/** The file's words, or null when it cannot be read (CRIU's parse_config returns NULL: skipped). */
export function readConfig(file: string): string[] | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  return parseConfigText(text, file);
}

export type Source = { kind: 'file'; file: string; read: () => string[] | null } | { kind: 'argv' };

export interface ConfigEnv {
  env: NodeJS.ProcessEnv;
  globalConfig: string;
  home?: string;
}

/** pre_parse: --no-default-config, and --config FILE / --config=FILE (which also turn the default files off). */
export function preParse(argv: readonly string[]): { noDefault: boolean; cfgFile: string | undefined } {
  let noDefault = false;
  let cfgFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-default-config') noDefault = true;
    else if (a === '--config') {
      cfgFile = argv[i + 1];
      noDefault = true;
    } else if (a.includes('--config=')) {
      cfgFile = a.slice('--config='.length);
      noDefault = true;
    }
  }
  return { noDefault, cfgFile };
}

/**
 * The sources of options in CRIU's order (next_config's states). Each file is read when its
 * turn comes, so that, as in CRIU, the options of the files before it have been applied when
 * one of them is malformed.
 */
export function configSources(argv: readonly string[], ce: ConfigEnv): Source[] {
  const { noDefault, cfgFile } = preParse(argv);
  const files: string[] = [];
  if (!noDefault) {
    files.push(ce.globalConfig);
    if (ce.home) files.push(path.join(ce.home, '.criu', 'default.conf'));
  }
  const fromEnv = ce.env.CRIU_CONFIG_FILE;
  if (fromEnv) files.push(fromEnv);
  if (cfgFile) files.push(cfgFile);
  return [...files.map((file): Source => ({ kind: 'file', file, read: () => readConfig(file) })), { kind: 'argv' }];
}
