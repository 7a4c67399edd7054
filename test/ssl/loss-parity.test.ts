/**
 * The self-supervised losses against PyTorch on the same embeddings (test/fixtures/ssl_fixtures.py): VICReg
 * with the official default and the reference study's coefficients (its reference written from the official
 * main_vicreg.py formula), BYOL and SimSiam; values of every term and gradients w.r.t. the embeddings.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

type Terms = Record<string, number>;
interface Manifest {
  vicreg_default: Terms;
  vicreg_reference: Terms;
  vicreg_n2: Terms;
  byol: Terms;
  simsiam: Terms;
  embedding_std_z1: number;
}

function closeNumber(actual: number, expected: number, what: string, rtol = 1e-5, atol = 1e-6): number {
  const diff = Math.abs(actual - expected);
  assert.ok(diff <= atol + rtol * Math.abs(expected), `${what}: ${actual} != PyTorch ${expected} (diff ${diff})`);
  return diff;
}

function leaf(t: Tensor): Tensor {
  return t.clone().detach().requiresGrad_(true);
}

describe('self-supervised losses match PyTorch', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let dir = '';
  let m = {} as Manifest;
  const fx = (name: string): Tensor => loadNpyTensor(join(dir, `${name}.npy`));
  before(() => {
    dir = makeFixtures('ssl_fixtures.py');
    m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  });

  for (const [tag, coeffs] of [
    ['default', ssl.VICREG_DEFAULTS],
    ['reference', ssl.VICREG_REFERENCE],
  ] as const) {
    it(`vicregLoss with the ${tag} coefficients (${coeffs.simCoeff}/${coeffs.stdCoeff}/${coeffs.covCoeff}): terms and gradients`, (t: TestContext) => {
      torch.tidy(() => {
        const z1 = leaf(fx('z1'));
        const z2 = leaf(fx('z2'));
        // The default run passes no options at all: the defaults must be the official ones.
        const l = tag === 'default' ? ssl.vicregLoss(z1, z2) : ssl.vicregLoss(z1, z2, coeffs);
        const ref = m[`vicreg_${tag}`];
        let worst = 0;
        for (const k of ['loss', 'invariance', 'variance', 'covariance'] as const)
          worst = Math.max(worst, closeNumber(l[k].item(), ref[k]!, `${tag} ${k}`));
        l.loss.backward();
        worst = Math.max(
          worst,
          assertClose(z1.grad!, fx(`vicreg_${tag}_grad_z1`), 'd loss / d z1', { rtol: 1e-4, atol: 1e-6 }),
          assertClose(z2.grad!, fx(`vicreg_${tag}_grad_z2`), 'd loss / d z2', { rtol: 1e-4, atol: 1e-6 }),
        );
        t.diagnostic(`vicreg ${tag}: max abs diff vs PyTorch ${worst.toExponential(2)}`);
      });
    });
  }

  it('vicregLoss on the smallest batch it accepts (N = 2)', () => {
    torch.tidy(() => {
      const z1 = leaf(fx('z1').slice(0, 0, 2));
      const l = ssl.vicregLoss(z1, fx('z2').slice(0, 0, 2));
      for (const k of ['loss', 'invariance', 'variance', 'covariance'] as const)
        closeNumber(l[k].item(), m.vicreg_n2[k]!, `N=2 ${k}`);
      l.loss.backward();
      assertClose(z1.grad!, fx('vicreg_n2_grad_z1'), 'N=2 d loss / d z1', { rtol: 1e-4, atol: 1e-6 });
    });
  });

  it('byolLoss: 2 - 2 cos, symmetrised; gradients reach the predictions only', (t: TestContext) => {
    torch.tidy(() => {
      const p1 = leaf(fx('p1'));
      const p2 = leaf(fx('p2'));
      const t1 = leaf(fx('t1'));
      const t2 = leaf(fx('t2'));
      const l = ssl.byolLoss(p1, p2, t1, t2);
      let worst = 0;
      for (const k of ['loss', 'view1', 'view2'] as const)
        worst = Math.max(worst, closeNumber(l[k].item(), m.byol[k]!, `byol ${k}`));
      l.loss.backward();
      worst = Math.max(
        worst,
        assertClose(p1.grad!, fx('byol_grad_p1'), 'byol d loss / d p1', { rtol: 1e-4, atol: 1e-6 }),
        assertClose(p2.grad!, fx('byol_grad_p2'), 'byol d loss / d p2', { rtol: 1e-4, atol: 1e-6 }),
      );
      assert.equal(t1.grad, null, 'the target projections get no gradient (stop-gradient)');
      assert.equal(t2.grad, null);
      t.diagnostic(`byol: max abs diff vs PyTorch ${worst.toExponential(2)}`);
    });
  });

  it('simsiamLoss: negative cosine with stop-gradient, symmetrised', (t: TestContext) => {
    torch.tidy(() => {
      const p1 = leaf(fx('p1'));
      const p2 = leaf(fx('p2'));
      const z1 = leaf(fx('t1'));
      const z2 = leaf(fx('t2'));
      const l = ssl.simsiamLoss(p1, p2, z1, z2);
      let worst = 0;
      for (const k of ['loss', 'view1', 'view2'] as const)
        worst = Math.max(worst, closeNumber(l[k].item(), m.simsiam[k]!, `simsiam ${k}`));
      l.loss.backward();
      worst = Math.max(
        worst,
        assertClose(p1.grad!, fx('simsiam_grad_p1'), 'simsiam d loss / d p1', { rtol: 1e-4, atol: 1e-6 }),
        assertClose(p2.grad!, fx('simsiam_grad_p2'), 'simsiam d loss / d p2', { rtol: 1e-4, atol: 1e-6 }),
      );
      assert.equal(z1.grad, null, 'the projections get no gradient (stop-gradient)');
      assert.equal(z2.grad, null);
      t.diagnostic(`simsiam: max abs diff vs PyTorch ${worst.toExponential(2)}`);
    });
  });

  it('embeddingStd equals F.normalize(z, dim=1).std(0).mean()', () => {
    torch.tidy(() => closeNumber(ssl.embeddingStd(fx('z1')), m.embedding_std_z1, 'embeddingStd'));
  });
});

describe('self-supervised losses without PyTorch', () => {
  it('offDiagonal picks exactly the off-diagonal entries, row by row', () => {
    torch.tidy(() => {
      const a = torch.arange(0, 16, 1, { dtype: 'float32' }).view([4, 4]);
      assert.deepEqual(ssl.offDiagonal(a).toArray(), [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14]);
      assert.deepEqual(ssl.offDiagonal(torch.ones([1, 1])).shape, [0]);
    });
  });

  it('vicregLoss of identical, well-spread, decorrelated embeddings is ~0', () => {
    torch.tidy(() => {
      // Rows of +-2 Hadamard-like patterns: zero mean, std > 1 per dim, uncorrelated dims.
      const h = torch
        .tensor([
          [1, 1, 1, 1],
          [1, -1, 1, -1],
          [1, 1, -1, -1],
          [1, -1, -1, 1],
        ])
        .mul(2);
      const z = torch.cat([h, h.neg()], 0);
      const l = ssl.vicregLoss(z, z);
      assert.equal(l.invariance.item(), 0);
      assert.equal(l.variance.item(), 0);
      assert.ok(l.covariance.item() < 1e-10, `covariance ${l.covariance.item()}`);
    });
  });
});
