/**
 * `inkwell cka --x a.npy --y b.npy`: --json prints exactly {"cka": value} equal to the numpy reference for
 * each kernel/estimator; the table names files and shapes; errors name the files (the --checkpoints form has
 * its own test, cka-checkpoints). One run goes through bin/inkwell (when the CLI registers the command); the others
 * share one child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import * as torch from '../../src/torch/index.js';
import { type CliRun, evalFixtures, runCommandBatch, runInkwell } from './harness.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;

function checkJson(name: string, r: CliRun, exp: number): void {
  assert.equal(r.code, 0, `${name}: ${r.stderr}`);
  const got = JSON.parse(r.stdout) as { cka: number };
  assert.deepEqual(Object.keys(got), ['cka']);
  assert.ok(Math.abs(got.cka - exp) <= 1e-9 * Math.abs(exp), `${name}: ${got.cka} vs ${exp} (via ${r.via})`);
}

test('cka --json equals the numpy reference for linear, RBF, debiased and minibatch; the table names files and shapes', {
  skip,
}, () => {
  const { dir, expected } = evalFixtures();
  const e = expected.cka['xz'] as Record<string, number>;
  const base = ['--x', join(dir, 'cka_x.npy'), '--y', join(dir, 'cka_z.npy')];
  checkJson('rbf05', runInkwell('cka', [...base, '--kernel', 'rbf', '--json']), e['rbf05']!);
  const runs: [string, string[]][] = [
    ['linear', []],
    ['linear_debiased', ['--debiased']],
    ['rbf10', ['--kernel', 'rbf', '--threshold', '1.0']],
    ['rbf05_debiased', ['--kernel', 'rbf', '--threshold', '0.5', '--debiased']],
    ['minibatch16_linear', ['--batch-size', '16']],
  ];
  const results = runCommandBatch('cka', [
    ...runs.map(([, a]) => [...base, ...a, '--json']),
    [...base, '--kernel', 'rbf'],
  ]);
  runs.forEach(([name], i) => checkJson(name, results[i]!, e[name]!));
  const table = results.at(-1)!;
  assert.match(table.stdout, /cka_x\.npy \[64, 20\]/);
  assert.match(table.stdout, /RBF \(threshold 0\.5\) CKA, biased: 0\.\d{6}/);
});

test('cka errors name the files and the problem; --checkpoints on a folder without checkpoints says so', {
  skip,
}, async () => {
  const { dir } = evalFixtures();
  const tmp = mkdtempSync(join(tmpdir(), 'inkwell-cka-'));
  await torch.saveNpy(
    join(tmp, 'three.npy'),
    torch.tidy(() => torch.randn([3, 4], { dtype: 'float64' })),
  );
  await torch.saveNpy(
    join(tmp, 'const.npy'),
    torch.tidy(() => torch.ones([64, 5])),
  );
  const x = join(dir, 'cka_x.npy');
  const [rows, few, flat, missing, none, kernel, ck] = runCommandBatch('cka', [
    ['--x', x, '--y', join(dir, 'cka_big_x.npy')],
    ['--x', join(tmp, 'three.npy'), '--y', join(tmp, 'three.npy'), '--debiased'],
    ['--x', x, '--y', join(tmp, 'const.npy')],
    ['--x', x, '--y', join(tmp, 'missing.npy')],
    ['--x', x],
    ['--x', x, '--y', x, '--kernel', 'cosine'],
    ['--checkpoints', tmp, '--input', tmp, '--samples', '8'],
  ]) as CliRun[] as [CliRun, CliRun, CliRun, CliRun, CliRun, CliRun, CliRun];
  assert.equal(rows.code, 1);
  assert.match(
    rows.stderr,
    /X has 64 rows and Y has 66.*\(X = .*cka_x\.npy \[64, 20\], Y = .*cka_big_x\.npy \[66, 10\]\)/,
  );
  assert.match(few.stderr, /needs more than 3 samples.*got n = 3/);
  assert.match(flat.stderr, /HSIC\(Y, Y\), the CKA denominator, is 0: its features are constant.*const\.npy/);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /missing\.npy/);
  assert.match(none.stderr, /expected --x and --y/);
  assert.notEqual(kernel.code, 0);
  assert.match(kernel.stderr, /Allowed choices are linear, rbf/);
  assert.equal(ck.code, 1);
  assert.match(ck.stderr, /holds no checkpoints, expected files ending in \.pth/);
});
