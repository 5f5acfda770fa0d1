// The cgroup properties CRIU 4.2 dumps and how it restores them (cgroup-props.c, cgroup.c), and
// --cgroup-props / --cgroup-props-file: CRIU's simplified YAML that merges properties into a
// controller's built-in list or replaces it:
//   "cpu":
//    - "strategy": "replace"
//    - "properties": ["cpu.shares", "cpu.cfs_period_us"]
import { CriuError } from '../errors.js';

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

/** the controllers' lists for this dump: the built-in ones, with --cgroup-props merged in or in their place */
let lists = new Map<string, readonly string[]>(Object.entries(BUILTIN_PROPS));

/** the property files of a directory of the controller with these names */
export function propsOf(cnames: readonly string[]): string[] {
  if (cnames.length === 1 && cnames[0] === '') return [...GLOBAL_V2];
  return [...cnames.flatMap((c) => lists.get(c) ?? []), ...GLOBAL_V1];
}

interface PropsRule {
  controller: string;
  strategy: 'merge' | 'replace';
  props: string[];
}

/** CRIU's simplified YAML of --cgroup-props (cgp_parse_stream): controllers, each with a strategy and a list of properties */
export function parseCgroupProps(text: string, what: string): PropsRule[] {
  const toks: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|([:\-[\],])|(\S)/g)) {
    if (m[3] !== undefined)
      throw new CriuError(`${what}: unexpected '${m[3]}' (the form is "CONTROLLER":\n - "strategy": "merge"|"replace"\n - "properties": ["NAME", …])`);
    toks.push(m[1] !== undefined ? `"${m[1]}` : m[2]);
  }
  let i = 0;
  const bad = (expected: string): never => {
    throw new CriuError(`${what}: ${expected}, found ${i < toks.length ? JSON.stringify(toks[i].replace(/^"/, '')) : 'the end'}`);
  };
  const quoted = (expected: string): string => (toks[i]?.startsWith('"') ? toks[i++].slice(1) : bad(expected));
  const sym = (c: string, expected: string): void => void (toks[i] === c ? i++ : bad(expected));
  const out: PropsRule[] = [];
  while (i < toks.length) {
    const controller = quoted('Expecting controller name');
    sym(':', `Expected ':' after controller ${controller}`);
    sym('-', `Expected ' - ' in controller's ${controller} stream`);
    if (quoted(`Expected 'strategy:' keyword in controller's ${controller} stream`) !== 'strategy')
      bad(`Expected 'strategy:' keyword in controller's ${controller} stream`);
    sym(':', `Expected ':' after "strategy" in controller's ${controller} stream`);
    const strategy = quoted(`Expected strategy in controller's ${controller} stream`);
    if (strategy !== 'merge' && strategy !== 'replace') throw new CriuError(`${what}: Unknown strategy "${strategy}" in controller's ${controller} stream`);
    sym('-', `Expected ' - ' in controller's ${controller} stream`);
    if (quoted(`Expected "properties:" keyword in controller's ${controller} stream`) !== 'properties')
      bad(`Expected "properties:" keyword in controller's ${controller} stream`);
    sym(':', `Expected ':' after "properties" in controller's ${controller} stream`);
    sym('[', `Expected '[' sequence controller's ${controller} properties stream`);
    const props: string[] = [];
    while (toks[i] !== ']') {
      props.push(quoted(`Expected property name for controller ${controller}`));
      if (toks[i] === ',') i++;
    }
    i++;
    out.push({ controller, strategy, props });
  }
  return out;
}

/** This dump's lists: the built-in ones, then each rule of --cgroup-props and --cgroup-props-file (in that order, as CRIU's cgp_init) applied */
export function setCgroupProps(rules: PropsRule[]): void {
  lists = new Map<string, readonly string[]>(Object.entries(BUILTIN_PROPS));
  for (const r of rules) lists.set(r.controller, r.strategy === 'merge' ? [...(lists.get(r.controller) ?? []), ...r.props] : r.props);
}
