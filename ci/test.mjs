#!/usr/bin/env node
// `npm test`: the unit tests and the fast zdtm subset (flavor h), through Playwright.
import { spawnSync } from 'node:child_process';

const args = ['playwright', 'test', ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
