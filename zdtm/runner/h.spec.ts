// zdtm tests in flavor h (project zdtm-h); see zdtm/run.mjs.
import { declareZdtm } from './declare.js';

declareZdtm('h');
