/**
 * SimSiam (Chen & He, CVPR 2021, arXiv 2011.10566): one encoder+projector for both views, a predictor, and a
 * stop-gradient on the projection it predicts; the loss is the symmetrised negative cosine similarity
 * (Sec. 3, eq. 1-2): L = -cos(p1, sg(z2)) / 2 - cos(p2, sg(z1)) / 2, as the official training step computes it
 * (facebookresearch/simsiam main_simsiam.py `train`: -(criterion(p1, z2).mean() + criterion(p2, z1).mean()) * 0.5,
 * criterion = nn.CosineSimilarity(dim=1); simsiam/builder.py returns z1, z2 detached). It lies in [-1, 1].
 */
import type { Module } from '../torch/nn/module.js';
import * as F from '../torch/ops/functional.js';
import { tidy } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { checkEmbeddingPair } from './checks.js';
import { pooledFeatures, SslModules, type SslStepOutput, StatelessSslMethod } from './method.js';

export interface SimSiamLoss {
  /** (view1 + view2) / 2, in [-1, 1]. */
  loss: Tensor;
  /** -mean(cos(p1, sg(z2))). */
  view1: Tensor;
  /** -mean(cos(p2, sg(z1))). */
  view2: Tensor;
}

/** SimSiam's loss from predictions `p1`, `p2` and projections `z1`, `z2` (all [N,D]); z1, z2 get no gradient. */
export function simsiamLoss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor): SimSiamLoss {
  checkEmbeddingPair('simsiamLoss', ['p1', 'z2'], p1, z2);
  checkEmbeddingPair('simsiamLoss', ['p2', 'z1'], p2, z1);
  checkEmbeddingPair('simsiamLoss', ['p1', 'p2'], p1, p2);
  return tidy(() => {
    const view1 = F.cosineSimilarity(p1, z2.detach(), 1).mean().neg();
    const view2 = F.cosineSimilarity(p2, z1.detach(), 1).mean().neg();
    return { loss: view1.add(view2).mul(0.5), view1, view2 };
  });
}

export interface SimSiamMethodOptions {
  /** Pooled features [N,F]. */
  encoder: Module;
  /** [N,F] -> [N,D] (official: 3 layers ending in BatchNorm1d(affine=False), see ProjectionHead's lastBatchNorm). */
  projector: Module;
  /** [N,D] -> [N,D] bottleneck MLP (official: D -> D/4 -> D). */
  predictor: Module;
}

export class SimSiamMethod extends StatelessSslMethod {
  readonly name = 'simsiam' as const;
  constructor(o: SimSiamMethodOptions) {
    super('SimSiamMethod', new SslModules({ encoder: o.encoder, projector: o.projector, predictor: o.predictor }));
  }

  step(view1: Tensor, view2: Tensor): SslStepOutput {
    return tidy(() => {
      const [enc, proj, pred] = ['encoder', 'projector', 'predictor'].map((n) => this.modules.get(n)) as [
        Module,
        Module,
        Module,
      ];
      const z1 = proj.forward(pooledFeatures('SimSiamMethod.step', enc, view1));
      const z2 = proj.forward(pooledFeatures('SimSiamMethod.step', enc, view2));
      const l = simsiamLoss(pred.forward(z1), pred.forward(z2), z1, z2);
      return { loss: l.loss, terms: { view1: l.view1.detach(), view2: l.view2.detach() }, embeddings: z1.detach() };
    });
  }
}
