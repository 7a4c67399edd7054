/**
 * `inkwell score` end to end on the PNG fixtures (8-bit and 16-bit predictions, 0/255 labels, 0/1 mask):
 * the --json output has exactly the seven keys and equals the numpy reference; the table prints; option
 * errors and different image sizes give clear messages naming both files and sizes. One run goes through
 * bin/inkwell (when the CLI registers the command); the others share one child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import { type CliRun, evalFixtures, runCommandBatch, runInkwell } from './harness.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;
const KEYS = ['f05', 'precision', 'recall', 'iou', 'dice', 'auc', 'threshold'];

function checkJson(name: string, r: CliRun, exp: Record<string, number>): void {
  assert.equal(r.code, 0, `${name}: ${r.stderr}`);
  const got = JSON.parse(r.stdout) as Record<string, number>;
  assert.deepEqual(Object.keys(got), KEYS, `${name} keys`);
  for (const k of KEYS) {
    if (k === 'threshold') assert.equal(Math.fround(got[k]!), Math.fround(exp[k]!), `${name}.${k}`);
    else assert.ok(Math.abs(got[k]! - exp[k]!) <= 1e-12, `${name}.${k}: ${got[k]} vs ${exp[k]} (via ${r.via})`);
  }
}

test('score --json prints exactly the seven keys, equal to the numpy reference (8-bit and 16-bit, threshold, best, tiles)', {
  skip,
}, () => {
  const { dir, expected } = evalFixtures();
  const f = (n: string): string => join(dir, n);
  const cases = expected.scores.cases as unknown as Record<string, Record<string, number>>;
  const common = ['--labels', f('labels.png'), '--mask', f('mask.png'), '--json'];
  checkJson(
    'p8_mask_best',
    runInkwell('score', ['--pred', f('pred8.png'), '--best-threshold', ...common]),
    cases['p8_mask_best']!,
  );
  const runs: [string, string[]][] = [
    ['p8_mask_t05', ['--pred', f('pred8.png'), ...common]],
    ['p16_mask_t03', ['--pred', f('pred16.png'), '--threshold', '0.3', ...common]],
    ['p16_mask_tiles32_best', ['--pred', f('pred16.png'), '--best-threshold', '--skip-empty-tiles', '32', ...common]],
    ['p8_nomask_best', ['--pred', f('pred8.png'), '--labels', f('labels.png'), '--best-threshold', '--json']],
  ];
  const results = runCommandBatch(
    'score',
    runs.map(([, a]) => a),
  );
  runs.forEach(([name], i) => checkJson(name, results[i]!, cases[name]!));
});

test('score prints a table by default; errors name both files and sizes, conflicting and invalid options', {
  skip,
}, () => {
  const { dir } = evalFixtures();
  const pred = join(dir, 'pred8.png');
  const labels = join(dir, 'labels.png');
  const small = join(dir, 'labels_small.png');
  const [table, sizes, maskSize, both, bad, missing] = runCommandBatch('score', [
    ['--pred', pred, '--labels', labels, '--skip-empty-tiles', '32'],
    ['--pred', pred, '--labels', small],
    ['--pred', pred, '--labels', labels, '--mask', small],
    ['--pred', pred, '--labels', labels, '--threshold', '0.4', '--best-threshold'],
    ['--pred', pred, '--labels', labels, '--threshold', '1.5'],
    ['--pred', join(dir, 'nope.png'), '--labels', labels],
  ]) as [CliRun, CliRun, CliRun, CliRun, CliRun, CliRun];
  assert.equal(table.code, 0, table.stderr);
  for (const word of [
    'F0.5',
    'precision',
    'recall',
    'IoU',
    'Dice',
    'ROC AUC',
    'threshold',
    '203x257 HxW, 8-bit',
    'tiles hold ink',
  ]) {
    assert.ok(table.stdout.includes(word), `table mentions ${word}:\n${table.stdout}`);
  }
  assert.equal(sizes.code, 1);
  assert.ok(
    sizes.stderr.includes(`labels ${small} is 200x252 (HxW) but the prediction ${pred} is 203x257`),
    sizes.stderr,
  );
  assert.ok(maskSize.stderr.includes(`mask ${small} is 200x252 (HxW)`), maskSize.stderr);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /cannot be used with/);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /'1.5' is not a threshold, expected a number in \[0, 1\]/);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.png/);
});
