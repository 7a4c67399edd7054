/**
 * LARS (You et al., "Large Batch Training of Convolutional Networks", 2017) in the variant VICReg trains with:
 * class LARS in facebookresearch/vicreg, main_vicreg.py. Per parameter p with gradient g:
 *
 *   d = g + weightDecay * p                                  (unless weightDecayFilter(p))
 *   q = eta * ||p|| / ||d|| if ||p|| > 0 and ||d|| > 0, else 1;  d = q * d   (unless larsAdaptationFilter(p))
 *   mu = momentum * mu + d  (mu starts at zero);  p -= lr * mu
 *
 * VICReg passes `exclude_bias_and_norm` (p.ndim == 1: biases and normalisation weights) as both filters, so those
 * parameters get neither weight decay nor the trust ratio; that is the default here too (the Python class's own
 * default is None, i.e. no exclusion: pass null for that). The momentum buffer is stored under VICReg's key `mu`.
 */
import { onesLike, zerosLike } from '../ops/creation.js';
import { where } from '../ops/shape.js';
import type { Tensor } from '../tensor.js';
import {
  type HyperCodec,
  type HyperSpec,
  numberCodec,
  Optimizer,
  type ParamGroup,
  type Params,
  type ParamState,
} from './optimizer.js';

/** Says whether a parameter is excluded (true) from weight decay or from the trust-ratio adaptation. */
export type LarsFilter = ((param: Tensor) => boolean) | null;

/** VICReg's `exclude_bias_and_norm`: one-dimensional parameters (biases, norm weights). */
export function excludeBiasAndNorm(param: Tensor): boolean {
  return param.rank === 1;
}

export interface LARSHyperparameters {
  lr: number;
  weightDecay: number;
  momentum: number;
  /** Trust coefficient of the layer-wise rate ratio. */
  eta: number;
  weightDecayFilter: LarsFilter;
  larsAdaptationFilter: LarsFilter;
}

export type LARSOptions = Partial<LARSHyperparameters>;

const EXCLUDE_BIAS_AND_NORM = 'exclude_bias_and_norm';

/**
 * Filters are code, not state: a state dict holds the built-in filter by VICReg's function name
 * ('exclude_bias_and_norm'; a pickled reference to that function also loads as it), null for none, and a custom
 * function by its name; loading anything but those two leaves the group's current filter in place.
 */
const filterCodec: HyperCodec<LarsFilter> = {
  toPy: (f) => (f === null ? null : f === excludeBiasAndNorm ? EXCLUDE_BIAS_AND_NORM : f.name || 'custom_filter'),
  fromPy: (v, current) => {
    if (v === null) return null;
    const name =
      typeof v === 'string'
        ? v
        : v !== null && typeof v === 'object' && 'name' in v
          ? (v as { name: unknown }).name
          : undefined;
    return name === EXCLUDE_BIAS_AND_NORM ? excludeBiasAndNorm : current;
  },
};

const SPEC: HyperSpec<LARSHyperparameters> = {
  lr: ['lr', numberCodec],
  weightDecay: ['weight_decay', numberCodec],
  momentum: ['momentum', numberCodec],
  eta: ['eta', numberCodec],
  weightDecayFilter: ['weight_decay_filter', filterCodec],
  larsAdaptationFilter: ['lars_adaptation_filter', filterCodec],
};

export class LARS extends Optimizer<LARSHyperparameters> {
  /** Defaults as VICReg: weightDecay 0, momentum 0.9, eta 0.001, both filters excludeBiasAndNorm; lr is required. */
  constructor(params: Params<LARSHyperparameters>, options: LARSOptions = {}) {
    super(
      'LARS',
      params,
      {
        lr: options.lr ?? Number.NaN,
        weightDecay: options.weightDecay ?? 0,
        momentum: options.momentum ?? 0.9,
        eta: options.eta ?? 0.001,
        weightDecayFilter: options.weightDecayFilter === undefined ? excludeBiasAndNorm : options.weightDecayFilter,
        larsAdaptationFilter:
          options.larsAdaptationFilter === undefined ? excludeBiasAndNorm : options.larsAdaptationFilter,
      },
      SPEC,
    );
  }

  protected validateGroup(g: Readonly<LARSHyperparameters>, where: string): void {
    if (typeof g.lr !== 'number' || Number.isNaN(g.lr))
      throw new Error(
        `LARS: lr is required (give it in the options or in every parameter group); ${where} has ${String(g.lr)}`,
      );
    if (!(g.lr >= 0)) throw new Error(`${where}: LARS expects lr >= 0, got ${g.lr}`);
    if (typeof g.weightDecay !== 'number' || !(g.weightDecay >= 0))
      throw new Error(`${where}: LARS expects weightDecay >= 0, got ${String(g.weightDecay)}`);
    if (typeof g.momentum !== 'number' || !(g.momentum >= 0))
      throw new Error(`${where}: LARS expects momentum >= 0, got ${String(g.momentum)}`);
    if (typeof g.eta !== 'number' || !(g.eta > 0))
      throw new Error(`${where}: LARS expects eta (the trust coefficient) > 0, got ${String(g.eta)}`);
    for (const key of ['weightDecayFilter', 'larsAdaptationFilter'] as const) {
      const f = g[key];
      if (f !== null && typeof f !== 'function')
        throw new Error(`${where}: LARS expects ${key} to be a function (param) => boolean or null`);
    }
  }

  protected updateParam(p: Tensor, grad: Tensor, g: ParamGroup<LARSHyperparameters>, state: ParamState): void {
    let d = grad;
    if (g.weightDecayFilter === null || !g.weightDecayFilter(p)) d = d.add(p, { alpha: g.weightDecay });
    if (g.larsAdaptationFilter === null || !g.larsAdaptationFilter(p)) {
      const paramNorm = p.norm();
      const updateNorm = d.norm();
      const one = onesLike(paramNorm);
      // The trust ratio falls back to 1 when either norm is zero (a zero-initialised layer, a zero update).
      const q = where(paramNorm.gt(0), where(updateNorm.gt(0), paramNorm.mul(g.eta).div(updateNorm), one), one);
      d = d.mul(q);
    }
    const mu = state.has('mu') ? this.tensorState(state, 'mu') : this.keepState(state, 'mu', zerosLike(p));
    mu.mul_(g.momentum).add_(d);
    p.add_(mu, { alpha: -g.lr });
  }
}
