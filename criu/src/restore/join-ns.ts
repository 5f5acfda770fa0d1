// --join-ns (CRIU's join_namespaces): the root puppet, made in the tool's namespace of that
// kind, joins the given one before anything else is done in it; its children inherit it. The
// namespace file is open in the tool: the puppet takes that fd with an injected pidfd_open of
// the tool and pidfd_getfd (no memory of its own is needed yet), then setns(2) and closes both.
import type { Puppet } from './puppet.js';
import type { JoinNs } from '../ns/index.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { errnoName } from '../sys/libc.js';

export function joinNamespaces(p: Puppet, join: readonly JoinNs[]): void {
  if (!join.length) return;
  const pidfd = Number(p.inj.must('pidfd_open', process.pid, 0));
  try {
    for (const j of join) {
      const fd = Number(p.inj.must('pidfd_getfd', pidfd, j.fd, 0));
      const r = p.inj.call('setns', fd, j.cloneFlag);
      p.inj.must('close', fd);
      if (r < 0n)
        throw new CriuError(`task ${p.pid}: cannot join the ${j.kind} namespace ${j.path} (setns: ${errnoName(Number(-r))})`, {
          task: p.pid,
          object: j.path,
          hint: '--join-ns takes a namespace file of that kind',
        });
      log.info(`task ${p.pid}: joined the ${j.kind} namespace ${j.path} (--join-ns)`);
    }
  } finally {
    p.inj.must('close', pidfd);
  }
}
