// The RPC specs' client: criu/test/rpc/client.py (Debian's Python protobuf over rpc.proto compiled
// by Debian's protoc) talking to `criu swrk` or a `criu service` socket, a step a line.
import { expect } from '@playwright/test';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, tmpdir } from './lib.js';

export const PY = '/usr/bin/python3';
const client = path.join(repo, 'criu', 'test', 'rpc', 'client.py');
let pbDir = '';

export interface Step {
  req?: Record<string, unknown>;
  raw?: string;
  images_dir?: string;
  fail_notify?: string[];
  stdio_of_tool?: boolean;
}
export interface Resp {
  type: string;
  success: boolean;
  cr_errmsg?: string;
  cr_errno?: number;
  version?: { major_number: number; minor_number: number; gitid?: string; sublevel?: number };
  features?: Record<string, boolean>;
  restore?: { pid: number };
  dump?: { restored?: boolean };
}
export interface Out {
  resp?: Resp;
  notify: [string, number | null, boolean][];
  closed?: boolean;
  exit?: number;
  child_of_client?: boolean;
  stdio?: string[];
}

/** rpc_pb2.py, compiled once per worker */
function pb(): string {
  if (pbDir) return pbDir;
  pbDir = tmpdir('rpc-pb');
  fs.chmodSync(pbDir, 0o755);
  execFileSync('/usr/bin/protoc', [`--python_out=${pbDir}`, '-I', path.join(repo, 'proto'), path.join(repo, 'proto', 'rpc.proto')]);
  fs.chmodSync(path.join(pbDir, 'rpc_pb2.py'), 0o644);
  return pbDir;
}

/** Run the Python client over these steps; one Out a step (and, for swrk, its exit code last). */
export function talk(mode: 'swrk' | 'service', target: string, steps: Step[], asUser?: number, extra: string[] = []): Out[] {
  const pre = asUser !== undefined ? ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', PY] : [PY];
  const r = spawnSync(pre[0], [...pre.slice(1), client, pb(), mode, target, ...extra], { input: JSON.stringify(steps), encoding: 'utf8', timeout: 90_000 });
  expect(r.status, `client: ${r.stderr}`).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Out);
}
