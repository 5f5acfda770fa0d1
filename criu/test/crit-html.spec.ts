// crit x DIR html: the page of the CRIU 4.2 fixtures opened in Debian's Chromium, checked against
// what the images hold (read here with the image API): the tree, the pipes joining the tasks, the
// file at offset 4096, one drawn VMA per VMA of mm-PID.img, the dumped pages, the file sizes;
// nothing loaded from elsewhere; strings from the images escaped.
import { test, expect, chromium, type Browser, type Page } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { crit, fixtures, tmpdir } from './lib.js';
import { readMessagesOf, readOne, readPagemap, writeMessages } from '../src/images/index.js';

const TREE = path.join(fixtures, 'tree');
const THREADS = path.join(fixtures, 'threads');
const PAGE_URL = 'http://crit-html.test/page.html';

let browser: Browser;
let tmp: string;

test.beforeAll(async () => {
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  tmp = tmpdir('crit-html');
});
test.afterAll(async () => {
  await browser?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The page of `dir`, made by the command line. */
function pageOf(dir: string): string {
  const r = crit(['x', dir, 'html']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Opens the html in Chromium; every request other than the page itself is recorded and refused. */
async function open(html: string): Promise<{ page: Page; external: string[] }> {
  const page = await browser.newPage();
  const external: string[] = [];
  page.on('request', (req) => {
    if (req.url() !== PAGE_URL && !req.url().startsWith('data:') && !external.includes(req.url())) external.push(req.url());
  });
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (url === PAGE_URL) await route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
    else {
      if (!url.startsWith('data:') && !external.includes(url)) external.push(url);
      await route.abort();
    }
  });
  await page.goto(PAGE_URL, { waitUntil: 'load' });
  return { page, external };
}

const pstreeOf = (dir: string) => readMessagesOf(path.join(dir, 'pstree.img'), 'PSTREE');

/** pipe_id → the pids holding an end of it, from ids-PID, fdinfo-N and files.img. */
function pipeHolders(dir: string): Map<number, Set<number>> {
  const files = new Map(readMessagesOf(path.join(dir, 'files.img'), 'FILES').map((f) => [f.id, f]));
  const out = new Map<number, Set<number>>();
  for (const p of pstreeOf(dir)) {
    const ids = readOne(path.join(dir, `ids-${p.pid}.img`), 'IDS');
    for (const fd of readMessagesOf(path.join(dir, `fdinfo-${ids.files_id}.img`), 'FDINFO')) {
      const pipe = files.get(fd.id)?.pipe;
      if (pipe) out.set(pipe.pipe_id, (out.get(pipe.pipe_id) ?? new Set()).add(p.pid));
    }
  }
  return out;
}

test('crit x DIR html: on stdout or into -o FILE, html among the choices, -o refused for the text explorers', () => {
  const html = pageOf(TREE);
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  const out = path.join(tmp, 'tree.html');
  const r = crit(['x', TREE, 'html', '-o', out]);
  expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
  expect(fs.readFileSync(out, 'utf8')).toBe(html);
  expect(crit(['x', '--help']).stdout).toContain('{ps,fds,mems,rss,plan,html}');
  const bad = crit(['x', TREE, 'ps', '-o', out]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^crit: argument -o\/--out: only x DIR html/);
  const missing = crit(['x', path.join(tmp, 'nowhere'), 'html']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^crit: image inventory.img is missing in .*nowhere/);
  expect(missing.stderr.trim().split('\n')).toHaveLength(1);
});

test('the tree: three tasks, the children inside the root, threads, session and group', async () => {
  const pstree = pstreeOf(TREE);
  expect(pstree).toHaveLength(3);
  const { page } = await open(pageOf(TREE));
  await expect(page.locator('ul.tree li.proc')).toHaveCount(3);
  const root = pstree.find((p) => p.ppid === 0)!;
  const kids = pstree.filter((p) => p.ppid === root.pid).map((p) => String(p.pid));
  expect(kids).toHaveLength(2);
  const rootItem = page.locator(`ul.tree > li.proc[data-pid="${root.pid}"]`);
  await expect(rootItem).toBeVisible();
  expect(await rootItem.locator(':scope > ul.children > li.proc').evaluateAll((els) => els.map((e) => e.getAttribute('data-pid')))).toEqual(kids);
  for (const p of pstree) {
    const core = readOne(path.join(TREE, `core-${p.pid}.img`), 'CORE');
    const node = page.locator(`li.proc[data-pid="${p.pid}"] > .node`);
    await expect(node.locator('> .comm')).toHaveText(core.tc!.comm);
    await expect(node.locator('.ids')).toHaveText(`ppid ${p.ppid} · pgid ${p.pgid} · sid ${p.sid}`);
  }
  await expect(page.locator(`li.proc[data-pid="${root.pid}"] > .node .badge`)).toHaveText(['session leader', 'group leader']);
  const group = page.locator(`.session[data-sid="${root.sid}"] .group[data-pgid="${root.pgid}"] .member`);
  expect(await group.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-pid'))))).toEqual(pstree.map((p) => p.pid));
  await page.close();
});

test('threads: every thread of the task is listed', async () => {
  const [p] = pstreeOf(THREADS);
  expect(p.threads).toHaveLength(5);
  const { page } = await open(pageOf(THREADS));
  const tids = await page.locator(`li.proc[data-pid="${p.pid}"] li.thread`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-tid'))));
  expect(tids).toEqual(p.threads);
  await expect(page.locator(`li.proc[data-pid="${p.pid}"] .threads`)).toContainText('5 threads');
  await page.close();
});

test('the pipes joining the tasks are drawn as links to each task holding them, with the 42 queued bytes', async () => {
  const holders = pipeHolders(TREE);
  const joining = [...holders].filter(([, pids]) => pids.size > 1);
  expect(joining.length).toBe(3);
  const { page } = await open(pageOf(TREE));
  await expect(page.locator('svg.links g.link')).toHaveCount(joining.length);
  for (const [id, pids] of joining) {
    const link = page.locator(`svg.links g.link[data-object="pipe:${id}"]`);
    await expect(link).toBeVisible();
    expect(new Set((await link.getAttribute('data-pids'))!.split(' ').map(Number))).toEqual(pids);
    const edges = await link.locator('path.edge').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-pid'))));
    expect(new Set(edges)).toEqual(pids);
    await expect(link.locator('text').last()).toHaveText(`pipe:[${id}]`);
  }
  const data = readMessagesOf(path.join(TREE, 'pipes-data.img'), 'PIPES_DATA').filter((d) => d.bytes > 0);
  expect(data.map((d) => d.bytes)).toEqual([42]);
  const root = pstreeOf(TREE)[0].pid;
  await expect(page.locator(`#task-${root} tr.fd[data-link="pipe:${data[0].pipe_id}"]`).first()).toContainText('42 bytes queued');
  await page.close();
});

test('the file open at offset 4096 is shown with its path and position in every task', async () => {
  const { page } = await open(pageOf(TREE));
  for (const p of pstreeOf(TREE)) {
    const row = page.locator(`#task-${p.pid} tr.fd[data-fd="9"]`);
    await expect(row.locator('td.what')).toHaveText(/^\/tmp\/criu-fixture\/data\/file\.dat pos 4096 O_RDWR/);
    await expect(row.locator('td').nth(1)).toHaveText('REG');
  }
  await page.close();
});

test('each task has one drawn VMA per VMA of mm-PID.img, in order, with the dumped pages of its pagemap', async () => {
  for (const dir of [TREE, THREADS]) {
    const { page } = await open(pageOf(dir));
    for (const p of pstreeOf(dir)) {
      const vmas = readOne(path.join(dir, `mm-${p.pid}.img`), 'MM').vmas ?? [];
      expect(vmas.length).toBeGreaterThan(5);
      const drawn = page.locator(`#task-${p.pid} svg.memmap g.vma`);
      await expect(drawn).toHaveCount(vmas.length);
      await expect(drawn.first()).toBeVisible();
      const starts = await drawn.evaluateAll((els) => els.map((e) => e.getAttribute('data-start')));
      expect(starts).toEqual(vmas.map((v) => `0x${v.start.toString(16)}`));
      // a bigger VMA is drawn wider (the scale grows with the size)
      const widths = await drawn.locator('rect.body').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
      for (const [i, v] of vmas.entries())
        for (const [j, u] of vmas.entries()) if (v.end - v.start > u.end - u.start) expect(widths[i]).toBeGreaterThan(widths[j]);
      const pm = readPagemap(path.join(dir, `pagemap-${p.pid}.img`));
      const pages = pm.entries.reduce((n, e) => n + Number(e.nr_pages ?? e.compat_nr_pages), 0);
      const runs = await page.locator(`#task-${p.pid} svg.memmap rect.run`).evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-pages'))));
      expect(runs.reduce((a, b) => a + b, 0)).toBe(pages);
      await expect(page.locator(`#task-${p.pid} h4`).first()).toHaveText(`memory: ${vmas.length} VMAs, ${pages} pages dumped`);
      // vdso and vvar are named; CRIU's lazy anonymous pages are drawn as lazy
      await expect(page.locator(`#task-${p.pid} g.vma.kernel text:not(.addr)`)).toHaveText(['vvar', 'vdso', 'vs…']);
      expect(await page.locator(`#task-${p.pid} rect.run.pg-lazy`).count()).toBeGreaterThan(0);
    }
    await expect(page.locator('.legend').first()).toContainText('piecewise');
    await page.close();
  }
});

test('the executable mapped by all three tasks is listed as shared memory', async () => {
  const { page } = await open(pageOf(TREE));
  const item = page.locator('li.mem-object[data-object="file:1"]');
  await expect(item).toContainText('/tmp/criu-fixture/bin/fixture-prog');
  for (const p of pstreeOf(TREE)) await expect(item).toContainText(`${p.pid} at 0x400000`);
  await page.close();
});

test('every file of the folder is listed with its size in bytes, grouped by kind', async () => {
  const { page } = await open(pageOf(TREE));
  const names = fs.readdirSync(TREE).sort();
  await expect(page.locator('tr.file-size')).toHaveCount(names.length);
  let total = 0;
  for (const name of names) {
    const size = fs.statSync(path.join(TREE, name)).size;
    total += size;
    await expect(page.locator(`tr.file-size[data-file="${name}"] td.bytes`)).toHaveText(String(size));
  }
  await expect(page.locator('tr.size-total td.bytes')).toHaveText(String(total));
  const pages = ['pages-1.img', 'pages-2.img', 'pages-3.img'].reduce((n, f) => n + fs.statSync(path.join(TREE, f)).size, 0);
  await expect(page.locator('tr.size-group[data-kind="PAGES"] td.bytes')).toHaveText(String(pages));
  await page.close();
});

test('the page loads nothing from elsewhere and runs no script', async () => {
  // the check itself sees an external resource
  const control = await open('<!DOCTYPE html><img src="http://elsewhere.test/x.png"><p>x</p>');
  expect(control.external).toEqual(['http://elsewhere.test/x.png']);
  await control.page.close();
  for (const dir of [TREE, THREADS]) {
    const html = pageOf(dir);
    const { page, external } = await open(html);
    await page.waitForLoadState('networkidle');
    expect(external).toEqual([]);
    expect(await page.locator('script, link, iframe, object, embed, img').count()).toBe(0);
    expect(html).not.toMatch(/\b(src|href)="(?!#)/);
    await page.close();
  }
});

test('a comm and a path holding markup are shown as text, not run', async () => {
  const dir = path.join(tmp, 'evil');
  fs.cpSync(TREE, dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  const root = pstreeOf(dir)[0].pid;
  const comm = '<script>window.pwned=1</script>';
  const core = readOne(path.join(dir, `core-${root}.img`), 'CORE');
  core.tc!.comm = comm;
  writeMessages(dir, `core-${root}.img`, 'CORE', [core]);
  const name = `/tmp/"><b id="bold">x</b><script>window.pwned=2</script>&amp;.dat`;
  const files = readMessagesOf(path.join(dir, 'files.img'), 'FILES');
  files.find((f) => f.reg?.pos === 4096n)!.reg!.name = name;
  writeMessages(dir, 'files.img', 'FILES', files);
  const html = pageOf(dir);
  expect(html).not.toContain('<script>');
  const { page } = await open(html);
  expect(await page.locator('script, #bold').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  await expect(page.locator(`li.proc[data-pid="${root}"] > .node > .comm`)).toHaveText(comm);
  await expect(page.locator(`#task-${root} h3 .comm`)).toHaveText(comm);
  await expect(page.locator(`#task-${root} tr.fd[data-fd="9"] td.what`)).toHaveText(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} pos 4096`));
  await page.close();
});

test('a unix socket pair between two tasks is drawn as a link; an eventfd shows its counter', async () => {
  // the tree fixture with the pipe between the root (fd 4) and its children (fd 3) turned into
  // a connected unix socket pair, and the children's fd 6 into an eventfd
  const dir = path.join(tmp, 'sockets');
  fs.cpSync(TREE, dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  const files = readMessagesOf(path.join(dir, 'files.img'), 'FILES');
  const fown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
  const opts = { so_sndbuf: 212992, so_rcvbuf: 212992, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n };
  const usk = (id: number, ino: number, peer: number) => ({
    id,
    ino,
    type: 1,
    state: 1,
    flags: 2,
    uflags: 0,
    backlog: 0,
    peer,
    fown,
    opts,
    name: Buffer.alloc(0),
  });
  const [rootEnd, kidEnd, kidEfd] = [3, 10, 11].map((id) => files.findIndex((f) => f.id === id));
  expect([files[rootEnd].pipe, files[kidEnd].pipe, files[kidEfd].pipe].every(Boolean)).toBe(true);
  files[rootEnd] = { type: 5, id: 3, usk: usk(3, 777001, 777002) };
  files[kidEnd] = { type: 5, id: 10, usk: usk(10, 777002, 777001) };
  files[kidEfd] = { type: 6, id: 11, efd: { id: 11, flags: 2, fown, counter: 12345n } };
  writeMessages(dir, 'files.img', 'FILES', files);
  for (const n of [2, 3, 4]) {
    const fds = readMessagesOf(path.join(dir, `fdinfo-${n}.img`), 'FDINFO');
    for (const fd of fds) if (fd.id === 3 || fd.id === 10) fd.type = 5;
    for (const fd of fds) if (fd.id === 11) fd.type = 6;
    writeMessages(dir, `fdinfo-${n}.img`, 'FDINFO', fds);
  }
  const pids = pstreeOf(dir).map((p) => p.pid);
  const { page } = await open(pageOf(dir));
  const link = page.locator('svg.links g.link[data-object="unix:777001-777002"]');
  await expect(link).toBeVisible();
  expect((await link.getAttribute('data-pids'))!.split(' ').map(Number)).toEqual(pids);
  // the unix pair and pipe 1634037; pipe 1634036 is left to the root alone, which joins nothing
  await expect(page.locator('svg.links g.link')).toHaveCount(2);
  await expect(page.locator('svg.links g.link[data-object="pipe:1634036"]')).toHaveCount(0);
  await expect(page.locator(`#task-${pids[0]} tr.fd[data-fd="4"] td.what`)).toHaveText('unix stream socket:[777001] peer socket:[777002]');
  await expect(page.locator(`#task-${pids[1]} tr.fd[data-fd="3"] td.what`)).toHaveText('unix stream socket:[777002] peer socket:[777001]');
  await expect(page.locator(`#task-${pids[1]} tr.fd[data-fd="6"] td.what`)).toHaveText('eventfd counter 12345');
  await expect(page.locator(`#task-${pids[1]} tr.fd[data-fd="6"] td`).nth(1)).toHaveText('EVENTFD');
  await page.close();
});
