// The sample perf_event plugin of perf_plugin.c written as a TypeScript-style plugin (an ES
// module in the plugin folder; plugins-engine.spec.ts). It uses what the tool hands a plugin
// (PluginHost): the log, the image API for an image of its own, and the tool's system calls.
// DUMP_EXT_FILE: a perf event (the tool's copy of the fd) is recorded in perf-ts-ID.img, one
// ext_file_entry through the typed image API, whose fown.pid names the task that holds the
// event (found with kcmp over /proc/PID/fd). The kernel shows no event's attr through its fd, so
// the plugin makes again the one event it knows, the task clock. RESTORE_EXT_FILE opens it on
// that task again. The plugin records itself in the inventory.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ENOTSUP = 95;
const KCMP_FILE = 0;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_TASK_CLOCK = 1;
const PERF_ATTR_SIZE = 128; // PERF_ATTR_SIZE_VER8
const PERF_FLAG_FD_CLOEXEC = 8;

let host = null;
let recorded = false;

const isPerf = (p) => {
  try {
    return fs.readlinkSync(p) === 'anon_inode:[perf_event]';
  } catch {
    return false;
  }
};

function ownerOf(fd) {
  for (const d of fs.readdirSync('/proc')) {
    const pid = Number(d);
    if (!pid || pid === process.pid) continue;
    let fds = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const f of fds) {
      if (!isPerf(`/proc/${pid}/fd/${f}`)) continue;
      try {
        if (host.sys.kcmp(process.pid, pid, KCMP_FILE, fd, Number(f)) === 0) return pid;
      } catch {
        /* gone */
      }
    }
  }
  return -1;
}

export default {
  name: 'perf_event_ts',
  init(stage, h) {
    host = h;
    recorded = false;
    h.log.info(`perf_event_ts: init stage ${stage}`);
    return 0;
  },
  exit(stage, ret) {
    host.log.info(`perf_event_ts: exit stage ${stage} ret ${ret}`);
  },
  dumpExtFile(fd, id) {
    if (!isPerf(`/proc/self/fd/${fd}`)) return -ENOTSUP;
    const pid = ownerOf(fd);
    if (pid < 0) {
      host.log.error(`perf_event_ts: no task holds file ${id}`);
      return -1;
    }
    const fown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid };
    host.images.typed.writeMessages(host.imageDir, `perf-ts-${id}.img`, 'EXT_FILES', [{ id, fown }]);
    if (!recorded && host.addInventoryPlugin('perf_event_ts')) return -1;
    recorded = true;
    host.log.info(`perf_event_ts: dumped file ${id} of task ${pid}`);
    return 0;
  },
  restoreExtFile(id) {
    const f = path.join(host.imageDir, `perf-ts-${id}.img`);
    if (!fs.existsSync(f)) return -ENOTSUP;
    const e = host.images.typed.readOne(f, 'EXT_FILES');
    const attr = Buffer.alloc(PERF_ATTR_SIZE);
    attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
    attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
    attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_TASK_CLOCK), 8);
    const fd = host.sys.perfEventOpen(attr, e.fown.pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    host.log.info(`perf_event_ts: restored file ${id} on task ${e.fown.pid} as fd ${fd}`);
    return fd;
  },
};
