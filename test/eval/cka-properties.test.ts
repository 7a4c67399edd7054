/**
 * CKA properties (Kornblith et al. 2019): CKA(X, X) = 1; invariance to orthogonal transforms and isotropic
 * scaling (linear; RBF with its median-scaled bandwidth too); not invariant to general invertible maps;
 * values in [0, 1] for the biased estimator; and the edge cases that give NaN elsewhere raise clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { cka, ckaMatrix, MinibatchCka, minibatchCka } from '../../src/eval/index.js';

function withSeed<T>(seed: number, fn: () => T): T {
  torch.manualSeed(seed);
  return torch.tidy(fn);
}

/** A random orthogonal matrix [p, p] (Gram-Schmidt on a Gaussian matrix), float64. */
function orthogonal(p: number): torch.Tensor {
  const a = torch.randn([p, p], { dtype: 'float64' }).toTypedArray() as Float64Array;
  const q = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    const v = Array.from({ length: p }, (_, i) => a[i * p + j]!);
    for (let k = 0; k < j; k++) {
      let d = 0;
      for (let i = 0; i < p; i++) d += v[i]! * q[i * p + k]!;
      for (let i = 0; i < p; i++) v[i]! -= d * q[i * p + k]!;
    }
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    for (let i = 0; i < p; i++) q[i * p + j] = v[i]! / norm;
  }
  return torch.fromTypedArray(q, [p, p], { dtype: 'float64' });
}

test('CKA(X, X) = 1 for every kernel and estimator, and ckaMatrix has a unit diagonal', () =>
  withSeed(1, () => {
    const x = torch.randn([40, 12], { dtype: 'float64' });
    for (const kernel of ['linear', 'rbf'] as const) {
      for (const debiased of [false, true]) {
        const v = cka(x, x, { kernel, debiased });
        assert.ok(Math.abs(v - 1) < 1e-12, `${kernel} debiased=${debiased}: ${v}`);
      }
      assert.ok(Math.abs(minibatchCka(x, x, { kernel, batchSize: 10 }) - 1) < 1e-12);
    }
    const m = ckaMatrix([x, torch.randn([40, 5], { dtype: 'float64' })], { kernel: 'rbf' });
    assert.ok(Math.abs(m[0]![0]! - 1) < 1e-12 && Math.abs(m[1]![1]! - 1) < 1e-12);
  }));

test('linear and RBF CKA are invariant to orthogonal transforms and isotropic scaling, linear not to general maps', () =>
  withSeed(2, () => {
    const x = torch.randn([50, 8], { dtype: 'float64' });
    const y = x.matmul(torch.randn([8, 6], { dtype: 'float64' })).add(torch.randn([50, 6], { dtype: 'float64' }));
    const q = orthogonal(8);
    const xq = x.matmul(q).mul(3.7).add(1.25); // rotate, scale isotropically, translate
    for (const kernel of ['linear', 'rbf'] as const) {
      for (const debiased of [false, true]) {
        const a = cka(x, y, { kernel, debiased });
        const b = cka(xq, y, { kernel, debiased });
        assert.ok(Math.abs(a - b) < 1e-10, `${kernel} debiased=${debiased}: ${a} vs ${b}`);
      }
    }
    // An anisotropic scaling changes linear CKA (it is not invariant to invertible linear maps).
    const scales = torch.tensor([10, 1, 1, 1, 1, 1, 1, 0.1], { dtype: 'float64' });
    assert.ok(Math.abs(cka(x, y) - cka(x.mul(scales), y)) > 1e-3);
    // The biased estimator lies in [0, 1]; unrelated representations give small values.
    const noise = torch.randn([50, 6], { dtype: 'float64' });
    const v = cka(x, noise);
    assert.ok(v >= 0 && v <= 1 && v < 0.5, `unrelated linear CKA ${v}`);
  }));

test('edge cases that give NaN elsewhere raise errors naming the problem', () =>
  withSeed(3, () => {
    const x = torch.randn([10, 4], { dtype: 'float64' });
    const constant = torch.ones([10, 4], { dtype: 'float64' }).mul(0.1);
    assert.throws(
      () => cka(x, torch.randn([9, 4], { dtype: 'float64' })),
      /cka: X has 10 rows and Y has 9 \(shapes \[10, 4\] and \[9, 4\]\), expected the same samples/,
    );
    assert.throws(
      () => cka(x.slice(0, 0, 3), x.slice(0, 0, 3), { debiased: true }),
      /debiased \(unbiased HSIC\) estimator needs more than 3 samples.*got n = 3/,
    );
    for (const debiased of [false, true]) {
      assert.throws(
        () => cka(x, constant, { debiased }),
        /HSIC\(Y, Y\), the CKA denominator, is 0: its features are constant across the samples/,
      );
      assert.throws(() => cka(constant, x, { debiased }), /HSIC\(X, X\)/);
    }
    // Linear biased with few features takes the feature-space path: same error.
    assert.throws(
      () => cka(torch.randn([500, 2], { dtype: 'float64' }), torch.ones([500, 2], { dtype: 'float64' })),
      /HSIC\(Y, Y\).*is 0: its features are constant/,
    );
    assert.throws(
      () => cka(x, constant, { kernel: 'rbf' }),
      /HSIC\(Y, Y\), the CKA denominator, is 0: its features are constant across the samples \(all 10 rows are the same/,
    );
    // 8 of 10 rows identical: 66 of the 100 squared distances are 0, so the median is 0.
    const mostlySame = torch.cat([torch.ones([8, 4], { dtype: 'float64' }), torch.randn([2, 4], { dtype: 'float64' })]);
    assert.throws(
      () => cka(x, mostlySame, { kernel: 'rbf' }),
      /median squared distance between the 10 rows is 0 \(at least half of the row pairs are identical\)/,
    );
    assert.throws(() => cka(x, x, { kernel: 'rbf', threshold: 0 }), /RBF threshold 0 is invalid/);
    assert.throws(() => cka(x, x.div(0)), /Y holds 40 NaN or infinite values/);
    assert.throws(() => cka(torch.randn([10], { dtype: 'float64' }), x), /X has shape \[10\], expected \[n, p\]/);
    assert.throws(
      () => cka(new Float32Array(10), new Float32Array(10)),
      /flat Float32Array\(10\), expected the number of rows in 'samples'/,
    );
    assert.throws(
      () => cka(new Float32Array(10), new Float32Array(10), { samples: 3 }),
      /10 values, not a whole number of rows for samples = 3/,
    );
    assert.throws(() => cka(x, x, { kernel: 'cosine' as never }), /kernel 'cosine' is unknown/);
    assert.throws(
      () => new MinibatchCka().update(x.slice(0, 0, 3), x.slice(0, 0, 3)),
      /unbiased HSIC of a minibatch needs more than 3 rows, got 3/,
    );
    assert.throws(() => new MinibatchCka().value(), /no minibatches were added/);
    assert.throws(() => minibatchCka(x, x, { batchSize: 2 }), /batch size 2 is invalid, expected an integer >= 4/);
    assert.throws(
      () => minibatchCka(x, constant, { batchSize: 5 }),
      /HSIC\(Y, Y\), the CKA denominator, is 0: its features are constant across the samples \(the rows of all 2 batches are the same/,
    );
    assert.throws(
      () => ckaMatrix([x, constant]),
      /HSIC\(representation 1, representation 1\), the CKA denominator, is 0/,
    );
    assert.throws(() => ckaMatrix([x, torch.randn([11, 4])]), /representation 1 has 11 rows.*representation 0 has 10/);
    assert.throws(() => ckaMatrix([]), /no representations given/);
    const huge = torch.randn([16385, 2], { dtype: 'float64' });
    assert.throws(
      () => cka(huge, huge, { kernel: 'rbf' }),
      /16385 samples need 16385x16385 grams \(2\.0 GiB each in float64\).*use minibatch CKA/,
    );
    assert.ok(Math.abs(cka(huge, huge) - 1) < 1e-12, 'biased linear CKA of many samples runs in feature space');
  }));

test('cka leaves no tensors behind and accepts tensors that require grad and higher-rank features', () => {
  torch.manualSeed(4);
  const x = torch.keep(torch.randn([20, 2, 3], { requiresGrad: true }));
  const y = torch.keep(torch.randn([20, 5]));
  const before = torch.memory().liveTensors;
  const v = cka(x, y, { kernel: 'rbf', debiased: true });
  ckaMatrix([x, y], { kernel: 'rbf' });
  assert.ok(Number.isFinite(v));
  assert.equal(torch.memory().liveTensors, before, 'no leaked tensors');
  x.dispose();
  y.dispose();
});
