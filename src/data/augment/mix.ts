/**
 * Batch-level mixing for supervised training (Kaggle 2nd and 4th place used cutmix, the 2nd also mixup;
 * docs/reference-study.md). Both need labels; mixup turns hard labels into soft (Float32) ones.
 *   mixup (Zhang et al. 2018): x = lam * a + (1 - lam) * b, y likewise, lam ~ Beta(alpha, alpha).
 *   cutmix (Yun et al. 2019): a box of area (1 - lam) * H * W (side ratio sqrt(1 - lam), centre uniform, clipped
 *   at the border) is pasted from b into a in every slice; the label box follows, lam is recomputed from the
 *   clipped box as in the reference implementation.
 */
import type { Crop, MixConfig } from './types.js';
import type { Random } from './random.js';
import { checkCrop } from './compose.js';

function samePlane(a: Crop, b: Crop, op: string): void {
  if (a.depth !== b.depth || a.height !== b.height || a.width !== b.width) {
    throw new Error(
      `${op}: crops must have the same shape, got ${a.depth}x${a.height}x${a.width} and ${b.depth}x${b.height}x${b.width}`,
    );
  }
  if (a.label === undefined || b.label === undefined)
    throw new Error(`${op}: both crops need a label (mixing is for supervised training)`);
}

function toFloat(label: Uint8Array | Float32Array): Float32Array {
  if (label instanceof Float32Array) return label.slice();
  // Uint8 labels are 0/1 or 0/255 (docs/data-formats.md): threshold > 0.
  const out = new Float32Array(label.length);
  for (let i = 0; i < label.length; i++) out[i] = (label[i] as number) > 0 ? 1 : 0;
  return out;
}

/** mixup of a with b at weight `lam` (for a); returns a new crop with a Float32 label and the masks' intersection. */
export function mixup(a: Crop, b: Crop, lam: number): Crop {
  checkCrop(a, 'mixup');
  checkCrop(b, 'mixup');
  samePlane(a, b, 'mixup');
  if (!(lam >= 0 && lam <= 1)) throw new Error(`mixup: lambda must be in [0, 1], got ${lam}`);
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = lam * (a.data[i] as number) + (1 - lam) * (b.data[i] as number);
  const la = toFloat(a.label as Uint8Array | Float32Array);
  const lb = toFloat(b.label as Uint8Array | Float32Array);
  for (let i = 0; i < la.length; i++) la[i] = lam * (la[i] as number) + (1 - lam) * (lb[i] as number);
  const out: Crop = { data, depth: a.depth, height: a.height, width: a.width, label: la };
  if (a.mask !== undefined) {
    // A mixed voxel is a measurement only where both crops were valid.
    const mask = a.mask.slice();
    const bm = b.mask;
    if (bm !== undefined) for (let i = 0; i < mask.length; i++) if (!((bm[i] as number) > 0)) mask[i] = 0;
    out.mask = mask;
  }
  return out;
}

export interface CutBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** The CutMix box for `lam`: side ratio sqrt(1 - lam), centre uniform over the plane, clipped to it. */
export function cutmixBox(height: number, width: number, lam: number, rng: Random): CutBox {
  const ratio = Math.sqrt(1 - lam);
  const cw = Math.floor(width * ratio);
  const ch = Math.floor(height * ratio);
  const cx = rng.int(0, width - 1);
  const cy = rng.int(0, height - 1);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return {
    x1: clip(cx - Math.floor(cw / 2), width),
    y1: clip(cy - Math.floor(ch / 2), height),
    x2: clip(cx + Math.floor(cw / 2), width),
    y2: clip(cy + Math.floor(ch / 2), height),
  };
}

/** cutmix: `box` of b pasted into a (all slices, label and mask too); `lam` is the share of a that remains. */
export function cutmix(a: Crop, b: Crop, box: CutBox): { crop: Crop; lam: number } {
  checkCrop(a, 'cutmix');
  checkCrop(b, 'cutmix');
  samePlane(a, b, 'cutmix');
  const { depth, height, width } = a;
  const { x1, y1, x2, y2 } = box;
  if (!(0 <= x1 && x1 <= x2 && x2 <= width && 0 <= y1 && y1 <= y2 && y2 <= height)) {
    throw new Error(`cutmix: box ${JSON.stringify(box)} does not fit ${height}x${width}`);
  }
  const data = a.data.slice();
  const plane = height * width;
  for (let z = 0; z < depth; z++) {
    for (let y = y1; y < y2; y++) {
      const o = z * plane + y * width;
      data.set(b.data.subarray(o + x1, o + x2), o + x1);
    }
  }
  const la = a.label as Uint8Array | Float32Array;
  const lb = b.label as Uint8Array | Float32Array;
  // Hard labels stay hard (a cut is exact); a mix of hard and soft labels becomes soft.
  const bothHard = la instanceof Uint8Array && lb instanceof Uint8Array;
  const label = bothHard ? la.slice() : toFloat(la);
  const from = bothHard ? lb : toFloat(lb);
  for (let y = y1; y < y2; y++) label.set(from.subarray(y * width + x1, y * width + x2), y * width + x1);
  const out: Crop = { data, depth, height, width, label };
  if (a.mask !== undefined) {
    const mask = a.mask.slice();
    const bm = b.mask;
    if (bm !== undefined)
      for (let y = y1; y < y2; y++) mask.set(bm.subarray(y * width + x1, y * width + x2), y * width + x1);
    out.mask = mask;
  }
  const lam = 1 - ((x2 - x1) * (y2 - y1)) / plane;
  return { crop: out, lam };
}

export interface MixResult {
  crops: Crop[];
  /** Per sample: the partner index and the share of the original, or null when the sample was not mixed. */
  mixed: ({ kind: 'cutmix' | 'mixup'; partner: number; lam: number } | null)[];
}

/**
 * Mixes a batch: each sample is paired with the sample at a random permutation index (torch.randperm in the
 * Kaggle code); with probability cutmixP it is cut-mixed, else with probability mixupP mixed up.
 */
export function mixBatch(crops: readonly Crop[], cfg: MixConfig, rng: Random): MixResult {
  const cutP = cfg.cutmixP ?? 0;
  const mixP = cfg.mixupP ?? 0;
  const cutA = cfg.cutmixAlpha ?? 1;
  const mixA = cfg.mixupAlpha ?? 0.4;
  for (const [k, v] of [
    ['cutmixP', cutP],
    ['mixupP', mixP],
  ] as const) {
    if (!(v >= 0 && v <= 1)) throw new Error(`mixBatch: ${k} must be in [0, 1], got ${v}`);
  }
  for (const [k, v] of [
    ['cutmixAlpha', cutA],
    ['mixupAlpha', mixA],
  ] as const) {
    if (!(v > 0)) throw new Error(`mixBatch: ${k} must be > 0, got ${v}`);
  }
  const perm = rng.shuffle(Array.from({ length: crops.length }, (_, i) => i));
  const out: Crop[] = [];
  const mixed: MixResult['mixed'] = [];
  crops.forEach((a, i) => {
    const j = perm[i] as number;
    const b = crops[j] as Crop;
    if (rng.chance(cutP)) {
      const box = cutmixBox(a.height, a.width, rng.beta(cutA, cutA), rng);
      const r = cutmix(a, b, box);
      out.push(r.crop);
      mixed.push({ kind: 'cutmix', partner: j, lam: r.lam });
    } else if (rng.chance(mixP)) {
      const lam = rng.beta(mixA, mixA);
      out.push(mixup(a, b, lam));
      mixed.push({ kind: 'mixup', partner: j, lam });
    } else {
      out.push(a);
      mixed.push(null);
    }
  });
  return { crops: out, mixed };
}
