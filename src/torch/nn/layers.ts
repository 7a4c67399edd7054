/** Layers with PyTorch's parameter names, shapes, defaults and initialisation. */
import { formatShape } from '../dtype.js';
import { noGrad } from '../autograd.js';
import { empty, ones, zeros } from '../ops/creation.js';
import * as F from '../ops/functional.js';
import type { Tensor } from '../tensor.js';
import { defaultLayerInit } from './init.js';
import { Module } from './module.js';

type IntN = number | readonly number[];

function tuple(v: IntN, n: number): number[] {
  return typeof v === 'number' ? new Array<number>(n).fill(v) : [...v];
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias =
      (opts.bias ?? true) ? this.registerParameter('bias', empty([outFeatures])) : this.registerParameter('bias', null);
    defaultLayerInit(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export interface ConvLayerOptions {
  stride?: IntN;
  padding?: IntN;
  dilation?: IntN;
  groups?: number;
  bias?: boolean;
}

abstract class ConvNd extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly padding: number[];
  readonly dilation: number[];
  readonly groups: number;
  constructor(
    readonly spatial: 1 | 2 | 3,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: IntN,
    opts: ConvLayerOptions,
    transposed: boolean,
    readonly outputPadding: number[] = [],
  ) {
    super();
    this.groups = opts.groups ?? 1;
    const name = `${transposed ? 'ConvTranspose' : 'Conv'}${spatial}d`;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(
        `${name}: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${this.groups})`,
      );
    }
    this.kernelSize = tuple(kernelSize, spatial);
    this.stride = tuple(opts.stride ?? 1, spatial);
    this.padding = tuple(opts.padding ?? 0, spatial);
    this.dilation = tuple(opts.dilation ?? 1, spatial);
    const wShape = transposed
      ? [inChannels, outChannels / this.groups, ...this.kernelSize]
      : [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', empty(wShape));
    this.bias =
      (opts.bias ?? true) ? this.registerParameter('bias', empty([outChannels])) : this.registerParameter('bias', null);
    defaultLayerInit(this.weight, this.bias);
  }
}

export class Conv1d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntN, opts: ConvLayerOptions = {}) {
    super(1, inChannels, outChannels, kernelSize, opts, false);
  }
  forward(x: Tensor): Tensor {
    return F.conv1d(x, this.weight, this.bias, this);
  }
}
export class Conv2d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntN, opts: ConvLayerOptions = {}) {
    super(2, inChannels, outChannels, kernelSize, opts, false);
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, this);
  }
}
export class Conv3d extends ConvNd {
  constructor(inChannels: number, outChannels: number, kernelSize: IntN, opts: ConvLayerOptions = {}) {
    super(3, inChannels, outChannels, kernelSize, opts, false);
  }
  forward(x: Tensor): Tensor {
    return F.conv3d(x, this.weight, this.bias, this);
  }
}
export class ConvTranspose2d extends ConvNd {
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: IntN,
    opts: ConvLayerOptions & { outputPadding?: IntN } = {},
  ) {
    super(2, inChannels, outChannels, kernelSize, opts, true, tuple(opts.outputPadding ?? 0, 2));
  }
  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, this.bias, this);
  }
}
export class ConvTranspose3d extends ConvNd {
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: IntN,
    opts: ConvLayerOptions & { outputPadding?: IntN } = {},
  ) {
    super(3, inChannels, outChannels, kernelSize, opts, true, tuple(opts.outputPadding ?? 0, 3));
  }
  forward(x: Tensor): Tensor {
    return F.convTranspose3d(x, this.weight, this.bias, this);
  }
}

export interface NormOptions {
  eps?: number;
  /** Running-average factor; null = cumulative average (PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/** Batch norm over channels (dim 1): BatchNorm1d/2d/3d differ only in the input rank they accept. */
abstract class BatchNormNd extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly trackRunningStats: boolean;
  constructor(
    readonly numFeatures: number,
    opts: NormOptions,
    readonly ranks: readonly number[],
    readonly layout: string,
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const affine = opts.affine ?? true;
    this.weight = affine
      ? this.registerParameter('weight', ones([numFeatures]))
      : this.registerParameter('weight', null);
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : this.registerParameter('bias', null);
    this.runningMean = this.registerBuffer('running_mean', this.trackRunningStats ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', this.trackRunningStats ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', this.trackRunningStats ? zeros([], { dtype: 'int64' }) : null);
  }
  forward(x: Tensor): Tensor {
    const name = this.constructor.name;
    if (!this.ranks.includes(x.rank))
      throw new Error(`${name}: input must be ${this.layout}, got ${formatShape(x.shape)}`);
    if (x.shape[1] !== this.numFeatures)
      throw new Error(`${name}: expected ${this.numFeatures} channels in dim 1, got ${formatShape(x.shape)}`);
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats) {
      const tracked = this.getBuffer('num_batches_tracked')!;
      noGrad(() => tracked.add_(1));
      if (this.momentum === null) factor = 1 / tracked.item();
    }
    const useBatchStats = this.training || this.runningMean === null;
    const useRunning = !this.training || this.trackRunningStats;
    return F.batchNorm(x, useRunning ? this.runningMean : null, useRunning ? this.runningVar : null, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum: factor,
      eps: this.eps,
    });
  }
}

export class BatchNorm1d extends BatchNormNd {
  constructor(numFeatures: number, opts: NormOptions = {}) {
    super(numFeatures, opts, [2, 3], '[N,C] or [N,C,L]');
  }
}
export class BatchNorm2d extends BatchNormNd {
  constructor(numFeatures: number, opts: NormOptions = {}) {
    super(numFeatures, opts, [4], '[N,C,H,W]');
  }
}
export class BatchNorm3d extends BatchNormNd {
  constructor(numFeatures: number, opts: NormOptions = {}) {
    super(numFeatures, opts, [5], '[N,C,D,H,W]');
  }
}

/** InstanceNorm3d with PyTorch's defaults (affine=false, trackRunningStats=false). */
export class InstanceNorm3d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  constructor(
    readonly numFeatures: number,
    opts: NormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    const affine = opts.affine ?? false;
    const track = opts.trackRunningStats ?? false;
    this.weight = affine
      ? this.registerParameter('weight', ones([numFeatures]))
      : this.registerParameter('weight', null);
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : this.registerParameter('bias', null);
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.registerBuffer('num_batches_tracked', track ? zeros([], { dtype: 'int64' }) : null);
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 5 || x.shape[1] !== this.numFeatures) {
      throw new Error(`InstanceNorm3d: input must be [N,${this.numFeatures},D,H,W], got ${formatShape(x.shape)}`);
    }
    return F.instanceNorm(x, {
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      weight: this.weight,
      bias: this.bias,
      useInputStats: this.training || this.runningMean === null,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}

export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (numChannels % numGroups !== 0)
      throw new Error(`GroupNorm: ${numChannels} channels do not divide into ${numGroups} groups`);
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine
      ? this.registerParameter('weight', ones([numChannels]))
      : this.registerParameter('weight', null);
    this.bias = affine ? this.registerParameter('bias', zeros([numChannels])) : this.registerParameter('bias', null);
  }
  readonly eps: number;
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.gelu(x, { approximate: this.approximate });
  }
}
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: IntN,
    readonly opts: F.PoolOptions & { dilation?: IntN } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.opts);
  }
}
export class MaxPool3d extends Module {
  constructor(
    readonly kernelSize: IntN,
    readonly opts: F.PoolOptions & { dilation?: IntN } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool3d(x, this.kernelSize, this.opts);
  }
}
export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: IntN,
    readonly opts: F.PoolOptions & { countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.opts);
  }
}
export class AvgPool3d extends Module {
  constructor(
    readonly kernelSize: IntN,
    readonly opts: F.PoolOptions & { countIncludePad?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.avgPool3d(x, this.kernelSize, this.opts);
  }
}
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: IntN) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}
export class AdaptiveAvgPool3d extends Module {
  constructor(readonly outputSize: IntN) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool3d(x, this.outputSize);
  }
}
export class AdaptiveMaxPool2d extends Module {
  constructor(readonly outputSize: IntN) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool2d(x, this.outputSize);
  }
}
export class AdaptiveMaxPool3d extends Module {
  constructor(readonly outputSize: IntN) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool3d(x, this.outputSize);
  }
}

/** Runs its children in order; they are named '0', '1', ... as in PyTorch. */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers.map((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}

/** A list of submodules named '0', '1', ...; it has no forward of its own. */
export class ModuleList extends Module {
  readonly items: Module[] = [];
  constructor(modules: Module[] = []) {
    super();
    for (const m of modules) this.append(m);
  }
  append(m: Module): this {
    this.items.push(this.registerModule(String(this.items.length), m));
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  forward(): Tensor {
    throw new Error('ModuleList: has no forward; iterate over its items');
  }
}
