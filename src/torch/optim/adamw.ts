/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), as torch.optim.AdamW
 * (torch/optim/adamw.py, 1.13, `_single_tensor_adamw`):
 *
 *   t += 1;  p *= 1 - lr * weightDecay                      (decoupled decay, before the moment updates)
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
 *   vmax = max(vmax, v) with amsgrad (Reddi et al. 2018), and v := vmax below
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * The bias corrections are computed in double precision from a numeric step count, as PyTorch does on its
 * non-capturable path; the tensor ops are PyTorch's, in PyTorch's order.
 */
import { callOpInPlace, type Tensor } from '../tensor.js';
import { zerosLike } from '../ops/creation.js';
import { libtorchMajor } from '../libtorch.js';
import {
  booleanCodec,
  type HyperSpec,
  numberCodec,
  Optimizer,
  pairCodec,
  type ParamGroup,
  type Params,
  type ParamState,
} from './optimizer.js';

export interface AdamWHyperparameters {
  lr: number;
  /** Decay rates of the first and second moment averages. */
  betas: readonly [number, number];
  /** Added to the denominator for numerical stability. */
  eps: number;
  /** Decoupled weight decay coefficient (multiplied by lr). */
  weightDecay: number;
  /** Use the maximum of past second moments (AMSGrad). */
  amsgrad: boolean;
  maximize: boolean;
}

export type AdamWOptions = Partial<AdamWHyperparameters>;

const SPEC: HyperSpec<AdamWHyperparameters> = {
  lr: ['lr', numberCodec],
  betas: ['betas', pairCodec],
  eps: ['eps', numberCodec],
  weightDecay: ['weight_decay', numberCodec],
  amsgrad: ['amsgrad', booleanCodec],
  maximize: ['maximize', booleanCodec],
};

export class AdamW extends Optimizer<AdamWHyperparameters> {
  /** Defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2. */
  constructor(params: Params<AdamWHyperparameters>, options: AdamWOptions = {}) {
    super(
      'AdamW',
      params,
      {
        lr: options.lr ?? 1e-3,
        betas: options.betas ?? [0.9, 0.999],
        eps: options.eps ?? 1e-8,
        weightDecay: options.weightDecay ?? 1e-2,
        amsgrad: options.amsgrad ?? false,
        maximize: options.maximize ?? false,
      },
      SPEC,
      {
        // PyTorch 2's AdamW is an Adam with decoupled weight decay (torch/optim/adamw.py): its groups also keep
        // `differentiable`, `fused` and `decoupled_weight_decay`, the keys of the PyTorch we run beside.
        foreach: null,
        capturable: false,
        ...(libtorchMajor() >= 2 ? { differentiable: false, fused: null, decoupled_weight_decay: true } : {}),
      },
    );
  }

  protected validateGroup(g: Readonly<AdamWHyperparameters>, where: string): void {
    if (typeof g.lr !== 'number' || !(g.lr >= 0))
      throw new Error(`${where}: AdamW expects lr >= 0, got ${String(g.lr)}`);
    if (typeof g.eps !== 'number' || !(g.eps >= 0))
      throw new Error(`${where}: AdamW expects eps >= 0, got ${String(g.eps)}`);
    if (!Array.isArray(g.betas) || g.betas.length !== 2)
      throw new Error(`${where}: AdamW expects betas to be a pair [beta1, beta2]`);
    for (const [i, b] of g.betas.entries()) {
      if (typeof b !== 'number' || !(b >= 0 && b < 1))
        throw new Error(`${where}: AdamW expects 0 <= betas[${i}] < 1, got ${String(b)}`);
    }
    if (typeof g.weightDecay !== 'number' || !(g.weightDecay >= 0))
      throw new Error(`${where}: AdamW expects weightDecay >= 0, got ${String(g.weightDecay)}`);
    if (typeof g.amsgrad !== 'boolean' || typeof g.maximize !== 'boolean')
      throw new Error(`${where}: AdamW expects amsgrad and maximize to be booleans`);
  }

  protected updateParam(p: Tensor, grad: Tensor, g: ParamGroup<AdamWHyperparameters>, state: ParamState): void {
    const [beta1, beta2] = g.betas;
    const d = g.maximize ? grad.neg() : grad;
    // PyTorch initialises a parameter's state when it is empty, with the group's amsgrad at that time.
    if (state.size === 0) {
      state.set('step', 0);
      this.keepState(state, 'exp_avg', zerosLike(p));
      this.keepState(state, 'exp_avg_sq', zerosLike(p));
      if (g.amsgrad) this.keepState(state, 'max_exp_avg_sq', zerosLike(p));
    }
    const expAvg = this.tensorState(state, 'exp_avg');
    const expAvgSq = this.tensorState(state, 'exp_avg_sq');
    const prev = state.get('step');
    if (typeof prev !== 'number')
      throw new Error(
        `AdamW: a parameter's state has no numeric 'step' (state loaded from another kind of optimiser?)`,
      );
    const step = prev + 1;
    state.set('step', step);

    p.mul_(1 - g.lr * g.weightDecay);
    expAvg.mul_(beta1).add_(d, { alpha: 1 - beta1 });
    expAvgSq.mul_(beta2).addcmul_(d, d, { value: 1 - beta2 });

    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
    const stepSize = g.lr / biasCorrection1;
    let denom: Tensor;
    if (g.amsgrad) {
      if (!state.has('max_exp_avg_sq'))
        throw new Error(
          `AdamW: amsgrad is on but a parameter's state has no 'max_exp_avg_sq' (its state was created with amsgrad off)`,
        );
      const max = this.tensorState(state, 'max_exp_avg_sq');
      callOpInPlace('aten::maximum', 'out', [max, expAvgSq], { out: max });
      denom = max.sqrt().div(biasCorrection2Sqrt).add_(g.eps);
    } else {
      denom = expAvgSq.sqrt().div(biasCorrection2Sqrt).add_(g.eps);
    }
    p.addcdiv_(expAvg, denom, { value: -stepSize });
  }
}
