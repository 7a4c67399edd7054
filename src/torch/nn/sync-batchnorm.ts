/**
 * SyncBatchNorm: batch norm whose training-mode statistics are taken over the whole global batch (every rank's
 * samples), as torch.nn.SyncBatchNorm (torch/nn/modules/batchnorm.py): in training with more than one rank the
 * forward allreduces per-channel sums and the backward allreduces the gradient sums (ProcessGroup.syncBatchNorm,
 * native c10d); in eval mode, or with a single process, it is plain batch norm with the running statistics.
 *
 * Parameters and buffers keep BatchNorm's names (`weight`, `bias`, `running_mean`, `running_var`,
 * `num_batches_tracked`), so checkpoints move between BatchNorm and SyncBatchNorm models unchanged (PyTorch's
 * convert_sync_batchnorm keeps them too). `convertSyncBatchNorm(module, pg)` swaps every BatchNorm1d/2d/3d of a
 * module tree for a SyncBatchNorm that takes over the very same tensors (an optimiser built before still
 * updates them).
 */
import { formatShape } from '../dtype.js';
import { noGrad } from '../autograd.js';
import type { ProcessGroup } from '../distributed.js';
import { ones, zeros } from '../ops/creation.js';
import * as F from '../ops/functional.js';
import type { Tensor } from '../tensor.js';
import { BatchNorm1d, BatchNorm2d, BatchNorm3d, type NormOptions } from './layers.js';
import { Module } from './module.js';

type AnyBatchNorm = BatchNorm1d | BatchNorm2d | BatchNorm3d;

interface TakenOver {
  weight: Tensor | null;
  bias: Tensor | null;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  numBatchesTracked: Tensor | null;
  /** Input ranks the replaced layer accepted (BatchNorm3d: [5]) and how to name them in errors. */
  ranks: readonly number[];
  layout: string;
}

export class SyncBatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly trackRunningStats: boolean;
  /** Input ranks accepted (any rank >= 2 unless converted from a BatchNorm1d/2d/3d, which keeps its check). */
  readonly ranks: readonly number[] | null;
  readonly layout: string;
  /** The group the statistics are synchronised over; null = a single process (plain batch norm). */
  processGroup: ProcessGroup | null;

  constructor(
    readonly numFeatures: number,
    opts: NormOptions & { processGroup?: ProcessGroup | null } = {},
    takeOver?: TakenOver,
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.processGroup = opts.processGroup ?? null;
    this.ranks = takeOver?.ranks ?? null;
    this.layout = takeOver?.layout ?? '[N,C,...]';
    if (takeOver) {
      // The replaced layer's own tensors: registerParameter marks them trainable, so restore a frozen layer's flag.
      const frozen = [takeOver.weight, takeOver.bias].map((t) => t !== null && !t.requiresGrad);
      this.weight = takeOver.weight
        ? this.registerParameter('weight', takeOver.weight)
        : this.registerParameter('weight', null);
      this.bias = takeOver.bias ? this.registerParameter('bias', takeOver.bias) : this.registerParameter('bias', null);
      if (frozen[0]) this.weight!.requiresGrad = false;
      if (frozen[1]) this.bias!.requiresGrad = false;
      this.runningMean = this.registerBuffer('running_mean', takeOver.runningMean);
      this.runningVar = this.registerBuffer('running_var', takeOver.runningVar);
      this.registerBuffer('num_batches_tracked', takeOver.numBatchesTracked);
    } else {
      const affine = opts.affine ?? true;
      this.weight = affine
        ? this.registerParameter('weight', ones([numFeatures]))
        : this.registerParameter('weight', null);
      this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : this.registerParameter('bias', null);
      this.runningMean = this.registerBuffer('running_mean', this.trackRunningStats ? zeros([numFeatures]) : null);
      this.runningVar = this.registerBuffer('running_var', this.trackRunningStats ? ones([numFeatures]) : null);
      this.registerBuffer('num_batches_tracked', this.trackRunningStats ? zeros([], { dtype: 'int64' }) : null);
    }
  }

  /** A SyncBatchNorm that owns `bn`'s parameters and buffers (the same tensors) and its settings. */
  static fromBatchNorm(bn: AnyBatchNorm, processGroup: ProcessGroup | null): SyncBatchNorm {
    const buffers = new Map(bn.namedBuffers('', false));
    const m = new SyncBatchNorm(
      bn.numFeatures,
      {
        eps: bn.eps,
        momentum: bn.momentum,
        trackRunningStats: bn.trackRunningStats,
        affine: bn.weight !== null,
        processGroup,
      },
      {
        weight: bn.weight,
        bias: bn.bias,
        runningMean: bn.runningMean,
        runningVar: bn.runningVar,
        numBatchesTracked: buffers.get('num_batches_tracked') ?? null,
        ranks: bn.ranks,
        layout: bn.layout,
      },
    );
    m.training = bn.training;
    return m;
  }

  forward(x: Tensor): Tensor {
    if (this.ranks ? !this.ranks.includes(x.rank) : x.rank < 2) {
      throw new Error(`SyncBatchNorm: input must be ${this.layout}, got ${formatShape(x.shape)}`);
    }
    if (x.shape[1] !== this.numFeatures)
      throw new Error(`SyncBatchNorm: expected ${this.numFeatures} channels in dim 1, got ${formatShape(x.shape)}`);
    let factor = this.momentum ?? 0;
    if (this.training && this.trackRunningStats) {
      const tracked = this.getBuffer('num_batches_tracked')!;
      noGrad(() => tracked.add_(1));
      // momentum=None: a cumulative average (torch/nn/modules/batchnorm.py, exponential_average_factor).
      if (this.momentum === null) factor = 1 / tracked.item();
    }
    const pg = this.processGroup;
    if (this.training && pg !== null && pg.size > 1) {
      // Statistics over every rank's batch; running stats updated with the global unbiased variance.
      return pg.syncBatchNorm(x, {
        weight: this.weight,
        bias: this.bias,
        runningMean: this.trackRunningStats ? this.runningMean : null,
        runningVar: this.trackRunningStats ? this.runningVar : null,
        momentum: factor,
        eps: this.eps,
      });
    }
    const useRunning = !this.training || this.trackRunningStats;
    return F.batchNorm(x, useRunning ? this.runningMean : null, useRunning ? this.runningVar : null, {
      weight: this.weight,
      bias: this.bias,
      training: this.training || this.runningMean === null,
      momentum: factor,
      eps: this.eps,
    });
  }
}

/**
 * Replaces every BatchNorm1d/2d/3d in `module`'s tree by a SyncBatchNorm over `processGroup` that takes over its
 * tensors (torch.nn.SyncBatchNorm.convert_sync_batchnorm). Returns the module to use from now on: `module` itself,
 * converted in place, or a new SyncBatchNorm when `module` is a batch norm layer.
 */
export function convertSyncBatchNorm(module: Module, processGroup: ProcessGroup | null): Module {
  if (isBatchNorm(module)) return SyncBatchNorm.fromBatchNorm(module, processGroup);
  for (const [name, child] of [...module.namedChildren()]) {
    if (isBatchNorm(child)) module.replaceChild(name, SyncBatchNorm.fromBatchNorm(child, processGroup));
    else if (child instanceof SyncBatchNorm) child.processGroup = processGroup;
    else convertSyncBatchNorm(child, processGroup);
  }
  return module;
}

function isBatchNorm(m: Module): m is AnyBatchNorm {
  return m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof BatchNorm3d;
}
