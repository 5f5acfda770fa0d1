// zdtm tests in flavor ns (project zdtm-ns); see zdtm/run.mjs.
import { declareZdtm } from './declare.js';

declareZdtm('ns');
