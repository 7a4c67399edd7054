/**
 * CKA against numpy implementations of the published formulas (eval_fixtures.py): linear and RBF CKA
 * (Kornblith et al. 2019; explicit H K H products, RBF distances by broadcasting), the debiased estimator
 * (unbiased HSIC, Song et al. 2012), minibatch CKA (Nguyen et al. 2021, incl. a merged trailing batch), and
 * the epoch x epoch matrix. Float64 throughout; tolerance 1e-9 relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hasTorchPython, NO_TORCH_REASON } from '../helpers/python.js';
import * as torch from '../../src/torch/index.js';
import {
  batchRanges,
  cka,
  ckaMatrix,
  featureSpaceLinearCka,
  minibatchCka,
  MinibatchCka,
} from '../../src/eval/index.js';
import { evalFixtures } from './harness.js';

const skip = hasTorchPython() ? false : NO_TORCH_REASON;
const RTOL = 1e-9;
let worstRel = 0;

function close(actual: number, expected: number, what: string): void {
  const rel = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  worstRel = Math.max(worstRel, rel);
  assert.ok(rel <= RTOL, `${what}: ${actual} != ${expected} (relative diff ${rel.toExponential(2)})`);
}

function load(dir: string, name: string): torch.Tensor {
  return torch.keep(torch.loadNpy(join(dir, `${name}.npy`)));
}

test('cka (linear, RBF 0.5 and 1.0, biased and debiased) and minibatch CKA equal the numpy formulas', { skip }, () => {
  const { dir, expected } = evalFixtures();
  const reps = { x: load(dir, 'cka_x'), y: load(dir, 'cka_y'), z: load(dir, 'cka_z') };
  try {
    for (const pair of ['xy', 'xz', 'yz'] as const) {
      const e = expected.cka[pair] as Record<string, number>;
      const a = reps[pair[0] as 'x' | 'y' | 'z'];
      const b = reps[pair[1] as 'x' | 'y' | 'z'];
      close(cka(a, b), e['linear']!, `${pair} linear`);
      close(featureSpaceLinearCka(a, b), e['linear_feature_space']!, `${pair} linear feature space`);
      close(cka(a, b, { debiased: true }), e['linear_debiased']!, `${pair} linear debiased`);
      close(cka(a, b, { kernel: 'rbf' }), e['rbf05']!, `${pair} rbf 0.5`);
      close(cka(a, b, { kernel: 'rbf', threshold: 1.0 }), e['rbf10']!, `${pair} rbf 1.0`);
      close(cka(a, b, { kernel: 'rbf', debiased: true }), e['rbf05_debiased']!, `${pair} rbf 0.5 debiased`);
      close(minibatchCka(a, b, { batchSize: 16 }), e['minibatch16_linear']!, `${pair} minibatch linear`);
      close(minibatchCka(a, b, { batchSize: 16, kernel: 'rbf' }), e['minibatch16_rbf05']!, `${pair} minibatch rbf`);
      // Float32Array inputs with `samples` (the ckaMatrix Float32Array[] form) are widened to float64.
      const fa = a.toTypedArray() as Float64Array;
      const fb = b.toTypedArray() as Float64Array;
      close(cka(fa, fb, { samples: a.shape[0]! }), e['linear']!, `${pair} linear from flat arrays`);
    }
    const big = expected.cka['big'] as Record<string, unknown>;
    const bx = load(dir, 'cka_big_x');
    const by = load(dir, 'cka_big_y');
    assert.deepEqual(batchRanges(66, 16, 4), big['ranges16']);
    close(minibatchCka(bx, by, { batchSize: 16 }), big['minibatch16_linear'] as number, 'big minibatch linear');
    close(
      minibatchCka(bx, by, { batchSize: 16, kernel: 'rbf' }),
      big['minibatch16_rbf05'] as number,
      'big minibatch rbf',
    );
    // The accumulator form over the same batches.
    const acc = new MinibatchCka();
    for (const [s, e] of batchRanges(66, 16, 4)) torch.tidy(() => acc.update(bx.slice(0, s, e), by.slice(0, s, e)));
    assert.equal(acc.batches, 4);
    close(acc.value(), big['minibatch16_linear'] as number, 'MinibatchCka accumulator');
    bx.dispose();
    by.dispose();
    console.log(`cka: max relative diff vs numpy: ${worstRel.toExponential(2)}`);
  } finally {
    Object.values(reps).forEach((t) => t.dispose());
  }
});

test('ckaMatrix equals the pairwise numpy values (linear, RBF, debiased, minibatch) and is symmetric', { skip }, () => {
  const { dir, expected } = evalFixtures();
  const reps = ['cka_x', 'cka_y', 'cka_z'].map((n) => load(dir, n));
  try {
    const e = expected.cka['matrix'] as Record<string, number[][]>;
    const runs: [string, Parameters<typeof ckaMatrix>[1]][] = [
      ['linear', {}],
      ['rbf05', { kernel: 'rbf', threshold: 0.5 }],
      ['linear_debiased', { debiased: true }],
      ['minibatch16_linear', { batchSize: 16 }],
    ];
    for (const [name, opts] of runs) {
      const m = ckaMatrix(reps, opts);
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          close(m[i]![j]!, e[name]![i]![j]!, `matrix ${name} [${i}][${j}]`);
          assert.equal(m[i]![j], m[j]![i], `matrix ${name} symmetric`);
        }
      }
    }
    // Float32Array[] form: rows given by `samples`.
    const flat = reps.map((t) => Float32Array.from(t.toTypedArray() as Float64Array));
    const mf = ckaMatrix(flat, { samples: 64 });
    const mt = ckaMatrix(reps.map((t) => torch.keep(t.float())));
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(mf[i]![j]! - mt[i]![j]!) < 1e-12);
  } finally {
    reps.forEach((t) => t.dispose());
  }
});
