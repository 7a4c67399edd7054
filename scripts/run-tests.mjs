// Runs every compiled test file (dist/**/*.test.js) with Node's own test runner.
// Extra arguments are substrings that select test files, e.g. `node scripts/run-tests.mjs serialization`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
walk(dist);
const filters = process.argv.slice(2);
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => relative(dist, f).includes(s))).sort();
if (selected.length === 0) {
  console.error(`run-tests: no test files under ${dist}${filters.length ? ' matching ' + filters.join(', ') : ''}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...selected], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(result.status ?? 1);
