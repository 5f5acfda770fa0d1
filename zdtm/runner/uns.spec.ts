// zdtm tests in flavor uns (project zdtm-uns); see zdtm/run.mjs.
import { declareZdtm } from './declare.js';

declareZdtm('uns');
