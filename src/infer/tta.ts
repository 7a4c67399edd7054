/**
 * Test-time augmentation for tile predictions: the transforms (flips, quarter turns), and the batch prediction that
 * averages the model's probabilities over them, each transformed back first.
 */
import { performance } from 'node:perf_hooks';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { formatShape } from '../torch/dtype.js';
import type { Blend } from './stitch.js';

export type TTA = 'none' | 'rot90' | 'flips' | 'rot90+flips';
export const TTA_MODES: readonly TTA[] = ['none', 'rot90', 'flips', 'rot90+flips'];
export type BlendMode = Blend['mode'];

/** What inference needs of a model: [N,1,D,T,T] -> logits [N,1,t,t] (t = T, or smaller for reduced output). */
export interface TileModel {
  forward(x: Tensor): Tensor;
}

/** One test-time transform: flip the listed spatial axes, then rotate by k quarter turns (H towards W). */
export interface TtaTransform {
  k: number;
  flipH: boolean;
  flipW: boolean;
}

export function ttaTransforms(tta: TTA): TtaTransform[] {
  const t = (k: number, flipH: boolean, flipW: boolean): TtaTransform => ({ k, flipH, flipW });
  switch (tta) {
    case 'none':
      return [t(0, false, false)];
    case 'rot90':
      return [0, 1, 2, 3].map((k) => t(k, false, false));
    case 'flips':
      return [t(0, false, false), t(0, false, true), t(0, true, false), t(0, true, true)];
    case 'rot90+flips':
      return [0, 1, 2, 3].flatMap((k) => [t(k, false, false), t(k, false, true)]);
    default:
      throw new Error(`tta must be one of ${TTA_MODES.join(', ')}, got '${String(tta)}'`);
  }
}

/** Applies `tr` to the last two axes of `x` (forward), or undoes it (inverse). */
function transform(x: Tensor, tr: TtaTransform, inverse: boolean): Tensor {
  const h = x.rank - 2;
  const w = x.rank - 1;
  const dims = [...(tr.flipH ? [h] : []), ...(tr.flipW ? [w] : [])];
  if (!inverse) {
    const f = dims.length > 0 ? torch.flip(x, dims) : x;
    return tr.k % 4 === 0 ? f : torch.rot90(f, tr.k, [h, w]);
  }
  const r = tr.k % 4 === 0 ? x : torch.rot90(x, -tr.k, [h, w]);
  return dims.length > 0 ? torch.flip(r, dims) : r;
}

export interface PredictTimings {
  /** Time inside model.forward. */
  model_ms: number;
  /** TTA transforms, sigmoid, averaging, resizing to the tile and copying out. */
  post_ms: number;
}

/**
 * Probabilities of a batch `x` [N,1,D,T,T] as one Float32Array [N,T,T]: sigmoid of the model's logits,
 * averaged over the TTA transforms (each prediction transformed back first) and resized bilinearly
 * (align_corners=false) from the model's output grid to the tile when the model predicts at reduced resolution.
 */
export function predictTiles(model: TileModel, x: Tensor, tta: TTA = 'none', timings?: PredictTimings): Float32Array {
  if (x.rank !== 5 || x.shape[3] !== x.shape[4])
    throw new Error(`predictTiles: expected a batch of square tiles [N,1,D,T,T], got ${formatShape(x.shape)}`);
  const n = x.shape[0]!;
  const T = x.shape[3]!;
  const transforms = ttaTransforms(tta);
  const start = performance.now();
  let modelMs = 0;
  const out = torch.noGrad(() =>
    torch.tidy(() => {
      let acc: Tensor | null = null;
      for (const tr of transforms) {
        const xt = transform(x, tr, false);
        const t0 = performance.now();
        const logits = model.forward(xt);
        modelMs += performance.now() - t0;
        const s = logits.shape;
        if (logits.rank !== 4 || s[0] !== n || s[1] !== 1 || s[2] !== s[3] || s[2]! > T) {
          throw new Error(
            `predictTiles: the model turned input ${formatShape(xt.shape)} into ${formatShape(s)}, expected logits [${n},1,t,t] with t <= ${T}`,
          );
        }
        const p = transform(logits.sigmoid(), tr, true);
        acc = acc === null ? p : acc.add(p);
      }
      let mean = transforms.length > 1 ? acc!.div(transforms.length) : acc!;
      if (mean.shape[2] !== T)
        mean = torch.F.interpolate(mean, { size: [T, T], mode: 'bilinear', alignCorners: false });
      return mean.toFloat32Array();
    }),
  );
  if (timings) {
    timings.model_ms += modelMs;
    timings.post_ms += performance.now() - start - modelMs;
  }
  return out;
}
