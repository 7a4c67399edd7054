/**
 * VICReg (Bardes, Ponce, LeCun, ICLR 2022, arXiv 2105.04906), as the official implementation computes it:
 * facebookresearch/vicreg, main_vicreg.py, `VICReg.forward` (L194-220 at commit b42aa23):
 *
 *   repr_loss = mse_loss(x, y)                                           (L198: mean over N*D)
 *   x, y centred over the batch                                          (L202-203)
 *   std = sqrt(var_over_batch + 1e-4)  (unbiased var)                    (L205-206)
 *   std_loss = mean(relu(1 - std_x)) / 2 + mean(relu(1 - std_y)) / 2     (L207; the /2 is not in the paper)
 *   cov = x^T x / (N - 1)                                                (L209-210)
 *   cov_loss = sum(offdiag(cov_x)^2) / D + sum(offdiag(cov_y)^2) / D     (L211-213)
 *   loss = sim * repr_loss + std * std_loss + cov * cov_loss             (L215-219; defaults 25/25/1)
 *
 * The reference study (younader/VesuviusPretraining) trained with sim 25, std 25, cov 5.
 */
import type { Module } from '../torch/nn/module.js';
import * as F from '../torch/ops/functional.js';
import { tidy } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { checkEmbeddingPair, checkRange } from './checks.js';
import { pooledFeatures, SslModules, type SslStepOutput, StatelessSslMethod } from './method.js';

export interface VICRegLossOptions {
  /** Weight of the invariance (mean squared error) term; official default 25. */
  simCoeff?: number;
  /** Weight of the variance (std hinge) term; official default 25. */
  stdCoeff?: number;
  /** Weight of the covariance term; official default 1 (the reference study used 5). */
  covCoeff?: number;
  /** Added to the variance before the square root; official 1e-4. */
  eps?: number;
}

export interface VICRegLoss {
  /** simCoeff * invariance + stdCoeff * variance + covCoeff * covariance. */
  loss: Tensor;
  invariance: Tensor;
  variance: Tensor;
  covariance: Tensor;
}

/** The official defaults (main_vicreg.py argument parser: --sim-coeff 25, --std-coeff 25, --cov-coeff 1). */
export const VICREG_DEFAULTS: Readonly<Required<VICRegLossOptions>> = Object.freeze({
  simCoeff: 25,
  stdCoeff: 25,
  covCoeff: 1,
  eps: 1e-4,
});
/** The reference study's coefficients (younader/VesuviusPretraining pretraining.ipynb): covariance weighted 5. */
export const VICREG_REFERENCE: Readonly<Required<VICRegLossOptions>> = Object.freeze({
  simCoeff: 25,
  stdCoeff: 25,
  covCoeff: 5,
  eps: 1e-4,
});

/** The off-diagonal entries of a square [D,D] matrix as a flat [D*(D-1)] vector (main_vicreg.py `off_diagonal`). */
export function offDiagonal(m: Tensor): Tensor {
  if (m.rank !== 2 || m.shape[0] !== m.shape[1])
    throw new Error(`offDiagonal: expected a square matrix, got [${m.shape.join(',')}]`);
  const d = m.shape[0]!;
  // Dropping the last element of the row-major flattening and reading the rest as [D-1, D+1] puts every
  // diagonal entry in column 0; the remaining columns are exactly the off-diagonal entries.
  return tidy(() =>
    m
      .flatten()
      .slice(0, 0, d * d - 1)
      .view([d - 1, d + 1])
      .slice(1, 1)
      .flatten(),
  );
}

function varianceHinge(centred: Tensor, eps: number): Tensor {
  // std over the batch with Bessel's correction (torch.var's default), hinge at 1 (main_vicreg.py L205-207).
  return F.relu(centred.var(0).add(eps).sqrt().neg().add(1)).mean();
}

function covariancePenalty(centred: Tensor): Tensor {
  const [n, d] = centred.shape as [number, number];
  const cov = centred.T.matmul(centred).div(n - 1);
  return offDiagonal(cov).pow(2).sum().div(d);
}

/**
 * VICReg's loss between two batches of embeddings `z1`, `z2` [N,D] (N >= 2, the variance needs two samples).
 * Returns the weighted total and the three unweighted terms, as scalar tensors on the autograd graph.
 */
export function vicregLoss(z1: Tensor, z2: Tensor, opts: VICRegLossOptions = {}): VICRegLoss {
  checkEmbeddingPair('vicregLoss', ['z1', 'z2'], z1, z2);
  if (z1.shape[0]! < 2) {
    throw new Error(
      `vicregLoss: the variance and covariance terms need at least 2 samples per batch, got z1 [${z1.shape.join(',')}]`,
    );
  }
  const o = { ...VICREG_DEFAULTS, ...opts };
  for (const k of ['simCoeff', 'stdCoeff', 'covCoeff'] as const) checkRange('vicregLoss', k, o[k], 0, Number.MAX_VALUE);
  checkRange('vicregLoss', 'eps', o.eps, 0, Number.MAX_VALUE);
  return tidy(() => {
    const invariance = F.mseLoss(z1, z2);
    const x = z1.sub(z1.mean(0, true));
    const y = z2.sub(z2.mean(0, true));
    const variance = varianceHinge(x, o.eps).div(2).add(varianceHinge(y, o.eps).div(2));
    const covariance = covariancePenalty(x).add(covariancePenalty(y));
    const loss = invariance.mul(o.simCoeff).add(variance.mul(o.stdCoeff)).add(covariance.mul(o.covCoeff));
    return { loss, invariance, variance, covariance };
  });
}

export interface VICRegMethodOptions {
  /** Returns pooled features [N,F] for input [N,C,D,H,W]. */
  encoder: Module;
  /** Maps [N,F] to the embeddings [N,D] the loss sees (the "expander", e.g. ProjectionHead([F, 256, 512])). */
  projector: Module;
  /** Loss coefficients (default: the official 25/25/1). */
  loss?: VICRegLossOptions;
}

/** VICReg as an SslMethod: both views through the same encoder and projector (no predictor, no target). */
export class VICRegMethod extends StatelessSslMethod {
  readonly name = 'vicreg' as const;
  readonly lossOptions: Readonly<Required<VICRegLossOptions>>;
  constructor(o: VICRegMethodOptions) {
    super('VICRegMethod', new SslModules({ encoder: o.encoder, projector: o.projector }));
    this.lossOptions = Object.freeze({ ...VICREG_DEFAULTS, ...o.loss });
  }

  /**
   * Without `gather`, VICReg's loss on this batch. With it (data-parallel workers), as main_vicreg.py
   * (facebookresearch/vicreg, `VICReg.forward`): the invariance term on this worker's own pairs (`repr_loss`
   * before the gather), the variance and covariance terms on the embeddings of every worker (FullGatherLayer),
   * with the covariance divided by the global batch - 1. No further scaling is needed for the gradients to equal
   * one worker's on the global batch: the gather's backward sums over the W workers the (identical) gradient of
   * the global terms, which gives W times their share for the local embeddings, and averaging the parameter
   * gradients over the workers divides by W; the local invariance terms, averaged, are the global invariance.
   */
  step(view1: Tensor, view2: Tensor, gather?: (z: Tensor) => Tensor): SslStepOutput {
    return tidy(() => {
      const encoder = this.modules.get('encoder');
      const projector = this.modules.get('projector');
      const z1 = projector.forward(pooledFeatures('VICRegMethod.step', encoder, view1));
      const z2 = projector.forward(pooledFeatures('VICRegMethod.step', encoder, view2));
      const o = this.lossOptions;
      let l: VICRegLoss;
      if (gather) {
        const invariance = F.mseLoss(z1, z2);
        const global = vicregLoss(gather(z1), gather(z2), o);
        const loss = invariance
          .mul(o.simCoeff)
          .add(global.variance.mul(o.stdCoeff))
          .add(global.covariance.mul(o.covCoeff));
        l = { loss, invariance, variance: global.variance, covariance: global.covariance };
      } else {
        l = vicregLoss(z1, z2, o);
      }
      const terms = {
        invariance: l.invariance.detach(),
        variance: l.variance.detach(),
        covariance: l.covariance.detach(),
      };
      return { loss: l.loss, terms, embeddings: z1.detach() };
    });
  }
}
