/**
 * Autograd against finite differences (float64 central differences, as torch.autograd.gradcheck), plus
 * grad-mode control and error messages for misuse.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';

/** Max |analytic - numeric| over all elements of `x` for the scalar function f. */
function gradcheck(f: (x: Tensor) => Tensor, x: Tensor, eps = 1e-6): number {
  return torch.tidy(() => {
    const leaf = x.detach().requiresGrad_(true);
    f(leaf).backward();
    const analytic = leaf.grad!.toTypedArray() as Float64Array;
    const base = x.toTypedArray() as Float64Array;
    let worst = 0;
    for (let i = 0; i < base.length; i++) {
      const plus = Float64Array.from(base);
      plus[i]! += eps;
      const minus = Float64Array.from(base);
      minus[i]! -= eps;
      const fp = torch.noGrad(() => f(torch.fromTypedArray(plus, x.shape)).item());
      const fm = torch.noGrad(() => f(torch.fromTypedArray(minus, x.shape)).item());
      worst = Math.max(worst, Math.abs(analytic[i]! - (fp - fm) / (2 * eps)));
    }
    return worst;
  });
}

describe('gradients agree with finite differences (float64)', () => {
  torch.manualSeed(3);
  const cases: [string, (x: Tensor) => Tensor, number[]][] = [
    [
      'conv3d + relu + mean',
      (x) => {
        const w = torch.linspace(-1, 1, 2 * 2 * 27, { dtype: 'float64' }).reshape([2, 2, 3, 3, 3]);
        return F.relu(F.conv3d(x, w, null, { padding: 1 }))
          .pow(2)
          .mean();
      },
      [1, 2, 3, 4, 4],
    ],
    [
      'batch norm (training) + tanh',
      (x) => F.batchNorm(x, null, null, { training: true }).tanh().mul(x).sum(),
      [3, 2, 4],
    ],
    [
      'softmax cross-entropy with label smoothing',
      (x) => F.crossEntropy(x, torch.tensor([1, 0, 2], { dtype: 'int64' }), { labelSmoothing: 0.2 }),
      [3, 3],
    ],
    [
      'grid sample (bilinear) of the input',
      (x) => {
        const theta = torch.tensor(
          [
            [
              [0.8, 0.3, 0.1],
              [-0.2, 0.9, 0],
            ],
          ],
          { dtype: 'float64' },
        );
        return F.gridSample(x, F.affineGrid(theta, [1, 1, 5, 5]), { alignCorners: false })
          .pow(2)
          .sum();
      },
      [1, 1, 5, 5],
    ],
    [
      'cosine similarity + normalize',
      (x) => F.cosineSimilarity(F.normalize(x, 2, 1), torch.flip(x, [0]), 1).sum(),
      [4, 3],
    ],
    ['var/std over dims', (x) => x.var(1).sum().add(x.std(0).sum()), [4, 5]],
  ];
  for (const [name, f, shape] of cases) {
    it(name, () => {
      const x = torch.randn(shape, { dtype: 'float64' });
      try {
        const err = gradcheck(f, x);
        assert.ok(err < 1e-6, `${name}: max |analytic - numeric| = ${err}`);
      } finally {
        x.dispose();
      }
    });
  }
});

describe('grad mode and autograd errors', () => {
  it('noGrad builds no graph; enableGrad inside noGrad does', () => {
    torch.tidy(() => {
      const w = torch.ones([2]).requiresGrad_(true);
      const y = torch.noGrad(() => w.mul(2));
      assert.equal(y.requiresGrad, false);
      assert.equal(torch.isGradEnabled(), true);
      const z = torch.noGrad(() => torch.enableGrad(() => w.mul(2)));
      assert.equal(z.requiresGrad, true);
      assert.match(z.gradFn ?? '', /^MulBackward/);
    });
  });

  it('gradients accumulate across backward calls until cleared', () => {
    torch.tidy(() => {
      const w = torch.tensor([1, 2, 3]).requiresGrad_(true);
      w.mul(w).sum().backward();
      w.mul(w).sum().backward();
      assert.deepEqual(Array.from(w.grad!.toFloat32Array()), [4, 8, 12]);
      w.grad = null;
      assert.equal(w.grad, null);
    });
  });

  it('backward on a tensor without a graph, or a non-scalar without a gradient, says why', () => {
    torch.tidy(() => {
      assert.throws(() => torch.ones([1]).backward(), /backward: .*does not require grad/);
      const w = torch.ones([3]).requiresGrad_(true);
      assert.throws(
        () => w.mul(2).backward(),
        /backward: grad can be implicitly created only for scalar outputs, got shape \[3\]/,
      );
      assert.throws(() => {
        torch.ones([2], { dtype: 'int64' }).requiresGrad = true;
      }, /only floating-point tensors can require grad/);
    });
  });
});
