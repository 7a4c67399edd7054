/**
 * clipGradNorm_ against torch.nn.utils.clip_grad_norm_ (PyTorch 1.13): the returned total norm and the clipped
 * gradients, for the 2-, 1-, 3- and infinity norms, a bound that does not clip, and a parameter without a gradient.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { optim, type Tensor } from '../../src/torch/index.js';
import { assertClose } from '../helpers/compare.js';
import { disposeAll, F32_TOL, Fixtures, SKIP_NO_TORCH } from './optim-fixtures.js';

const CASES: [string, string][] = [
  ['clip_l2', '2-norm above the bound: gradients scaled down'],
  ['clip_l2_within', '2-norm within the bound: gradients unchanged'],
  ['clip_inf', 'infinity norm'],
  ['clip_l1', '1-norm'],
  ['clip_p3', '3-norm'],
  ['clip_missing_grad', 'a parameter without a gradient is ignored'],
  ['clip_single', 'a single tensor'],
];

describe('clipGradNorm_ matches torch.nn.utils.clip_grad_norm_', { skip: SKIP_NO_TORCH }, () => {
  let fx: Fixtures;
  before(() => {
    fx = new Fixtures('clip_');
  });
  after(() => fx?.cleanup());

  for (const [name, what] of CASES) {
    it(`${what} (${name})`, (t) => {
      const c = fx.manifest.clip[name]!;
      const params: Tensor[] = c.shapes.map((s) => torch.zeros(s, { requiresGrad: true }));
      try {
        torch.tidy(() =>
          params.forEach((p, i) => {
            if (fx.has(`${name}.g.${i}`)) p.grad = fx.tensor(`${name}.g.${i}`);
          }),
        );
        const normType = c.norm_type === 'inf' ? Infinity : c.norm_type;
        const total = optim.clipGradNorm_(params.length === 1 ? params[0]! : params, c.max_norm, normType);
        const normDiff = Math.abs(total - c.total_norm);
        assert.ok(normDiff <= 1e-6 * Math.max(1, c.total_norm), `total norm ${total}, PyTorch ${c.total_norm}`);
        let worst = 0;
        torch.tidy(() =>
          params.forEach((p, i) => {
            const g = p.grad;
            if (!fx.has(`${name}.clipped.${i}`)) return assert.equal(g, null, `param ${i} keeps no gradient`);
            assert.ok(g !== null);
            worst = Math.max(
              worst,
              assertClose(g, fx.stored(`${name}.clipped.${i}`), `${name}: clipped gradient ${i}`, F32_TOL),
            );
          }),
        );
        t.diagnostic(`${name}: |norm - PyTorch| = ${normDiff}, max |grad - PyTorch| = ${worst}`);
      } finally {
        disposeAll(params);
      }
    });
  }
});

describe('clipGradNorm_ without PyTorch', () => {
  it('returns 0 and changes nothing when no parameter has a gradient', () => {
    const p = torch.zeros([3], { requiresGrad: true });
    try {
      assert.equal(optim.clipGradNorm_([p], 1), 0);
      assert.equal(p.grad, null);
    } finally {
      p.dispose();
    }
  });

  it('throws on a non-finite total norm only with errorIfNonfinite', () => {
    const p = torch.zeros([2], { requiresGrad: true });
    try {
      torch.tidy(() => {
        p.grad = torch.tensor([Infinity, 1]);
      });
      assert.throws(
        () => optim.clipGradNorm_([p], 1, 2, { errorIfNonfinite: true }),
        /clipGradNorm_: the total norm of order 2 .* is Infinity/,
      );
      assert.equal(optim.clipGradNorm_([p], 1), Infinity);
    } finally {
      p.dispose();
    }
  });

  it('leaves no tensors behind', () => {
    const ps = [torch.randn([4, 4], { requiresGrad: true }), torch.randn([4], { requiresGrad: true })];
    try {
      torch.tidy(() => {
        for (const p of ps) p.grad = torch.randn(p.shape);
      });
      const before = torch.memory().liveTensors;
      for (const normType of [2, 1, Infinity]) optim.clipGradNorm_(ps, 0.5, normType);
      assert.equal(torch.memory().liveTensors, before);
    } finally {
      disposeAll(ps);
    }
  });
});
