// The fast zdtm subset of `npm test` (project zdtm-fast): the tests of zdtm/fast.json, real
// checkpoint and restore in flavor h.
import * as os from 'node:os';
import * as path from 'node:path';
import { readFast } from './catalog.mjs';
import { declareZdtm } from './declare.js';

declareZdtm('h', readFast(), process.env.ZDTM_OPTS ? {} : { work: path.join(os.tmpdir(), 'zdtm-work-fast') });
