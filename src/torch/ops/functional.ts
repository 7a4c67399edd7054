/**
 * torch.nn.functional: convolutions, pooling, normalisation, activations, resampling, losses and
 * similarity measures. Each checks the shapes it can explain better than libtorch would, then calls the
 * ATen operator PyTorch itself calls (so results match PyTorch bit for bit on the same libtorch).
 */
import { formatShape } from '../dtype.js';
import { callOp, callOpMulti, normDim, type Tensor } from '../tensor.js';

type IntN = number | readonly number[];

const LAYOUT: Record<1 | 2 | 3, string> = { 1: '[N,C,L]', 2: '[N,C,H,W]', 3: '[N,C,D,H,W]' };

function checkRank(op: string, x: Tensor, spatial: 1 | 2 | 3): void {
  if (x.rank !== spatial + 2)
    throw new Error(`${op}: input must be rank ${spatial + 2} ${LAYOUT[spatial]}, got ${formatShape(x.shape)}`);
}

function expand(op: string, v: IntN, n: number, what: string): number[] {
  const out = typeof v === 'number' ? new Array<number>(n).fill(v) : Array.isArray(v) ? [...v] : [NaN];
  if (out.length !== n || out.some((x) => !Number.isInteger(x) || x < 0)) {
    throw new Error(`${op}: ${what} must be a non-negative integer or ${n} of them, got ${JSON.stringify(v)}`);
  }
  return out;
}

// ----- convolutions -----
export interface ConvOptions {
  stride?: IntN;
  padding?: IntN;
  dilation?: IntN;
  groups?: number;
}

function convNd(spatial: 1 | 2 | 3, x: Tensor, weight: Tensor, bias: Tensor | null, o: ConvOptions): Tensor {
  const op = `conv${spatial}d`;
  checkRank(op, x, spatial);
  if (weight.rank !== spatial + 2)
    throw new Error(`${op}: weight must be rank ${spatial + 2} [out,in/groups,k...], got ${formatShape(weight.shape)}`);
  const groups = o.groups ?? 1;
  if (x.shape[1] !== weight.shape[1]! * groups) {
    throw new Error(
      `${op}: input ${formatShape(x.shape)} has ${x.shape[1]} channels, weight ${formatShape(weight.shape)} with groups=${groups} expects ${weight.shape[1]! * groups}`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`${op}: bias must be [${weight.shape[0]}], got ${formatShape(bias.shape)}`);
  }
  const stride = expand(op, o.stride ?? 1, spatial, 'stride');
  const padding = expand(op, o.padding ?? 0, spatial, 'padding');
  const dilation = expand(op, o.dilation ?? 1, spatial, 'dilation');
  for (let i = 0; i < spatial; i++) {
    const size = x.shape[2 + i]! + 2 * padding[i]!;
    const span = dilation[i]! * (weight.shape[2 + i]! - 1) + 1;
    if (size < span) {
      throw new Error(
        `${op}: input ${formatShape(x.shape)} (padded ${size} along spatial dim ${i}) is smaller than the kernel ${formatShape(weight.shape.slice(2))}`,
      );
    }
  }
  return callOp(`aten::${op}`, '', [x, weight, bias, stride, padding, dilation, groups]);
}

export const conv1d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvOptions = {}): Tensor =>
  convNd(1, x, w, b, o);
export const conv2d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvOptions = {}): Tensor =>
  convNd(2, x, w, b, o);
export const conv3d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvOptions = {}): Tensor =>
  convNd(3, x, w, b, o);

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: IntN;
}

function convTransposeNd(
  spatial: 1 | 2 | 3,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  o: ConvTransposeOptions,
): Tensor {
  const op = `conv_transpose${spatial}d`;
  checkRank(op, x, spatial);
  const groups = o.groups ?? 1;
  if (weight.rank !== spatial + 2 || x.shape[1] !== weight.shape[0]) {
    throw new Error(
      `${op}: weight ${formatShape(weight.shape)} must be [in=${x.shape[1]},out/groups,k...] for input ${formatShape(x.shape)}`,
    );
  }
  // conv_transpose2d/3d have an 'input' overload (beside a padding-string one); conv_transpose1d has only ''.
  return callOp(`aten::${op}`, spatial === 1 ? '' : 'input', [
    x,
    weight,
    bias,
    expand(op, o.stride ?? 1, spatial, 'stride'),
    expand(op, o.padding ?? 0, spatial, 'padding'),
    expand(op, o.outputPadding ?? 0, spatial, 'outputPadding'),
    groups,
    expand(op, o.dilation ?? 1, spatial, 'dilation'),
  ]);
}

export const convTranspose1d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvTransposeOptions = {}): Tensor =>
  convTransposeNd(1, x, w, b, o);
export const convTranspose2d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvTransposeOptions = {}): Tensor =>
  convTransposeNd(2, x, w, b, o);
export const convTranspose3d = (x: Tensor, w: Tensor, b: Tensor | null = null, o: ConvTransposeOptions = {}): Tensor =>
  convTransposeNd(3, x, w, b, o);

// ----- normalisation -----
export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** PyTorch's default: false (inference with the running statistics). */
  training?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch norm over dim 1, as F.batch_norm(input, running_mean, running_var, ...); in training mode it updates the
 * running statistics in place (as PyTorch does).
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  o: BatchNormOptions = {},
): Tensor {
  if (x.rank < 2) throw new Error(`batchNorm: input must be at least [N,C], got ${formatShape(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', o.weight],
    ['bias', o.bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== c))
      throw new Error(
        `batchNorm: ${name} must be [${c}] for input ${formatShape(x.shape)}, got ${formatShape(t.shape)}`,
      );
  }
  const training = o.training ?? false;
  if (training) {
    const perChannel = x.numel / c;
    if (perChannel <= 1)
      throw new Error(
        `batchNorm: expected more than 1 value per channel when training, got input ${formatShape(x.shape)}`,
      );
  }
  return callOp('aten::batch_norm', '', [
    x,
    o.weight ?? null,
    o.bias ?? null,
    runningMean,
    runningVar,
    training,
    o.momentum ?? 0.1,
    o.eps ?? 1e-5,
    true,
  ]);
}

export interface InstanceNormOptions {
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  useInputStats?: boolean;
  momentum?: number;
  eps?: number;
}

/** Instance norm: each sample and channel normalised over its spatial extent. */
export function instanceNorm(x: Tensor, o: InstanceNormOptions = {}): Tensor {
  if (x.rank < 3) throw new Error(`instanceNorm: input must be [N,C,...spatial], got ${formatShape(x.shape)}`);
  return callOp('aten::instance_norm', '', [
    x,
    o.weight ?? null,
    o.bias ?? null,
    o.runningMean ?? null,
    o.runningVar ?? null,
    o.useInputStats ?? true,
    o.momentum ?? 0.1,
    o.eps ?? 1e-5,
    true,
  ]);
}

export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  if (x.rank < 2 || x.shape[1]! % numGroups !== 0) {
    throw new Error(`groupNorm: channels of ${formatShape(x.shape)} must divide into ${numGroups} groups`);
  }
  return callOp('aten::group_norm', '', [x, numGroups, weight, bias, eps, true]);
}

export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return callOp('aten::layer_norm', '', [x, normalizedShape, weight, bias, eps, true]);
}

// ----- activations -----
export const relu = (x: Tensor): Tensor => callOp('aten::relu', '', [x]);
export const sigmoid = (x: Tensor): Tensor => callOp('aten::sigmoid', '', [x]);
export const tanh = (x: Tensor): Tensor => callOp('aten::tanh', '', [x]);
export const silu = (x: Tensor): Tensor => callOp('aten::silu', '', [x]);
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => callOp('aten::leaky_relu', '', [x, slope]);
/** GELU, exact (erf) or with the tanh approximation; `approximate` is keyword-only in PyTorch. */
export const gelu = (x: Tensor, o: { approximate?: 'none' | 'tanh' } = {}): Tensor =>
  callOp('aten::gelu', '', [x], { approximate: o.approximate ?? 'none' });
export function softmax(x: Tensor, dim: number): Tensor {
  normDim('softmax', dim, x.rank);
  return callOp('aten::softmax', 'int', [x, dim]);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  normDim('logSoftmax', dim, x.rank);
  return callOp('aten::log_softmax', 'int', [x, dim]);
}

// ----- linear algebra -----
/** x @ weight^T + bias, weight [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (weight.rank !== 2) throw new Error(`linear: weight must be [out,in], got ${formatShape(weight.shape)}`);
  if (x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new Error(
      `linear: input ${formatShape(x.shape)} must end in ${weight.shape[1]} features for weight ${formatShape(weight.shape)}`,
    );
  }
  return callOp('aten::linear', '', [x, weight, bias]);
}
export function matmul(a: Tensor, b: Tensor): Tensor {
  return callOp('aten::matmul', '', [a, b]);
}
/** Batched matrix product of [B,n,m] and [B,m,p]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  if (a.rank !== 3 || b.rank !== 3 || a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new Error(`bmm: expected [B,n,m] and [B,m,p], got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  return callOp('aten::bmm', '', [a, b]);
}
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  return callOp('aten::einsum', '', [equation, operands]);
}

// ----- dropout -----
/** F.dropout(input, p=0.5, training=True): PyTorch's defaults. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  return callOp('aten::dropout', '', [x, p, training]);
}

// ----- pooling -----
export interface PoolOptions {
  stride?: IntN;
  padding?: IntN;
  ceilMode?: boolean;
}

function maxPoolNd(spatial: 2 | 3, x: Tensor, kernel: IntN, o: PoolOptions & { dilation?: IntN }): Tensor {
  const op = `max_pool${spatial}d`;
  checkRank(op, x, spatial);
  const k = expand(op, kernel, spatial, 'kernel');
  return callOp(`aten::${op}`, '', [
    x,
    k,
    o.stride === undefined ? k : expand(op, o.stride, spatial, 'stride'),
    expand(op, o.padding ?? 0, spatial, 'padding'),
    expand(op, o.dilation ?? 1, spatial, 'dilation'),
    o.ceilMode ?? false,
  ]);
}

function avgPoolNd(spatial: 2 | 3, x: Tensor, kernel: IntN, o: PoolOptions & { countIncludePad?: boolean }): Tensor {
  const op = `avg_pool${spatial}d`;
  checkRank(op, x, spatial);
  const k = expand(op, kernel, spatial, 'kernel');
  return callOp(`aten::${op}`, '', [
    x,
    k,
    o.stride === undefined ? k : expand(op, o.stride, spatial, 'stride'),
    expand(op, o.padding ?? 0, spatial, 'padding'),
    o.ceilMode ?? false,
    o.countIncludePad ?? true,
    null,
  ]);
}

export const maxPool2d = (x: Tensor, kernel: IntN, o: PoolOptions & { dilation?: IntN } = {}): Tensor =>
  maxPoolNd(2, x, kernel, o);
export const maxPool3d = (x: Tensor, kernel: IntN, o: PoolOptions & { dilation?: IntN } = {}): Tensor =>
  maxPoolNd(3, x, kernel, o);
export const avgPool2d = (x: Tensor, kernel: IntN, o: PoolOptions & { countIncludePad?: boolean } = {}): Tensor =>
  avgPoolNd(2, x, kernel, o);
export const avgPool3d = (x: Tensor, kernel: IntN, o: PoolOptions & { countIncludePad?: boolean } = {}): Tensor =>
  avgPoolNd(3, x, kernel, o);

export function adaptiveAvgPool2d(x: Tensor, size: IntN): Tensor {
  checkRank('adaptive_avg_pool2d', x, 2);
  return callOp('aten::adaptive_avg_pool2d', '', [x, expand('adaptive_avg_pool2d', size, 2, 'output size')]);
}
export function adaptiveAvgPool3d(x: Tensor, size: IntN): Tensor {
  checkRank('adaptive_avg_pool3d', x, 3);
  return callOp('aten::adaptive_avg_pool3d', '', [x, expand('adaptive_avg_pool3d', size, 3, 'output size')]);
}
export function adaptiveMaxPool2d(x: Tensor, size: IntN): Tensor {
  checkRank('adaptive_max_pool2d', x, 2);
  const [out, indices] = callOpMulti('aten::adaptive_max_pool2d', '', [
    x,
    expand('adaptive_max_pool2d', size, 2, 'output size'),
  ]);
  indices!.dispose();
  return out!;
}
export function adaptiveMaxPool3d(x: Tensor, size: IntN): Tensor {
  checkRank('adaptive_max_pool3d', x, 3);
  const [out, indices] = callOpMulti('aten::adaptive_max_pool3d', '', [
    x,
    expand('adaptive_max_pool3d', size, 3, 'output size'),
  ]);
  indices!.dispose();
  return out!;
}

// ----- padding and resampling -----
export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Pads the last dimensions: `pad` = [left, right, top, bottom, front, back] (as F.pad). */
export function pad(x: Tensor, padding: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  if (padding.length % 2 !== 0 || padding.length / 2 > x.rank) {
    throw new Error(
      `pad: padding must have an even length of at most ${2 * x.rank} for input ${formatShape(x.shape)}, got [${padding.join(',')}]`,
    );
  }
  return callOp('aten::pad', '', [x, padding, mode, mode === 'constant' ? value : null]);
}

export type InterpolateMode = 'nearest' | 'linear' | 'bilinear' | 'trilinear' | 'area';

export interface InterpolateOptions {
  size?: IntN;
  scaleFactor?: number | readonly number[];
  mode?: InterpolateMode;
  alignCorners?: boolean;
}

/** Resizes the spatial dimensions, as F.interpolate (recompute_scale_factor unset). */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  const spatial = x.rank - 2;
  if (spatial < 1 || spatial > 3)
    throw new Error(`interpolate: input must be [N,C,...] with 1 to 3 spatial dims, got ${formatShape(x.shape)}`);
  if ((o.size === undefined) === (o.scaleFactor === undefined))
    throw new Error('interpolate: give exactly one of size and scaleFactor');
  const mode = o.mode ?? 'nearest';
  const size = o.size === undefined ? null : expand('interpolate', o.size, spatial, 'size');
  const scales =
    o.scaleFactor === undefined
      ? null
      : typeof o.scaleFactor === 'number'
        ? new Array<number>(spatial).fill(o.scaleFactor)
        : [...o.scaleFactor];
  if (scales && scales.length !== spatial)
    throw new Error(`interpolate: ${scales.length} scale factors for ${spatial} spatial dims`);
  const needed: Record<InterpolateMode, number | null> = {
    nearest: null,
    area: null,
    linear: 1,
    bilinear: 2,
    trilinear: 3,
  };
  const need = needed[mode];
  if (need !== null && need !== spatial)
    throw new Error(
      `interpolate: mode '${mode}' needs ${need} spatial dims, input ${formatShape(x.shape)} has ${spatial}`,
    );
  if (o.alignCorners !== undefined && (mode === 'nearest' || mode === 'area'))
    throw new Error(`interpolate: alignCorners only applies to linear modes, not '${mode}'`);
  if (mode === 'area') {
    const out = size ?? x.shape.slice(2).map((s, i) => Math.floor(s * scales![i]!));
    const fn = ['adaptive_avg_pool1d', 'adaptive_avg_pool2d', 'adaptive_avg_pool3d'][spatial - 1]!;
    return callOp(`aten::${fn}`, '', [x, out]);
  }
  if (mode === 'nearest') return callOp(`aten::upsample_nearest${spatial}d`, 'vec', [x, size, scales]);
  return callOp(`aten::upsample_${mode}${spatial}d`, 'vec', [x, size, o.alignCorners ?? false, scales]);
}

const GRID_MODES = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const;

/** Samples `x` [N,C,(D,)H,W] at `grid` [N,(D,)H,W,2|3] in [-1, 1] coordinates, as F.grid_sample. */
export function gridSample(
  x: Tensor,
  grid: Tensor,
  o: { mode?: keyof typeof GRID_MODES; paddingMode?: keyof typeof GRID_PADDING; alignCorners?: boolean } = {},
): Tensor {
  const spatial = x.rank - 2;
  if (
    (spatial !== 2 && spatial !== 3) ||
    grid.rank !== x.rank ||
    grid.shape[grid.rank - 1] !== spatial ||
    grid.shape[0] !== x.shape[0]
  ) {
    throw new Error(
      `gridSample: expected input [N,C,H,W] with grid [N,H,W,2] (or 3-D), got ${formatShape(x.shape)} and ${formatShape(grid.shape)}`,
    );
  }
  return callOp('aten::grid_sampler', '', [
    x,
    grid,
    GRID_MODES[o.mode ?? 'bilinear'],
    GRID_PADDING[o.paddingMode ?? 'zeros'],
    o.alignCorners ?? false,
  ]);
}

/** Sampling grid for the affine maps `theta` [N,2,3] (or [N,3,4]) and output `size`, as F.affine_grid. */
export function affineGrid(theta: Tensor, size: readonly number[], alignCorners = false): Tensor {
  const spatial = size.length - 2;
  if (
    (spatial !== 2 && spatial !== 3) ||
    theta.rank !== 3 ||
    theta.shape[1] !== spatial ||
    theta.shape[2] !== spatial + 1
  ) {
    throw new Error(
      `affineGrid: expected theta [N,${spatial},${spatial + 1}] for size [${size.join(',')}], got ${formatShape(theta.shape)}`,
    );
  }
  return callOp('aten::affine_grid_generator', '', [theta, size, alignCorners]);
}

// ----- losses -----
export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.rank !== b.rank || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new Error(`${op}: input ${formatShape(a.shape)} and target ${formatShape(b.shape)} must have the same shape`);
  }
}

export function mseLoss(input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  sameShape('mseLoss', input, target);
  return callOp('aten::mse_loss', '', [input, target, REDUCTION[o.reduction ?? 'mean']]);
}

/** Targets pulled towards 0.5 by `smoothing` (label smoothing for binary targets: y(1-s) + s/2). */
export function smoothBinaryLabels(target: Tensor, smoothing: number): Tensor {
  if (smoothing < 0 || smoothing >= 1)
    throw new Error(`smoothBinaryLabels: smoothing must be in [0, 1), got ${smoothing}`);
  return target.mul(1 - smoothing).add(smoothing / 2);
}

export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  sameShape('binaryCrossEntropyWithLogits', input, target);
  return callOp('aten::binary_cross_entropy_with_logits', '', [
    input,
    target,
    o.weight ?? null,
    o.posWeight ?? null,
    REDUCTION[o.reduction ?? 'mean'],
  ]);
}

/** Cross-entropy of logits [N,C,...] against class indices [N,...] or class probabilities [N,C,...]. */
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; ignoreIndex?: number; reduction?: Reduction; labelSmoothing?: number } = {},
): Tensor {
  if (input.rank < 2) throw new Error(`crossEntropy: input must be [N,C,...] logits, got ${formatShape(input.shape)}`);
  return callOp('aten::cross_entropy_loss', '', [
    input,
    target,
    o.weight ?? null,
    REDUCTION[o.reduction ?? 'mean'],
    o.ignoreIndex ?? -100,
    o.labelSmoothing ?? 0,
  ]);
}

// ----- similarity -----
export function cosineSimilarity(a: Tensor, b: Tensor, dim = 1, eps = 1e-8): Tensor {
  return callOp('aten::cosine_similarity', '', [a, b, dim, eps]);
}

/** x / max(||x||_p, eps) along `dim`, as F.normalize. */
export function normalize(x: Tensor, p = 2, dim = 1, eps = 1e-12): Tensor {
  normDim('normalize', dim, x.rank);
  const norm = callOp('aten::norm', 'ScalarOpt_dim', [x, p, [dim], true]);
  const denom = callOp('aten::clamp_min', '', [norm, eps]);
  norm.dispose();
  const out = x.div(denom);
  denom.dispose();
  return out;
}

/** Pairwise p-norm distances between rows of [B,P,M] and [B,R,M] (or [P,M] and [R,M]). */
export function cdist(a: Tensor, b: Tensor, p = 2): Tensor {
  if (a.rank < 2 || b.rank !== a.rank || a.shape[a.rank - 1] !== b.shape[b.rank - 1]) {
    throw new Error(`cdist: expected [...,P,M] and [...,R,M], got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  return callOp('aten::cdist', '', [a, b, p, null]);
}
