/**
 * Masked reconstruction, the non-contrastive alternative the reference study's write-up closes with ("there are also
 * other pretraining techniques to try than contrastive learning"): hide random 3D blocks of the input,
 * encode the rest, reconstruct the volume through a light decoder, and score only the hidden voxels, as
 * masked image modelling does (MAE, He et al. 2022, arXiv 2111.06377, Sec. 3: "we compute the loss only on
 * masked patches"; SimMIM, Xie et al. 2022, arXiv 2111.09886: random masking of blocks, a light prediction
 * head, an l-p loss on the masked pixels). Hidden voxels are filled with a constant (0), which suits CNN
 * encoders (no mask token).
 *
 * What it needs of the encoder: a feature map [N,C,d,h,w] for input [N,Cin,D,H,W] (any d,h,w; the decoder
 * resizes to D,H,W), and C as `featureDim`. An encoder whose forward pools gives its map through the
 * `featureMap` option, e.g. for src/models' ResNet3D (featureDim = net.featureDim):
 * `featureMap: (enc, x) => (enc as ResNet3D).forwardFeatures(x, { upTo: 'layer4' }).layer4!`.
 */
import { formatShape } from '../torch/dtype.js';
import { BatchNorm3d, Conv3d, ReLU, Sequential } from '../torch/nn/layers.js';
import { Module } from '../torch/nn/module.js';
import { rand } from '../torch/ops/creation.js';
import * as F from '../torch/ops/functional.js';
import { sort } from '../torch/ops/shape.js';
import { tidy } from '../torch/scope.js';
import type { Device, Tensor } from '../torch/tensor.js';
import { checkRange } from './checks.js';
import { SslModules, type SslStepOutput, StatelessSslMethod } from './method.js';

export interface BlockMaskOptions {
  /** Edge of the hidden blocks in voxels, one number or [depth, height, width] (default [4, 16, 16]). */
  blockSize?: number | readonly [number, number, number];
  /** Fraction of blocks hidden in every sample, in (0, 1] (default 0.5); at least one block is hidden. */
  ratio?: number;
}

export const MASK_DEFAULTS = Object.freeze({ blockSize: [4, 16, 16] as const, ratio: 0.5 });

function blockEdges(fn: string, b: BlockMaskOptions['blockSize']): [number, number, number] {
  const e = b === undefined ? [...MASK_DEFAULTS.blockSize] : typeof b === 'number' ? [b, b, b] : [...b];
  if (e.length !== 3 || e.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`${fn}: blockSize must be a positive integer or three of them [d,h,w], got ${JSON.stringify(b)}`);
  }
  return e as [number, number, number];
}

/**
 * A random block mask for inputs of shape [N,C,D,H,W]: float32 [N,1,D,H,W], 1 where a voxel is hidden.
 * The volume is tiled by blocks (the last ones cropped at the border) and round(ratio * blocks) of them,
 * chosen independently per sample, are hidden. Draws from torch's generator (torch.manualSeed reproduces it).
 */
export function randomBlockMask(shape: readonly number[], opts: BlockMaskOptions & { device?: Device } = {}): Tensor {
  if (shape.length !== 5 || shape.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new Error(
      `randomBlockMask: expected an input shape [N,C,D,H,W] of positive sizes, got ${JSON.stringify(shape)}`,
    );
  }
  const [bd, bh, bw] = blockEdges('randomBlockMask', opts.blockSize);
  const ratio = opts.ratio ?? MASK_DEFAULTS.ratio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio <= 1))
    throw new Error(`randomBlockMask: ratio must be in (0, 1], got ${String(ratio)}`);
  const [n, , d, h, w] = shape as [number, number, number, number, number];
  const [gd, gh, gw] = [Math.ceil(d / bd), Math.ceil(h / bh), Math.ceil(w / bw)];
  const blocks = gd * gh * gw;
  const k = Math.min(blocks, Math.max(1, Math.round(ratio * blocks)));
  return tidy(() => {
    const noise = rand([n, blocks], opts.device ? { device: opts.device } : {});
    // The k smallest noise values of each row are hidden: threshold at the k-th order statistic.
    const [sorted, order] = sort(noise, 1);
    order.dispose();
    const kth = sorted.select(1, k - 1).unsqueeze(1);
    const hidden = noise.le(kth).to('float32').view([n, 1, gd, 1, gh, 1, gw, 1]);
    const voxels = hidden.expand([n, 1, gd, bd, gh, bh, gw, bw]).reshape([n, 1, gd * bd, gh * bh, gw * bw]);
    return voxels.slice(2, 0, d).slice(3, 0, h).slice(4, 0, w).contiguous();
  });
}

/**
 * Mean squared error over the hidden voxels only: sum(mask * (pred - target)^2) / (number of hidden
 * voxels x channels). `pred`, `target` [N,C,...]; `mask` [N,1,...] or [N,C,...] with 1 = hidden, 0 = visible
 * (float or bool). `target` is detached. With nothing hidden the loss is 0.
 */
export function maskedReconstructionLoss(pred: Tensor, target: Tensor, mask: Tensor): Tensor {
  const fn = 'maskedReconstructionLoss';
  if (pred.rank < 3 || pred.rank !== target.rank || pred.shape.some((s, i) => s !== target.shape[i])) {
    throw new Error(
      `${fn}: pred ${formatShape(pred.shape)} and target ${formatShape(target.shape)} must have the same shape [N,C,...spatial]`,
    );
  }
  const c = pred.shape[1]!;
  if (
    mask.rank !== pred.rank ||
    mask.shape[0] !== pred.shape[0] ||
    (mask.shape[1] !== 1 && mask.shape[1] !== c) ||
    mask.shape.slice(2).some((s, i) => s !== pred.shape[i + 2])
  ) {
    throw new Error(
      `${fn}: mask ${formatShape(mask.shape)} must be [${pred.shape[0]},1,${pred.shape.slice(2).join(',')}] or ${formatShape(pred.shape)} for pred ${formatShape(pred.shape)}`,
    );
  }
  return tidy(() => {
    const m = mask.dtype === pred.dtype ? mask : mask.to(pred.dtype);
    const sq = pred.sub(target.detach()).square().mul(m).sum();
    const count = m
      .sum()
      .mul(mask.shape[1] === 1 ? c : 1)
      .clamp(1);
    return sq.div(count);
  });
}

export interface LightDecoderOptions {
  /** Channels of the decoder (default 16). */
  hidden?: number;
  /** Channels reconstructed (the input's, default 1). */
  outChannels?: number;
  /** A 3x3x3 Conv-BN-ReLU at full resolution after upsampling (default true). */
  refine?: boolean;
}

/**
 * A light 3D decoder from an encoder's feature map to the input volume: 1x1x1 Conv-BN-ReLU to `hidden`
 * channels, trilinear upsampling to the input size, an optional 3x3x3 Conv-BN-ReLU, and a 1x1x1 Conv to
 * `outChannels`. `forward(features, input)` takes the size from `input` [N,C,D,H,W].
 */
export class LightDecoder3d extends Module {
  readonly reduce: Sequential;
  readonly refine: Sequential | null;
  readonly head: Conv3d;
  constructor(
    readonly inChannels: number,
    opts: LightDecoderOptions = {},
  ) {
    super();
    const hidden = opts.hidden ?? 16;
    const out = opts.outChannels ?? 1;
    for (const [k, v] of [
      ['inChannels', inChannels],
      ['hidden', hidden],
      ['outChannels', out],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`LightDecoder3d: ${k} must be a positive integer, got ${String(v)}`);
    }
    this.reduce = this.registerModule(
      'reduce',
      new Sequential(new Conv3d(inChannels, hidden, 1, { bias: false }), new BatchNorm3d(hidden), new ReLU()),
    );
    this.refine =
      (opts.refine ?? true)
        ? this.registerModule(
            'refine',
            new Sequential(
              new Conv3d(hidden, hidden, 3, { padding: 1, bias: false }),
              new BatchNorm3d(hidden),
              new ReLU(),
            ),
          )
        : null;
    this.head = this.registerModule('head', new Conv3d(hidden, out, 1));
  }

  forward(features: Tensor, input?: Tensor): Tensor {
    if (!input)
      throw new Error(
        'LightDecoder3d.forward: give the input volume as the second argument (its size is the output size)',
      );
    if (features.rank !== 5 || features.shape[1] !== this.inChannels) {
      throw new Error(
        `LightDecoder3d: features must be [N,${this.inChannels},d,h,w], got ${formatShape(features.shape)}`,
      );
    }
    if (input.rank !== 5 || input.shape[0] !== features.shape[0]) {
      throw new Error(
        `LightDecoder3d: input must be [N,C,D,H,W] with N = ${features.shape[0]}, got ${formatShape(input.shape)}`,
      );
    }
    return tidy(() => {
      let y = this.reduce.forward(features);
      const size = input.shape.slice(2);
      if (y.shape.slice(2).some((s, i) => s !== size[i]))
        y = F.interpolate(y, { size, mode: 'trilinear', alignCorners: false });
      if (this.refine) y = this.refine.forward(y);
      return this.head.forward(y);
    });
  }
}

export interface MaskedMethodOptions {
  /** The encoder; it (or `featureMap`) must give a feature map [N,C,d,h,w]. */
  encoder: Module;
  /** `forward(features, input)` -> reconstruction shaped like the input (e.g. LightDecoder3d). */
  decoder: Module;
  /** Feature map of `x` (default `encoder.forward(x)`), for encoders whose forward pools. */
  featureMap?: (encoder: Module, x: Tensor) => Tensor;
  mask?: BlockMaskOptions;
  /** Value written into hidden voxels (default 0). */
  fillValue?: number;
  /** Reconstruct both views (default, the same compute as the two-view methods) or only the first. */
  views?: 'both' | 'first';
}

/** Masked reconstruction as an SslMethod; `step(view1, view2)` masks each view independently. */
export class MaskedMethod extends StatelessSslMethod {
  readonly name = 'masked' as const;
  readonly maskOptions: Readonly<BlockMaskOptions>;
  readonly fillValue: number;
  readonly views: 'both' | 'first';
  readonly #featureMap: (encoder: Module, x: Tensor) => Tensor;

  constructor(o: MaskedMethodOptions) {
    super('MaskedMethod', new SslModules({ encoder: o.encoder, decoder: o.decoder }));
    blockEdges('MaskedMethod', o.mask?.blockSize);
    if (o.mask?.ratio !== undefined) checkRange('MaskedMethod', 'mask ratio', o.mask.ratio, Number.MIN_VALUE, 1);
    this.maskOptions = Object.freeze({ ...o.mask });
    this.fillValue = o.fillValue ?? 0;
    checkRange('MaskedMethod', 'fillValue', this.fillValue, -Number.MAX_VALUE, Number.MAX_VALUE);
    this.views = o.views ?? 'both';
    this.#featureMap = o.featureMap ?? ((enc, x) => enc.forward(x));
  }

  /** Masks `x`, encodes and decodes it: the reconstruction, the mask and the feature map. */
  reconstruct(x: Tensor): { reconstruction: Tensor; mask: Tensor; features: Tensor } {
    if (x.rank !== 5) throw new Error(`MaskedMethod: views must be [N,C,D,H,W], got ${formatShape(x.shape)}`);
    return tidy(() => {
      const mask = randomBlockMask(x.shape, { ...this.maskOptions, device: x.device });
      let visible = x.mul(mask.neg().add(1));
      if (this.fillValue !== 0) visible = visible.add(mask.mul(this.fillValue));
      const features = this.#featureMap(this.modules.get('encoder'), visible);
      if (features.rank !== 5 || features.shape[0] !== x.shape[0]) {
        throw new Error(
          `MaskedMethod: the encoder must give a feature map [N,C,d,h,w] for input ${formatShape(x.shape)}, got ${formatShape(features.shape)} (pass featureMap for a pooling encoder)`,
        );
      }
      const reconstruction = this.modules.get('decoder').forward(features, x);
      if (reconstruction.rank !== x.rank || reconstruction.shape.some((s, i) => s !== x.shape[i])) {
        throw new Error(
          `MaskedMethod: the decoder must reconstruct the input's shape ${formatShape(x.shape)}, got ${formatShape(reconstruction.shape)}`,
        );
      }
      return { reconstruction, mask, features };
    });
  }

  step(view1: Tensor, view2: Tensor): SslStepOutput {
    return tidy(() => {
      const views = this.views === 'both' ? [view1, view2] : [view1];
      const parts = views.map((v) => {
        const r = this.reconstruct(v);
        return {
          loss: maskedReconstructionLoss(r.reconstruction, v, r.mask),
          hidden: r.mask.mean(),
          features: r.features,
        };
      });
      const first = parts[0]!;
      const loss = parts.length === 2 ? first.loss.add(parts[1]!.loss).mul(0.5) : first.loss;
      const terms: Record<string, Tensor> = { reconstruction: loss.detach(), hiddenFraction: first.hidden };
      parts.forEach((p, i) => {
        terms[`view${i + 1}`] = p.loss.detach();
      });
      const embeddings = F.adaptiveAvgPool3d(first.features.detach(), 1).flatten(1);
      return { loss, terms, embeddings };
    });
  }
}
