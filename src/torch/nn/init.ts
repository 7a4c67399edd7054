/**
 * Weight initialisers with PyTorch's formulas (torch/nn/init.py). They draw from libtorch's default
 * generator in the same order PyTorch does, so a module built after `manualSeed(s)` gets the same
 * weights as its PyTorch twin built after `torch.manual_seed(s)`.
 */
import { noGrad } from '../autograd.js';
import { formatShape } from '../dtype.js';
import { normal_, uniform_ } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';

/** fan_in and fan_out of a weight [out, in, ...kernel] as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fanInOut(w: Tensor): { fanIn: number; fanOut: number } {
  if (w.rank < 2) throw new Error(`init: fan in/out need a weight of rank >= 2, got ${formatShape(w.shape)}`);
  const receptive = w.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: w.shape[1]! * receptive, fanOut: w.shape[0]! * receptive };
}

export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu';

/** torch.nn.init.calculate_gain */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    default:
      return 1;
  }
}

export function uniformInit_(t: Tensor, a: number, b: number): Tensor {
  return noGrad(() => uniform_(t, a, b));
}

export function normalInit_(t: Tensor, mean: number, std: number): Tensor {
  return noGrad(() => normal_(t, mean, std));
}

export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

/** He et al. 2015 uniform: bound = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInOut(t);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const bound = Math.sqrt(3) * (gain / Math.sqrt(fan));
  return uniformInit_(t, -bound, bound);
}

/** He et al. 2015 normal: std = gain / sqrt(fan). The 3D ResNets use mode 'fan_out' with ReLU. */
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fanInOut(t);
  const fan = (o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  return normalInit_(t, 0, gain / Math.sqrt(fan));
}

/** Glorot & Bengio 2010 uniform: bound = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fanInOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniformInit_(t, -bound, bound);
}

/**
 * PyTorch's default for Linear and Conv layers (reset_parameters): kaiming_uniform_(a=sqrt(5)) on the
 * weight, then U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias.
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, fanInWeight: Tensor = weight): void {
  kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const { fanIn } = fanInOut(fanInWeight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniformInit_(bias, -bound, bound);
  }
}
