// Break mode of every zdtm program in `npm test` (project zdtm-break): no checkpoint, flavor h,
// ZDTM_BREAK=1, so each program corrupts the state it checks and its verdict must be FAIL (a
// PASS means its check cannot fail). The same as `npm run zdtm -- -a -f h --nocr --break`.
import * as os from 'node:os';
import * as path from 'node:path';
import { listTests } from './catalog.mjs';
import { declareZdtm } from './declare.js';

// every program but the noauto ones (which run only when named, as with -a)
const names = listTests()
  .filter((t) => !t.desc.flags.includes('noauto'))
  .map((t) => t.name);
declareZdtm('h', names, { nocr: true, norst: false, iters: 1, breakMode: true, work: path.join(os.tmpdir(), 'zdtm-work-break') });
