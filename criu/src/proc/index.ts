// /proc parsers: one module per file of /proc, each with a parse function over text (testable on
// strings) and a read function over a live pid.
export * from './util.js';
export * from './maps.js';
export * from './stat.js';
export * from './status.js';
export * from './limits.js';
export * from './fdinfo.js';
export * from './mountinfo.js';
export * from './tasks.js';
export * from './pagemap.js';
export * from './timers.js';
export * from './auxv.js';
export * from './mapfiles.js';
export * from './timens.js';
