// The cgroup properties CRIU 4.2 dumps and how it restores them (cgroup-props.c, cgroup.c).

/** per controller, the built-in lists (cgroup-props.c), in their order (memory's limits first) */
export const BUILTIN_PROPS: Record<string, readonly string[]> = {
  cpu: ['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.rt_period_us', 'cpu.rt_runtime_us'],
  memory: [
    'memory.limit_in_bytes',
    'memory.memsw.limit_in_bytes',
    'memory.swappiness',
    'memory.soft_limit_in_bytes',
    'memory.move_charge_at_immigrate',
    'memory.oom_control',
    'memory.use_hierarchy',
    'memory.kmem.limit_in_bytes',
    'memory.kmem.tcp.limit_in_bytes',
  ],
  cpuset: [
    'cpuset.cpus',
    'cpuset.mems',
    'cpuset.memory_migrate',
    'cpuset.cpu_exclusive',
    'cpuset.mem_exclusive',
    'cpuset.mem_hardwall',
    'cpuset.memory_spread_page',
    'cpuset.memory_spread_slab',
    'cpuset.sched_load_balance',
    'cpuset.sched_relax_domain_level',
  ],
  blkio: ['blkio.weight'],
  freezer: [],
  perf_event: [],
  net_cls: ['net_cls.classid'],
  net_prio: ['net_prio.ifpriomap'],
  pids: ['pids.max'],
  devices: ['devices.list'],
};

/** every v1 hierarchy's own files, then v2's (cgroup.c global props) */
export const GLOBAL_V1 = ['cgroup.clone_children', 'notify_on_release', 'cgroup.procs', 'tasks'] as const;
export const GLOBAL_V2 = ['cgroup.subtree_control', 'cgroup.max.descendants', 'cgroup.max.depth', 'cgroup.freeze', 'cgroup.type'] as const;

/** set when the directory is made, before any task enters it (is_special_property) */
export const SPECIAL = new Set([
  'cpuset.cpus',
  'cpuset.mems',
  'devices.list',
  'memory.kmem.limit_in_bytes',
  'memory.swappiness',
  'memory.oom_control',
  'memory.use_hierarchy',
  'cgroup.type',
]);

/** the property files of a directory of the controller with these names */
export function propsOf(cnames: readonly string[]): string[] {
  if (cnames.length === 1 && cnames[0] === '') return [...GLOBAL_V2];
  return [...cnames.flatMap((c) => BUILTIN_PROPS[c] ?? []), ...GLOBAL_V1];
}
