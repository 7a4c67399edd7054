/**
 * BYOL (Grill et al., NeurIPS 2020, arXiv 2006.07733): an online network (encoder, projector, predictor)
 * predicts the projection that an exponential-moving-average target network (encoder, projector) gives for
 * the other view.
 * - Loss (Sec. 3.1, eq. 2): ||q(z) / ||q(z)|| - z' / ||z'|| ||^2 = 2 - 2 cos(q(z), z'), with no gradient into
 *   the target; symmetrised by adding the loss with the views swapped (L + L~, eq. 3). As the official code
 *   (deepmind-research byol/byol_experiment.py `_loss_fn`, helpers.regression_loss) it is the batch mean of
 *   the sum, so it lies in [0, 8].
 * - Target update (Sec. 3.1): xi <- tau xi + (1 - tau) theta after every optimiser step, with
 *   tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, tau_base 0.996 (Sec. 3.2; byol/utils/schedules.py `target_ema`).
 * - Only parameters are averaged: the target's batch-norm statistics are its own, updated by its forward in
 *   training mode (as the official code, whose target keeps its own network state).
 */
import { noGrad } from '../torch/autograd.js';
import { formatShape } from '../torch/dtype.js';
import type { Module, StateDictSource } from '../torch/nn/module.js';
import * as F from '../torch/ops/functional.js';
import { tidy } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { checkEmbeddingPair, checkRange } from './checks.js';
import { checkProgress, pooledFeatures, type SslMethod, SslModules, type SslStepOutput } from './method.js';

export const BYOL_BASE_MOMENTUM = 0.996;

/**
 * The target momentum after a fraction `progress` = k/K of training: 1 - (1 - base) (cos(pi k/K) + 1) / 2,
 * `base` at the start, 1 at the end (BYOL Sec. 3.2).
 */
export function byolMomentum(progress: number, base = BYOL_BASE_MOMENTUM): number {
  checkProgress('byolMomentum', progress);
  checkRange('byolMomentum', 'base momentum', base, 0, 1);
  return 1 - ((1 - base) * (Math.cos(Math.PI * progress) + 1)) / 2;
}

/** Per-sample 2 - 2 cos(p, z) [N], with z detached (the stop-gradient on the target). */
export function byolRegression(p: Tensor, z: Tensor): Tensor {
  checkEmbeddingPair('byolRegression', ['p', 'z'], p, z);
  return tidy(() => F.cosineSimilarity(p, z.detach(), 1).mul(-2).add(2));
}

export interface BYOLLoss {
  /** view1 + view2, in [0, 8]. */
  loss: Tensor;
  /** mean(2 - 2 cos(p1, z2')): the online prediction of view 1 against the target projection of view 2. */
  view1: Tensor;
  /** mean(2 - 2 cos(p2, z1')). */
  view2: Tensor;
}

/**
 * BYOL's symmetrised loss from the online predictions `p1`, `p2` and the target projections `t1`, `t2`
 * (all [N,D]); no gradient reaches `t1`, `t2`.
 */
export function byolLoss(p1: Tensor, p2: Tensor, t1: Tensor, t2: Tensor): BYOLLoss {
  checkEmbeddingPair('byolLoss', ['p1', 't2'], p1, t2);
  checkEmbeddingPair('byolLoss', ['p2', 't1'], p2, t1);
  checkEmbeddingPair('byolLoss', ['p1', 'p2'], p1, p2);
  return tidy(() => {
    const view1 = byolRegression(p1, t2).mean();
    const view2 = byolRegression(p2, t1).mean();
    return { loss: view1.add(view2), view1, view2 };
  });
}

/**
 * In place, under noGrad: every parameter of `target` becomes m * target + (1 - m) * online (matched by name;
 * the two networks must have the same parameter names and shapes). Buffers are left alone.
 */
export function emaUpdate_(target: Module, online: Module, m: number): void {
  checkRange('emaUpdate_', 'momentum', m, 0, 1);
  const src = new Map(online.namedParameters());
  const dst = [...target.namedParameters()];
  if (src.size !== dst.length || dst.some(([k]) => !src.has(k))) {
    const missing = dst.filter(([k]) => !src.has(k)).map(([k]) => k);
    throw new Error(
      `emaUpdate_: target and online networks differ (target has ${dst.length} parameters, online ${src.size}` +
        `${missing.length ? `; not in online: ${missing.slice(0, 5).join(', ')}` : ''})`,
    );
  }
  for (const [k, t] of dst) {
    const o = src.get(k)!;
    if (o.rank !== t.rank || o.shape.some((s, i) => s !== t.shape[i])) {
      throw new Error(
        `emaUpdate_: parameter ${k} is ${formatShape(t.shape)} in the target but ${formatShape(o.shape)} in the online network`,
      );
    }
  }
  noGrad(() => {
    for (const [k, t] of dst) t.mul_(m).add_(src.get(k)!, { alpha: 1 - m });
  });
}

export interface BYOLMethodOptions {
  /** Online encoder: pooled features [N,F]. */
  encoder: Module;
  /** Online projector [N,F] -> [N,D] (BYOL: Linear(4096)-BN-ReLU-Linear(256); the reference study: 512-1024-256). */
  projector: Module;
  /** Predictor [N,D] -> [N,D] (the reference study: 256-1024-256). */
  predictor: Module;
  /**
   * Builds a fresh twin of the online encoder and projector (same architecture); the method copies the online
   * weights into it through their state dicts and freezes it as the target network.
   */
  makeTarget: () => { encoder: Module; projector: Module };
  /** tau_base of the cosine momentum schedule (default 0.996). */
  baseMomentum?: number;
}

/** BYOL as an SslMethod; `afterOptimizerStep(k/K)` moves the target towards the online network. */
export class BYOLMethod implements SslMethod {
  readonly name = 'byol' as const;
  readonly modules: SslModules;
  /** The EMA target network (children `encoder`, `projector`), without gradients. */
  readonly target: SslModules;
  readonly followers: readonly Module[];
  readonly baseMomentum: number;
  #momentum: number;

  constructor(o: BYOLMethodOptions) {
    this.baseMomentum = o.baseMomentum ?? BYOL_BASE_MOMENTUM;
    checkRange('BYOLMethod', 'baseMomentum', this.baseMomentum, 0, 1);
    const twin = o.makeTarget();
    if (twin.encoder === o.encoder || twin.projector === o.projector) {
      throw new Error('BYOLMethod: makeTarget must build new networks, not return the online ones');
    }
    this.modules = new SslModules({ encoder: o.encoder, projector: o.projector, predictor: o.predictor });
    this.target = new SslModules(twin);
    try {
      twin.encoder.loadStateDict(o.encoder.stateDict());
      twin.projector.loadStateDict(o.projector.stateDict());
    } catch (err) {
      this.target.dispose();
      throw new Error(
        `BYOLMethod: makeTarget must build the same architecture as the online encoder and projector: ${(err as Error).message}`,
      );
    }
    this.target.requiresGrad_(false);
    this.followers = [this.target];
    this.target.train(o.encoder.training);
    this.#momentum = this.baseMomentum;
  }

  /** The momentum of the last target update (tau_base before the first). */
  get momentum(): number {
    return this.#momentum;
  }

  step(view1: Tensor, view2: Tensor): SslStepOutput {
    return tidy(() => {
      const [enc, proj, pred] = ['encoder', 'projector', 'predictor'].map((n) => this.modules.get(n)) as [
        Module,
        Module,
        Module,
      ];
      const z1 = proj.forward(pooledFeatures('BYOLMethod.step', enc, view1));
      const z2 = proj.forward(pooledFeatures('BYOLMethod.step', enc, view2));
      const p1 = pred.forward(z1);
      const p2 = pred.forward(z2);
      const [tEnc, tProj] = [this.target.get('encoder'), this.target.get('projector')];
      const [t1, t2] = noGrad(() => [tProj.forward(tEnc.forward(view1)), tProj.forward(tEnc.forward(view2))]);
      const l = byolLoss(p1!, p2, t1!, t2!);
      return { loss: l.loss, terms: { view1: l.view1.detach(), view2: l.view2.detach() }, embeddings: z1.detach() };
    });
  }

  afterOptimizerStep(progress: number): void {
    checkProgress('BYOLMethod.afterOptimizerStep', progress);
    const m = byolMomentum(progress, this.baseMomentum);
    emaUpdate_(this.target.get('encoder'), this.modules.get('encoder'), m);
    emaUpdate_(this.target.get('projector'), this.modules.get('projector'), m);
    this.#momentum = m;
  }

  train(mode = true): void {
    this.modules.train(mode);
    this.target.train(mode);
  }

  /** The target network, keys `target.encoder.*` and `target.projector.*` (the module's own tensors). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, v] of this.target.stateDict()) out.set(`target.${k}`, v);
    return out;
  }

  loadStateDict(source: StateDictSource, opts: { strict?: boolean } = {}): void {
    const entries = source instanceof Map ? [...source.entries()] : Object.entries(source);
    const inner = new Map<string, (typeof entries)[number][1]>();
    const stray: string[] = [];
    for (const [k, v] of entries) {
      if (k.startsWith('target.')) inner.set(k.slice('target.'.length), v);
      else stray.push(k);
    }
    if (stray.length && (opts.strict ?? true)) {
      throw new Error(
        `BYOLMethod.loadStateDict: expected keys starting with 'target.', got ${stray.length} other(s) (${stray.slice(0, 5).join(', ')})`,
      );
    }
    this.target.loadStateDict(inner, opts);
  }

  dispose(): void {
    this.modules.dispose();
    this.target.dispose();
  }
}
