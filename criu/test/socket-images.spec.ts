// The files.img entries of netlink, packet, raw and ping sockets hold what CRIU 4.2 writes for
// them (netlink_sk_entry, packet_sock_entry, inet_sk_entry with ip_opts_raw_entry), read back
// with crit from a dump (-R, the task runs on) of the zdtm programs that make them.
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, crit, repo, tmpdir, waitFile } from './lib.js';

const pids: number[] = [];
test.afterAll(() => {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

interface Entry {
  type: string;
  nlsk?: {
    protocol: number;
    state: number;
    portid: number;
    groups?: number[];
    dst_portid: number;
    dst_group: number;
    ns_id?: number;
    opts: Record<string, unknown>;
  };
  psk?: {
    type: number;
    protocol: number;
    ifindex: number;
    version: number;
    reserve: number;
    aux_data: boolean;
    orig_dev: boolean;
    timestamp: number;
    mclist?: { index: number; type: number; addr: string }[];
    fanout?: number;
    ns_id?: number;
  };
  isk?: { family: string; type: string; proto: number; state: string; src_port: number; ip_opts?: { raw?: Record<string, unknown> }; tcp_opts?: object };
}

/** the socket entries of a dump of zdtm program `name`, left running */
async function entries(name: string): Promise<Entry[]> {
  const dir = tmpdir(`img-${name}`);
  const pidfile = path.join(dir, 'pid');
  execFileSync(path.join(repo, 'zdtm', 'build', 'static', name), [`--pidfile=${pidfile}`, `--outfile=${path.join(dir, 'out')}`]);
  const pid = Number(await waitFile(pidfile));
  pids.push(pid);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-R', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  const files = JSON.parse(crit(['show', path.join(img, 'files.img')]).stdout) as { entries: Entry[] };
  return files.entries.filter((e) => e.nlsk || e.psk || e.isk);
}

test('netlink sockets: protocol, port id, groups (above 32 in the second word), connected state, ns_id of those sock_diag shows', async () => {
  const nl = (await entries('socket_netlink')).map((e) => e.nlsk!);
  expect(nl).toHaveLength(4);
  const [bound, unbound, connected, diag] = nl;
  expect(bound).toMatchObject({ protocol: 0, groups: [0x9000, 0x2], dst_portid: 0, dst_group: 0 });
  expect(bound.portid).toBeGreaterThan(0);
  expect(bound.ns_id).toBeDefined();
  expect(bound.opts).toHaveProperty('so_passcred', false);
  expect(unbound).toMatchObject({ protocol: 0, state: 0, portid: 0 });
  expect(unbound.groups ?? []).toEqual([]);
  expect(unbound.ns_id).toBeUndefined();
  expect(connected).toMatchObject({ state: 1, dst_portid: 0, dst_group: 0 });
  expect(diag.protocol).toBe(4);
  expect(diag.portid >>> 24).toBe(0x5a);
});

test('packet sockets: the protocol in network order, ifindex, options, memberships (one entry per add), fanout', async () => {
  const pk = (await entries('packet_sock')).map((e) => e.psk!);
  expect(pk).toHaveLength(3);
  const [all, ip, fan] = pk;
  expect(all).toMatchObject({ type: 3, protocol: 0x0300, ifindex: 1, version: 1, reserve: 64, aux_data: true, orig_dev: true });
  expect(all.mclist?.map((m) => m.type).sort()).toEqual([0, 0, 2]); // ALLMULTI, and the multicast address added twice
  expect(all.fanout).toBeUndefined();
  expect(ip).toMatchObject({ type: 2, protocol: 0x0008, ifindex: 0, aux_data: false });
  expect(fan.fanout! >>> 16).toBe(0); // PACKET_FANOUT_HASH
  expect(all.ns_id).toBeDefined();
});

test('raw sockets: ip_opts_raw_entry with hdrincl, nodefrag and the ICMP filters; ping sockets without it', async () => {
  const raw = (await entries('socket_raw')).map((e) => e.isk!);
  expect(raw.map((r) => [r.type, r.proto, r.src_port])).toEqual([
    ['RAW', 1, 1],
    ['RAW', 255, 255],
    ['RAW', 253, 253],
    ['RAW', 58, 58],
  ]);
  expect(raw[0].ip_opts?.raw).toEqual({ icmpv_filter: [0xfffffffe] });
  expect(raw[1].ip_opts?.raw).toEqual({ hdrincl: true });
  expect(raw[2].ip_opts?.raw).toEqual({ nodefrag: true });
  expect(raw[2].state).toBe('ESTABLISHED');
  expect((raw[3].ip_opts?.raw as { icmpv_filter: number[] }).icmpv_filter).toHaveLength(8);
  expect(raw[0].tcp_opts).toEqual({});
  const ping = (await entries('socket_icmp')).map((e) => e.isk!);
  expect(ping.map((p) => [p.type, p.proto])).toEqual([
    ['DGRAM', 1],
    ['DGRAM', 58],
    ['DGRAM', 1],
  ]);
  for (const p of ping) {
    expect(p.src_port).toBeGreaterThan(0);
    expect(p.ip_opts?.raw).toBeUndefined();
  }
  expect(ping[2].state).toBe('ESTABLISHED');
});

test.skip(!fs.existsSync(path.join(repo, 'zdtm', 'build', 'static', 'socket_raw')), 'zdtm programs are not built');
