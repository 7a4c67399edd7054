/**
 * 3D ResNets as in kenshohara's `models/resnet.py` (github.com/kenshohara/3D-ResNets-PyTorch; Hara et al.,
 * "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs and ImageNet?", CVPR 2018): same options, same
 * parameter names (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`, `layer1.0.downsample.0.weight`, `fc.*`),
 * same initialisation (kaiming_normal_ fan_out/relu on every Conv3d, BatchNorm weight 1 and bias 0, PyTorch's
 * default init for `fc`), drawn from the generator in the same order, so `manualSeed(s)` + the same options
 * give PyTorch's weights. Published Kinetics checkpoints load unchanged (see encoder-weights.ts).
 *
 * The reference study's variant (younader/VesuviusPretraining `resnetall.py`, also in younader/Vesuvius-Grandprize-Winner
 * `models/resnetall.py`) is three named options: `maxPool: 'reference'` (kernel (1,3,3), stride (1,2,2), which
 * keeps depth), `globalPool: 'max'` (AdaptiveMaxPool3d, still registered as `avgpool`, which has no
 * parameters, so the keys are unchanged) and `inputNorm: 'instance'` (the InstanceNorm3d(1) the reference study's
 * LightningModule applies before the backbone; parameter-free, so outside the state dict too).
 */
import { formatShape } from '../torch/dtype.js';
import { F, nn, type Tensor, tidy } from '../torch/index.js';
import { BasicBlock, Bottleneck, type BlockClass, makeStage, type ResidualBlock, type ShortcutType } from './blocks.js';

/** Blocks per stage for each depth (kenshohara's `generate_model`). */
export const RESNET3D_LAYERS: Readonly<
  Record<ResNet3DDepth, { block: BlockClass; layers: readonly [number, number, number, number] }>
> = {
  10: { block: BasicBlock, layers: [1, 1, 1, 1] },
  18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  50: { block: Bottleneck, layers: [3, 4, 6, 3] },
  101: { block: Bottleneck, layers: [3, 4, 23, 3] },
  152: { block: Bottleneck, layers: [3, 8, 36, 3] },
  200: { block: Bottleneck, layers: [3, 24, 36, 3] },
};
export const RESNET3D_DEPTHS = [10, 18, 34, 50, 101, 152, 200] as const;
export type ResNet3DDepth = (typeof RESNET3D_DEPTHS)[number];

/** kenshohara's `get_inplanes()`: stage widths before the widen factor. */
const BASE_PLANES = [64, 128, 256, 512] as const;

export interface ResNet3DOptions {
  depth: ResNet3DDepth;
  /** Input channels (kenshohara: n_input_channels, default 3 for RGB video; here 1, a CT volume). */
  inChannels?: number;
  /** Temporal kernel of conv1 (conv1_t_size, default 7); spatial kernel is always 7. */
  conv1TSize?: number;
  /** Temporal stride of conv1 (conv1_t_stride, default 1); spatial stride is always 2. */
  conv1TStride?: number;
  /** Skip the max pool after the stem (no_max_pool; the Kaggle 4th place did). */
  noMaxPool?: boolean;
  /** 'kenshohara': MaxPool3d(3, 2, 1); 'reference': MaxPool3d((1,3,3), (1,2,2), (0,1,1)), which keeps depth. */
  maxPool?: 'kenshohara' | 'reference';
  /** Global pool before fc, registered as `avgpool` either way: 'avg' (kenshohara) or 'max' (the reference study). */
  globalPool?: 'avg' | 'max';
  /** 'instance': InstanceNorm3d (no affine, no running stats) on the input, as the reference study's model does. */
  inputNorm?: 'none' | 'instance';
  shortcut?: ShortcutType;
  /** Multiplies the stage widths 64/128/256/512 (kenshohara: int(x * widen_factor)). */
  widenFactor?: number;
  /** Classifier `fc` on the pooled features (n_classes); null (default) = no head, forward gives the pooled features. */
  numClasses?: number | null;
  /** Name used in error messages (the registry passes the architecture name). */
  name?: string;
}

export type StageName = 'stem' | 'layer1' | 'layer2' | 'layer3' | 'layer4';
export const STAGES: readonly StageName[] = ['stem', 'layer1', 'layer2', 'layer3', 'layer4'];

/** Outputs of every stage: `stem` is conv1-bn1-relu (before the max pool, at 1/2 resolution in H and W). */
export type StageFeatures = Record<StageName, Tensor>;

type Axis = { kernel: number; stride: number; padding: number };

export class ResNet3D extends nn.Module {
  readonly conv1: nn.Conv3d;
  readonly bn1: nn.BatchNorm3d;
  readonly layer1: nn.Sequential;
  readonly layer2: nn.Sequential;
  readonly layer3: nn.Sequential;
  readonly layer4: nn.Sequential;
  readonly fc: nn.Linear | null;
  readonly options: Readonly<Required<Omit<ResNet3DOptions, 'numClasses'>>> & { numClasses: number | null };
  readonly block: BlockClass;
  /** Channels of each stage's output. */
  readonly channels: Readonly<Record<StageName, number>>;
  /** Size of the pooled feature vector (layer4's channels). */
  readonly featureDim: number;

  constructor(opts: ResNet3DOptions) {
    super();
    const spec = RESNET3D_LAYERS[opts.depth];
    if (!spec)
      throw new Error(`ResNet3D: depth must be one of ${RESNET3D_DEPTHS.join(', ')}, got ${String(opts.depth)}`);
    const o = {
      depth: opts.depth,
      inChannels: opts.inChannels ?? 1,
      conv1TSize: opts.conv1TSize ?? 7,
      conv1TStride: opts.conv1TStride ?? 1,
      noMaxPool: opts.noMaxPool ?? false,
      maxPool: opts.maxPool ?? 'kenshohara',
      globalPool: opts.globalPool ?? 'avg',
      inputNorm: opts.inputNorm ?? 'none',
      shortcut: opts.shortcut ?? 'B',
      widenFactor: opts.widenFactor ?? 1,
      numClasses: opts.numClasses ?? null,
      name: opts.name ?? `resnet3d-${opts.depth}`,
    } as const;
    const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
    for (const [k, v] of [
      ['inChannels', o.inChannels],
      ['conv1TSize', o.conv1TSize],
      ['conv1TStride', o.conv1TStride],
    ] as const) {
      if (!positiveInt(v)) throw new Error(`ResNet3D(${o.name}): ${k} must be a positive integer, got ${v}`);
    }
    if (o.numClasses !== null && !positiveInt(o.numClasses))
      throw new Error(`ResNet3D(${o.name}): numClasses must be a positive integer or null, got ${o.numClasses}`);
    if (o.shortcut !== 'A' && o.shortcut !== 'B')
      throw new Error(`ResNet3D(${o.name}): shortcut must be 'A' or 'B', got '${String(o.shortcut)}'`);
    const planes = BASE_PLANES.map((p) => Math.trunc(p * o.widenFactor));
    if (!(o.widenFactor > 0) || planes.some((p) => p < 1)) {
      throw new Error(
        `ResNet3D(${o.name}): widenFactor ${o.widenFactor} leaves stage widths [${planes.join(',')}]; every width must be >= 1`,
      );
    }
    this.options = o;
    this.block = spec.block;
    const [p1, p2, p3, p4] = planes as [number, number, number, number];

    // Construction order = PyTorch's (conv1, bn1, layer1..4 with each downsample before its block, fc), so the
    // default initialisers draw in the same order; the kaiming pass below then follows self.modules() order.
    this.conv1 = this.registerModule(
      'conv1',
      new nn.Conv3d(o.inChannels, p1, [o.conv1TSize, 7, 7], {
        stride: [o.conv1TStride, 2, 2],
        padding: [Math.floor(o.conv1TSize / 2), 3, 3],
        bias: false,
      }),
    );
    this.bn1 = this.registerModule('bn1', new nn.BatchNorm3d(p1));
    const e = spec.block.expansion;
    this.layer1 = this.registerModule('layer1', makeStage(spec.block, p1, p1, spec.layers[0], o.shortcut, 1));
    this.layer2 = this.registerModule('layer2', makeStage(spec.block, p1 * e, p2, spec.layers[1], o.shortcut, 2));
    this.layer3 = this.registerModule('layer3', makeStage(spec.block, p2 * e, p3, spec.layers[2], o.shortcut, 2));
    this.layer4 = this.registerModule('layer4', makeStage(spec.block, p3 * e, p4, spec.layers[3], o.shortcut, 2));
    this.featureDim = p4 * e;
    this.fc = o.numClasses === null ? null : this.registerModule('fc', new nn.Linear(this.featureDim, o.numClasses));
    this.channels = { stem: p1, layer1: p1 * e, layer2: p2 * e, layer3: p3 * e, layer4: p4 * e };

    for (const [, m] of this.namedModules()) {
      if (m instanceof nn.Conv3d) nn.init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof nn.BatchNorm3d) {
        nn.init.constant_(m.weight!, 1);
        nn.init.constant_(m.bias!, 0);
      }
    }
  }

  get name(): string {
    return this.options.name;
  }

  get hasMaxPool(): boolean {
    return !this.options.noMaxPool;
  }

  /** The downsampling steps along each axis [D, H, W], stem to layer4, for shape arithmetic. */
  #axes(): Axis[][] {
    const o = this.options;
    const mp = !this.hasMaxPool
      ? null
      : o.maxPool === 'reference'
        ? [
            { kernel: 1, stride: 1, padding: 0 },
            { kernel: 3, stride: 2, padding: 1 },
            { kernel: 3, stride: 2, padding: 1 },
          ]
        : [
            { kernel: 3, stride: 2, padding: 1 },
            { kernel: 3, stride: 2, padding: 1 },
            { kernel: 3, stride: 2, padding: 1 },
          ];
    const stem: Axis[] = [
      { kernel: o.conv1TSize, stride: o.conv1TStride, padding: Math.floor(o.conv1TSize / 2) },
      { kernel: 7, stride: 2, padding: 3 },
      { kernel: 7, stride: 2, padding: 3 },
    ];
    const down: Axis = { kernel: 3, stride: 2, padding: 1 };
    return [0, 1, 2].map((a) => [stem[a]!, ...(mp ? [mp[a]!] : []), down, down, down]);
  }

  /**
   * Output size [D, H, W] of each stage for an input of size `dhw`. The stem entry is before the max pool;
   * layer1 is after it.
   */
  stageSizes(dhw: readonly number[]): Record<StageName, number[]> {
    const axes = this.#axes();
    const out: Record<StageName, number[]> = { stem: [], layer1: [], layer2: [], layer3: [], layer4: [] };
    const names: StageName[] = this.hasMaxPool
      ? ['stem', 'layer1', 'layer2', 'layer3', 'layer4']
      : ['stem', 'layer2', 'layer3', 'layer4'];
    for (let a = 0; a < 3; a++) {
      let s = dhw[a]!;
      axes[a]!.forEach((step, i) => {
        s = Math.floor((s + 2 * step.padding - step.kernel) / step.stride) + 1;
        out[names[i]!].push(s);
      });
    }
    if (!this.hasMaxPool) out.layer1 = [...out.stem];
    return out;
  }

  /** Total stride of each stage relative to the input, [D, H, W]. */
  stageStrides(): Record<StageName, number[]> {
    const axes = this.#axes();
    const names: StageName[] = this.hasMaxPool
      ? ['stem', 'layer1', 'layer2', 'layer3', 'layer4']
      : ['stem', 'layer2', 'layer3', 'layer4'];
    const out: Record<StageName, number[]> = { stem: [], layer1: [], layer2: [], layer3: [], layer4: [] };
    for (let a = 0; a < 3; a++) {
      let s = 1;
      axes[a]!.forEach((step, i) => {
        s *= step.stride;
        out[names[i]!].push(s);
      });
    }
    if (!this.hasMaxPool) out.layer1 = [...out.stem];
    return out;
  }

  /**
   * Smallest input [D, H, W] this network takes: every strided step (stem conv, max pool, first block of
   * layer2..4) must receive at least 2 positions along each axis it strides, otherwise that stage stops
   * downsampling, layer4 shrinks to a single voxel made mostly of padding, and batch norm in training sees one
   * value per channel for a batch of one.
   */
  minInputSize(): number[] {
    return this.#axes().map((steps) => {
      for (let size = 1; size < 1 << 20; size++) {
        let s = size;
        let ok = true;
        for (const step of steps) {
          if (step.stride > 1 && s < 2) {
            ok = false;
            break;
          }
          s = Math.floor((s + 2 * step.padding - step.kernel) / step.stride) + 1;
          if (s < 1) {
            ok = false;
            break;
          }
        }
        if (ok) return size;
      }
      throw new Error(`ResNet3D(${this.name}): no input size fits this network`);
    });
  }

  /** Throws a clear error unless `x` is [N, inChannels, D, H, W] with D, H, W at least minInputSize(). */
  checkInput(x: Tensor, op = 'forward'): void {
    const where = `${this.name}.${op}`;
    const c = this.options.inChannels;
    if (x.rank !== 5) {
      throw new Error(
        `${where}: input must be rank 5 [N,${c},D,H,W], got rank ${x.rank} ${formatShape(x.shape)}${x.rank === 4 ? ' (add the channel axis: x.unsqueeze(1))' : ''}`,
      );
    }
    if (x.shape[1] !== c)
      throw new Error(
        `${where}: input ${formatShape(x.shape)} has ${x.shape[1]} channels, this network takes ${c} (inChannels)`,
      );
    if (!x.isFloatingPoint())
      throw new Error(`${where}: input must be floating point, got ${x.dtype} (convert with .float())`);
    const min = this.minInputSize();
    const dhw = x.shape.slice(2);
    if (dhw.some((s, i) => s < min[i]!)) {
      throw new Error(
        `${where}: input ${formatShape(x.shape)} is too small for this network: D,H,W = ${dhw.join(',')}, minimum ${min.join(',')} ` +
          `(total stride D,H,W = ${this.stageStrides().layer4.join(',')}; each strided stage needs at least 2 positions to downsample)`,
      );
    }
  }

  /** conv1-bn1-relu on the (optionally instance-normalised) input: the `stem` feature. */
  #stem(x: Tensor): Tensor {
    return tidy(() => {
      const input = this.options.inputNorm === 'instance' ? F.instanceNorm(x) : x;
      return F.relu(this.bn1.forward(this.conv1.forward(input)));
    });
  }

  #maxPool(x: Tensor): Tensor {
    if (!this.hasMaxPool) return x;
    return this.options.maxPool === 'reference'
      ? F.maxPool3d(x, [1, 3, 3], { stride: [1, 2, 2], padding: [0, 1, 1] })
      : F.maxPool3d(x, 3, { stride: 2, padding: 1 });
  }

  /** Runs one stage block by block, freeing each intermediate block output as soon as it has been consumed. */
  #stage(layer: nn.Sequential, x: Tensor): Tensor {
    let y = x;
    for (const block of layer.layers) {
      const next = (block as ResidualBlock).forward(y);
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  }

  /**
   * Stage outputs from the stem up to `upTo` (default layer4), for decoders, CKA and probes. Later stages are
   * not computed. Each returned tensor belongs to the caller's scope.
   */
  forwardFeatures(x: Tensor, opts: { upTo?: StageName } = {}): Partial<StageFeatures> & Pick<StageFeatures, 'stem'> {
    this.checkInput(x, 'forwardFeatures');
    const last = STAGES.indexOf(opts.upTo ?? 'layer4');
    if (last < 0)
      throw new Error(
        `${this.name}.forwardFeatures: upTo must be one of ${STAGES.join(', ')}, got '${String(opts.upTo)}'`,
      );
    const stem = this.#stem(x);
    const out: Partial<StageFeatures> & Pick<StageFeatures, 'stem'> = { stem };
    if (last === 0) return out;
    const pooled = this.#maxPool(stem);
    const layers = [this.layer1, this.layer2, this.layer3, this.layer4];
    let y = pooled;
    for (let i = 0; i < last; i++) {
      const next = this.#stage(layers[i]!, y);
      if (i === 0 && pooled !== stem) pooled.dispose();
      out[STAGES[i + 1]!] = next;
      y = next;
    }
    return out;
  }

  /** All five stage outputs. */
  stageFeatures(x: Tensor): StageFeatures {
    return this.forwardFeatures(x) as StageFeatures;
  }

  /** The globally pooled layer4 features [N, featureDim] (what `fc` sees). */
  pooledFeatures(x: Tensor): Tensor {
    this.checkInput(x, 'pooledFeatures');
    return tidy(() => this.#pool(this.#trunk(x)));
  }

  #trunk(x: Tensor): Tensor {
    const stem = this.#stem(x);
    let y = this.#maxPool(stem);
    if (y !== stem) stem.dispose();
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) {
      const next = this.#stage(layer, y);
      y.dispose();
      y = next;
    }
    return y;
  }

  #pool(x: Tensor): Tensor {
    const p = this.options.globalPool === 'max' ? F.adaptiveMaxPool3d(x, 1) : F.adaptiveAvgPool3d(x, 1);
    return p.flatten(1);
  }

  /** fc(pooled features) when the network has a head, else the pooled features. */
  forward(x: Tensor): Tensor {
    this.checkInput(x, 'forward');
    return tidy(() => {
      const pooled = this.#pool(this.#trunk(x));
      return this.fc ? this.fc.forward(pooled) : pooled;
    });
  }

  /** One line: architecture, blocks, widths, options and parameter count. */
  describe(): string {
    const o = this.options;
    const spec = RESNET3D_LAYERS[o.depth];
    const parts = [
      `${o.name}: ${this.block.blockName} x [${spec.layers.join(',')}]`,
      `widths ${Object.values(this.channels).join('/')}`,
      `in ${o.inChannels}`,
      `conv1 t${o.conv1TSize}/s${o.conv1TStride}`,
      o.noMaxPool ? 'no max pool' : `max pool ${o.maxPool === 'reference' ? '(1,3,3)/(1,2,2)' : '3/2'}`,
      `${o.globalPool} pool`,
      `shortcut ${o.shortcut}`,
      ...(o.inputNorm === 'instance' ? ['instance-norm input'] : []),
      o.numClasses === null ? 'no head' : `fc ${this.featureDim}->${o.numClasses}`,
      `${(this.parameterCount() / 1e6).toFixed(2)} M params`,
    ];
    return parts.join(', ');
  }
}
