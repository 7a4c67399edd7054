/**
 * A trained segmentation model (the reference study's frozen encoder + U-Net decoder, or a fine-tuned model)
 * scored like the probes: ink probabilities at the same sampled pixels of the same cached tiles, upsampled to
 * the label resolution when the model predicts at 1/2 or 1/4, with the threshold chosen on a validation
 * fragment and the scores kept per tile for the bootstrap.
 */
import { bestThreshold } from '../eval/metrics.js';
import type { SegmentationModel } from '../models/decoders.js';
import * as torch from '../torch/index.js';
import { type Device, F } from '../torch/index.js';
import { loadSegmentationModel } from '../train/segmentation-checkpoint.js';
import { pixelRows, tileBatches, type ProbeTiles } from './columns.js';
import type { ArmRun } from './scoring.js';

/**
 * Ink probabilities of the model at each tile's sampled pixels, concatenated, with each pixel's tile. The model
 * runs on `device` (default the CPU; it is moved there) in float32, as the probes' features are computed.
 */
export function segmentationScores(
  model: SegmentationModel,
  tiles: ProbeTiles,
  o: { batch?: number; device?: Device } = {},
): { scores: Float32Array; labels: Uint8Array; tileOf: Int32Array } {
  const { depth: D, tile: T } = tiles;
  const device = o.device ?? 'cpu';
  const { count, labels, tileOf, firstRow } = pixelRows(tiles);
  const scores = new Float32Array(count);
  model.eval();
  model.to(device);
  for (const { t0, n, input } of tileBatches(tiles, o.batch ?? 8)) {
    const prob = torch.tidy(() =>
      torch.noGrad(() => {
        const logits = model.forward(torch.fromTypedArray(input, [n, 1, D, T, T]).to(device));
        const full =
          logits.shape[2] === T
            ? logits
            : F.interpolate(logits, { size: [T, T], mode: 'bilinear', alignCorners: false });
        return full.sigmoid().toTypedArray() as Float32Array;
      }),
    );
    for (let j = 0; j < n; j++) {
      const px = tiles.pixels[t0 + j]!;
      const row = firstRow[t0 + j]!;
      for (let k = 0; k < px.length; k++) scores[row + k] = prob[j * T * T + px[k]!]!;
    }
  }
  return { scores, labels, tileOf };
}

/** A segmentation checkpoint's run: threshold from `val`, scores on `test`, the model on `device` (default cpu). */
export async function segmentationRun(
  checkpoint: string,
  val: ProbeTiles,
  test: ProbeTiles,
  seed: number,
  fold: number,
  device: Device = 'cpu',
): Promise<ArmRun> {
  const { model } = await loadSegmentationModel(checkpoint);
  try {
    const v = segmentationScores(model, val, { device });
    const threshold = bestThreshold(v.scores, v.labels).threshold;
    return { seed, fold, threshold, ...segmentationScores(model, test, { device }) };
  } finally {
    model.dispose();
  }
}
