#!/usr/bin/env node
// crit launcher: the implementation is compiled by tsc into dist/ (npm run build).
let mod;
try {
  mod = await import('../../dist/criu/src/cli/crit.js');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('/dist/')) {
    process.stderr.write('crit: not built yet: run `npm run build` in the criu-ts tree\n');
    process.exit(1);
  }
  throw e;
}
mod.run();
