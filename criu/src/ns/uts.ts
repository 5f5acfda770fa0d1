// The UTS namespace of a tree (CRIU's uts_ns.c): utsns-ID.img holds its nodename and
// domainname; the restore sets them in the new namespace the root puppet was made in.
import * as path from 'node:path';
import type { UtsnsEntry } from '../images/index.js';
import { readMessagesOf, writeMessages } from '../images/typed.js';
import { setHostname, sysctlRead, CLONE_NEWUTS } from './sysv.js';
import { badImage, type NsKind } from './kind.js';

export const uts: NsKind<UtsnsEntry> = {
  name: 'uts',
  cloneFlag: CLONE_NEWUTS,
  /** read in the namespace */
  dump: () => ({ nodename: sysctlRead('kernel/hostname') ?? '', domainname: sysctlRead('kernel/domainname') ?? '' }),
  write(dir, id, e) {
    const name = `utsns-${id}.img`;
    writeMessages(dir, name, 'UTSNS', [e]);
    return [name];
  },
  load(dir, id) {
    const name = `utsns-${id}.img`;
    const all = readMessagesOf(path.join(dir, name), 'UTSNS');
    if (all.length !== 1) throw badImage(name, 'entries:', `${all.length}, one expected`);
    return all[0];
  },
  restore(e) {
    setHostname('sethostname', e.nodename);
    setHostname('setdomainname', e.domainname);
  },
  describe: (e) => `nodename ${JSON.stringify(e.nodename)}, domainname ${JSON.stringify(e.domainname)}`,
};
