/**
 * Stochastic gradient descent with momentum, as torch.optim.SGD (torch/optim/sgd.py, 1.13, `_single_tensor_sgd`):
 *
 *   g = grad (negated when maximize);  g += weightDecay * p
 *   buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
 *   g = nesterov ? g + momentum * buf : buf            (when momentum != 0)
 *   p -= lr * g
 *
 * The same ATen ops in the same order as PyTorch, so float32 results agree bit for bit on the same libtorch.
 */
import { libtorchMajor } from '../libtorch.js';
import type { Tensor } from '../tensor.js';
import {
  booleanCodec,
  type HyperSpec,
  numberCodec,
  Optimizer,
  type ParamGroup,
  type Params,
  type ParamState,
} from './optimizer.js';

export interface SGDHyperparameters {
  lr: number;
  /** Momentum factor (0: plain SGD). */
  momentum: number;
  /** Dampening applied to the gradient in the momentum update (not on the first step, as PyTorch). */
  dampening: number;
  /** L2 penalty added to the gradient (coupled weight decay). */
  weightDecay: number;
  /** Nesterov momentum (Sutskever et al. 2013, in PyTorch's formulation); needs momentum > 0 and dampening 0. */
  nesterov: boolean;
  /** Maximise the objective instead of minimising it. */
  maximize: boolean;
}

/** SGD's options: `lr` is required, here or in every parameter group (PyTorch's `lr=required`). */
export type SGDOptions = Partial<SGDHyperparameters>;

const SPEC: HyperSpec<SGDHyperparameters> = {
  lr: ['lr', numberCodec],
  momentum: ['momentum', numberCodec],
  dampening: ['dampening', numberCodec],
  weightDecay: ['weight_decay', numberCodec],
  nesterov: ['nesterov', booleanCodec],
  maximize: ['maximize', booleanCodec],
};

export class SGD extends Optimizer<SGDHyperparameters> {
  constructor(params: Params<SGDHyperparameters>, options: SGDOptions = {}) {
    super(
      'SGD',
      params,
      {
        // NaN stands for PyTorch's `required`: every group must then give its own lr (validateGroup says so).
        lr: options.lr ?? Number.NaN,
        momentum: options.momentum ?? 0,
        dampening: options.dampening ?? 0,
        weightDecay: options.weightDecay ?? 0,
        nesterov: options.nesterov ?? false,
        maximize: options.maximize ?? false,
      },
      SPEC,
      {
        // PyTorch 2 keeps `fused` in every group too (torch/optim/sgd.py): the keys of the PyTorch we run beside.
        foreach: null,
        differentiable: false,
        ...(libtorchMajor() >= 2 ? { fused: null } : {}),
      },
    );
  }

  protected validateGroup(g: Readonly<SGDHyperparameters>, where: string): void {
    if (typeof g.lr !== 'number' || Number.isNaN(g.lr))
      throw new Error(
        `SGD: lr is required (give it in the options or in every parameter group); ${where} has ${String(g.lr)}`,
      );
    if (!(g.lr >= 0)) throw new Error(`${where}: SGD expects lr >= 0, got ${g.lr}`);
    if (typeof g.momentum !== 'number' || !(g.momentum >= 0))
      throw new Error(`${where}: SGD expects momentum >= 0, got ${String(g.momentum)}`);
    if (typeof g.dampening !== 'number' || Number.isNaN(g.dampening))
      throw new Error(`${where}: SGD expects a numeric dampening, got ${String(g.dampening)}`);
    if (typeof g.weightDecay !== 'number' || !(g.weightDecay >= 0))
      throw new Error(`${where}: SGD expects weightDecay >= 0, got ${String(g.weightDecay)}`);
    if (typeof g.nesterov !== 'boolean' || typeof g.maximize !== 'boolean')
      throw new Error(`${where}: SGD expects nesterov and maximize to be booleans`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error(
        `${where}: SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ${g.momentum}, dampening ${g.dampening})`,
      );
    }
  }

  protected updateParam(p: Tensor, grad: Tensor, g: ParamGroup<SGDHyperparameters>, state: ParamState): void {
    let d = g.maximize ? grad.neg() : grad;
    if (g.weightDecay !== 0) d = d.add(p, { alpha: g.weightDecay });
    if (g.momentum !== 0) {
      let buf = state.get('momentum_buffer');
      if (buf === undefined) {
        // torch.clone(d_p).detach(): the first step takes the gradient as the buffer, undampened.
        buf = this.keepState(state, 'momentum_buffer', d.clone());
      } else {
        buf = this.tensorState(state, 'momentum_buffer');
        buf.mul_(g.momentum).add_(d, { alpha: 1 - g.dampening });
      }
      d = g.nesterov ? d.add(buf, { alpha: g.momentum }) : buf;
    }
    p.add_(d, { alpha: -g.lr });
  }
}
