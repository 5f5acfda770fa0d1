// One zdtm test in one flavor: start the program under the test's own subreaper, checkpoint and
// restore it with the criu binary (or not, with --nocr), prove that the checkpoint happened,
// compare the recorded state, SIGTERM it and read its verdict.
import { test, type TestInfo } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, fixmeCandidates, findSkip, hostArch, readExpected } from './catalog.mjs';
import { Subreaper } from './subreaper.js';
import { alive, compareTrees, recordTree, startTime, type TreeState } from './state.js';
import { acquire, ptyLock } from './lock.js';
import { testCgroup, removeBelow } from './cgroup.js';

export const nsLaunchBin = path.join(repo, 'native', 'build', 'zdtm-ns-launch');
export const ZDTM_UID = 18943;

export interface ZdtmTest {
  name: string;
  dir: string;
  lang: 'c' | 'ts';
  argv: string[];
  desc: {
    flags: string[];
    flavors: string[];
    opts: { dump: string[]; restore: string[] };
    downtime: number;
    feature: string[];
    timeout: number;
    exempt: Record<string, string>;
    arch: string[] | null;
  };
}

export interface ZdtmOptions {
  nocr: boolean;
  norst: boolean;
  iters: number;
  breakMode: boolean;
  keep: 'always' | 'never' | 'failed';
  criuBin: string;
  work: string;
  userBase: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ms: number, cond: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} (waited ${ms} ms)`);
    await sleep(10);
  }
}

const readText = (f: string): string => {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** A failed criu call: its log's Error lines and its tail, for the failure message. */
function criuFailure(what: string, code: number, timedOut: boolean, log: string, output: string): string {
  const lines = log.split('\n');
  const errors = lines.filter((l) => /Error|error:/.test(l)).slice(-20);
  const tail = lines.slice(-30);
  return [
    `${what} ${timedOut ? 'timed out' : `failed with exit code ${code}`}`,
    ...(output.trim() ? ['--- output:', ...output.trim().split('\n').slice(-10)] : []),
    ...(errors.length ? ['--- Error lines of the log:', ...errors] : []),
    '--- tail of the log:',
    ...tail,
  ].join('\n');
}

/** The tool refuses what it cannot do yet with "not supported yet: ..."; returns that line. */
function refusal(log: string, output: string): string | null {
  const m = /not supported yet: [^\n]*/.exec(`${output}\n${log}`);
  return m ? m[0] : null;
}

class Fixme extends Error {}
/** A feature the machine lacks, for a test listed for it in expected-skips.json. */
class Skip extends Error {}
/** The program ended on its own, before the runner's SIGTERM. */
class EarlyExit extends Error {}

export async function runZdtmTest(t: ZdtmTest, flavor: string, o: ZdtmOptions, testInfo: TestInfo): Promise<void> {
  const desc = t.desc;
  const excl = desc.flags.includes('excl');
  const crfail = desc.flags.includes('crfail');
  const cr = !o.nocr;
  const iters = Math.max(1, o.iters);
  const base = desc.timeout * 1000 * (cr ? iters : 1) + 30_000;
  testInfo.setTimeout(base);
  testInfo.annotations.push({ type: 'flavor', description: flavor });
  testInfo.annotations.push({
    type: 'mode',
    description: `${o.nocr ? 'nocr' : o.norst ? 'norst' : 'C/R'}${iters > 1 ? ` x${iters}` : ''}${o.breakMode ? ', break' : ''}`,
  });
  for (const [k, why] of Object.entries(desc.exempt)) testInfo.annotations.push({ type: `exempt: ${k}`, description: why });

  const lock = await acquire(path.join(o.work, '.locks'), excl, `${flavor}-${t.name}`);
  // a test of terminals: no other pty is made while its pty's index is free between dump and restore
  const pty = desc.flags.includes('pty') && cr ? await ptyLock(`${flavor}-${t.name}`) : undefined;
  testInfo.setTimeout(base + lock.waitedMs + (pty?.waitedMs ?? 0));

  const dir = path.join(o.work, flavor, t.name);
  const tmp = path.join(dir, 'tmp');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const uid = flavor === 'uns' ? o.userBase + ZDTM_UID : ZDTM_UID;
  fs.chownSync(tmp, uid, uid);
  fs.chmodSync(tmp, 0o755);

  const inTmp = flavor === 'h' ? tmp : '/tmp';
  const prog = [...t.argv, `--pidfile=${inTmp}/pid`, `--outfile=${inTmp}/out`, `--filename=${inTmp}/${t.name}.test`, `--dirname=${inTmp}/${t.name}.dir`];
  let cmd = prog;
  let pidfile = path.join(tmp, 'pid');
  if (flavor !== 'h') {
    fs.mkdirSync(path.join(dir, 'root'));
    pidfile = path.join(dir, 'pid');
    const ro = [repo];
    const nodeDir = path.dirname(process.execPath);
    if (t.lang === 'ts' && !/^\/(usr|bin|sbin|lib)/.test(nodeDir)) ro.push(path.dirname(nodeDir));
    cmd = [
      nsLaunchBin,
      ...(flavor === 'uns' ? ['--user', String(o.userBase)] : []),
      // desc flag "cgroupns": the tree's root in a cgroup namespace of its own, rooted at its cgroup
      ...(desc.flags.includes('cgroupns') ? ['--cgroupns'] : []),
      '--root',
      path.join(dir, 'root'),
      '--tmp',
      tmp,
      ...ro.flatMap((r) => ['--ro', r]),
      '--pidfile',
      pidfile,
      '--inner-pidfile',
      '/tmp/pid',
      '--',
      ...prog,
    ];
  }
  // desc flag "cgroup": a cgroup of its own, delegated to the tree's root (zdtm/runner/cgroup.ts)
  const cg = desc.flags.includes('cgroup') ? testCgroup(`zdtm.${flavor}.${t.name}`, flavor === 'uns' ? o.userBase : 0, cmd) : undefined;
  if (cg) cmd = cg.cmd;
  const outfile = path.join(tmp, 'out');
  // ZDTM_NEWNS: the program starts in namespaces of the tree's own (flavors ns, uns), as CRIU's zdtm sets it
  const env: Record<string, string> = { ZDTM_BREAK: o.breakMode ? '1' : '0', ...(flavor === 'h' ? {} : { ZDTM_NEWNS: '1' }) };
  const logs: string[] = [];
  const attach = async (name: string, file: string) => {
    if (fs.existsSync(file)) await testInfo.attach(name, { body: fs.readFileSync(file), contentType: 'text/plain' });
  };

  const sr = await Subreaper.start();
  let error: Error | null = null;
  let verdict = '';
  let root = 0;
  let crFailed = false;
  const states: Array<{ when: string; state: TreeState }> = [];
  try {
    if (desc.arch && !desc.arch.includes(hostArch)) throw new Skip(`a test for ${desc.arch.join(', ')} only (this CPU: ${hostArch})`);
    for (const feat of desc.feature) {
      const r = await sr.run([o.criuBin, 'check', '--feature', feat], { out: path.join(dir, 'check.out') });
      if (r.code === 0) continue;
      // a skip that names the feature holds only where `criu check` finds it missing
      const skip = findSkip(readExpected(), t.name, flavor, feat);
      if (skip) throw new Skip(`expected skip: ${skip.reason} (${readText(path.join(dir, 'check.out')).trim()})`);
      throw new Error(`the kernel/tool lacks feature "${feat}" (list the test in zdtm/expected-skips.json if this machine cannot have it)`);
    }

    await test.step('start the test program', async () => {
      const r = await sr.run(cmd, { cwd: flavor === 'h' ? tmp : '/', out: path.join(dir, 'launch.log'), env, timeoutMs: desc.timeout * 1000 });
      logs.push(path.join(dir, 'launch.log'));
      if (r.code !== 0)
        throw new Error(
          `the program did not start (exit code ${r.code}${r.timedOut ? ', timed out' : ''})\n${readText(outfile).split('\n').slice(-10).join('\n')}\n${readText(path.join(dir, 'launch.log'))}`,
        );
      root = Number(readText(pidfile).trim());
      if (!root) throw new Error(`no pid in ${pidfile}: "${readText(pidfile).trim()}"`);
      testInfo.annotations.push({ type: 'pid', description: String(root) });
    });
    // the test builds its state, transition tests get going
    await sleep(t.dir === 'transition' ? 1000 : 300);
    if (!alive(root)) throw new EarlyExit(cr ? 'before the checkpoint' : 'before the SIGTERM');

    // ns/uns: the binds of the host's directories (ns-launch.c) are external mounts, found by the tool (ns/mnt.ts)
    const nsOpts = flavor === 'h' ? [] : ['--ext-mount-map', 'auto'];
    /**
     * criu dump or restore of iteration i, images in img, its log there (-v4) and its output
     * kept; false when it worked, true when it failed and the test expects that (crfail); any
     * other failure throws (a known refusal as fixme).
     */
    const runCr = async (what: 'dump' | 'restore', i: number, img: string, opts: string[]): Promise<boolean> => {
      const args = [o.criuBin, what, '-D', img, '-v4', '-o', `${what}.log`, ...opts];
      const out = path.join(dir, `${what}-${i}.out`);
      const r = await sr.run(args, { out, timeoutMs: desc.timeout * 1000 });
      logs.push(path.join(img, `${what}.log`), out);
      if (r.code === 0) return false;
      const log = readText(path.join(img, `${what}.log`));
      const refused = refusal(log, readText(out));
      if (crfail) return true;
      if (refused) checkFixme(t.name, flavor, refused);
      throw new Error(criuFailure(`criu ${what} (iteration ${i})`, r.code, r.timedOut, log, readText(out)));
    };
    if (cr) {
      let prev = recordTree(root);
      states.push({ when: 'started', state: prev });
      for (let i = 1; i <= iters; i++) {
        if (!alive(root)) throw new EarlyExit(`before dump ${i}`);
        const img = path.join(dir, `img-${i}`);
        fs.mkdirSync(img);
        const dumpPids = prev.tasks.map((x) => x.pid);
        const starts = new Map(prev.tasks.map((x) => [x.pid, x.start]));
        const failed = await test.step(`dump ${i}${o.norst ? ' (--leave-running)' : ''}`, () =>
          runCr('dump', i, img, ['-t', String(root), ...(o.norst ? ['-R'] : []), ...nsOpts, ...desc.opts.dump]));
        if (failed) {
          crFailed = true;
          break;
        }
        await test.step(`prove dump ${i}`, async () => {
          const files = fs.readdirSync(img).filter((f) => f.endsWith('.img'));
          if (!files.includes('inventory.img')) throw new Error(`no inventory.img in ${img}: [${files.join(' ')}]`);
          if (files.every((f) => fs.statSync(path.join(img, f)).size === 0)) throw new Error(`every image in ${img} is empty`);
          if (o.norst) {
            for (const p of dumpPids) {
              if (startTime(p) !== starts.get(p) && !desc.exempt.tasks) throw new Error(`--leave-running: task ${p} did not survive the dump`);
            }
            return;
          }
          await waitFor(`the dumped tree is still there: ${dumpPids.filter((p) => startTime(p) === starts.get(p)).join(' ')}`, 10_000, () =>
            dumpPids.every((p) => startTime(p) !== starts.get(p)),
          );
          if (cg) removeBelow(cg.dir, false); // the restore makes them again
        });
        if (o.norst) {
          const now = recordTree(root);
          states.push({ when: `after dump ${i} (-R)`, state: now });
          const diffs = compareTrees(prev, now, desc.exempt);
          if (diffs.length) throw new Error(`the state changed across dump ${i} --leave-running:\n${diffs.join('\n')}`);
          prev = now;
          continue;
        }
        if (desc.downtime) await new Promise((r) => setTimeout(r, desc.downtime * 1000));
        const rfailed = await test.step(`restore ${i}`, () => runCr('restore', i, img, ['-d', '--pidfile', 'restore.pid', ...nsOpts, ...desc.opts.restore]));
        if (rfailed) {
          crFailed = true;
          break;
        }
        await test.step(`prove restore ${i}`, async () => {
          const rp = Number(readText(path.join(img, 'restore.pid')).trim());
          if (rp !== root) throw new Error(`the restore pidfile says "${readText(path.join(img, 'restore.pid')).trim()}", the dumped root was ${root}`);
          const must = desc.exempt.tasks ? [root] : dumpPids;
          for (const p of dumpPids) {
            const st = startTime(p);
            if (st === null) {
              if (must.includes(p)) throw new Error(`task ${p} was not restored`);
            } else if (st === starts.get(p)) {
              throw new Error(`task ${p} has its old start time: it was never checkpointed`);
            }
          }
        });
        await test.step(`compare the state after restore ${i}`, async () => {
          const now = recordTree(root);
          states.push({ when: `after restore ${i}`, state: now });
          const diffs = compareTrees(prev, now, desc.exempt);
          if (diffs.length) throw new Error(`the restored state differs:\n${diffs.join('\n')}`);
          prev = now;
        });
      }
      if (crfail && !crFailed) throw new Error('crfail: checkpoint/restore was expected to fail but worked');
    }

    await test.step('SIGTERM and verdict', async () => {
      if (crFailed) return; // crfail: the tree is killed with the subreaper
      process.kill(root, 'SIGTERM');
      try {
        await waitFor('the test did not exit after SIGTERM', desc.timeout * 1000, () => !alive(root));
      } catch (e) {
        try {
          process.kill(root, 'SIGKILL');
        } catch {
          /* gone */
        }
        throw e;
      }
      const lines = readText(outfile).trimEnd().split('\n');
      verdict = lines.at(-1) ?? '';
      testInfo.annotations.push({ type: 'verdict', description: verdict || '(none)' });
      if (o.breakMode) {
        if (verdict === 'PASS') throw new Error('break mode: the program said PASS although it broke its own state: its check cannot fail');
        if (!verdict.startsWith('FAIL')) throw new Error(`break mode: no verdict, last line of the outfile: "${verdict}"`);
      } else if (verdict !== 'PASS') {
        throw new Error(`verdict: ${verdict || '(no verdict in the outfile)'}\n${lines.slice(-15).join('\n')}`);
      }
    });
  } catch (e) {
    error = e as Error;
    if (error instanceof EarlyExit) {
      await waitFor('', 2000, () => /^(PASS|FAIL)/m.test(readText(outfile))).catch(() => {});
      verdict = readText(outfile).trimEnd().split('\n').at(-1) ?? '';
      testInfo.annotations.push({ type: 'verdict', description: `${verdict} (exited on its own ${error.message})` });
      // break mode: a FAIL is what the program must say, even before the SIGTERM
      if (o.breakMode && verdict.startsWith('FAIL')) error = null;
      else
        error = new Error(
          `the test exited on its own ${error.message}, verdict: ${verdict || '(none)'}\n${readText(outfile).split('\n').slice(-15).join('\n')}`,
        );
    }
  } finally {
    await sr.quit();
    if (cg) removeBelow(cg.dir, true);
    lock.release();
    pty?.release();
  }

  await attach('outfile', outfile);
  for (const f of logs) await attach(path.relative(dir, f), f);
  await testInfo.attach('subreaper events', { body: sr.events.join('\n'), contentType: 'text/plain' });
  if (states.length && (error || o.keep === 'always')) {
    await testInfo.attach('recorded states', { body: JSON.stringify(states, null, 1), contentType: 'application/json' });
  }
  const ok = !error || error instanceof Fixme || error instanceof Skip; // a known refusal keeps nothing with -k failed
  if (o.keep === 'never' || (o.keep === 'failed' && ok)) fs.rmSync(dir, { recursive: true, force: true });
  else testInfo.annotations.push({ type: 'kept', description: dir });
  if (error instanceof Fixme) test.fixme(true, error.message);
  if (error instanceof Skip) test.skip(true, error.message);
  if (error) throw error;
}

function checkFixme(name: string, flavor: string, refused: string): void {
  for (const x of fixmeCandidates(readExpected(), name, flavor)) {
    if (new RegExp(x.refusal).test(refused)) throw new Fixme(`${x.reason} (the tool said: ${refused})`);
  }
}
