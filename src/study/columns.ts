/**
 * Frozen features as a probe's cached input (docs/study-design.md): tiles of a labelled fragment are read once,
 * a seeded sample of valid pixels is drawn per tile, and every encoder's per-voxel features are gathered at those
 * pixels as depth columns [channels, depth], computed once per encoder and reused by every fit of the sweep.
 * Stage features are trilinearly resampled to the input's depth and to the label resolution (PyTorch's
 * align_corners=False convention), so a stage at 1/2 or 1/4 resolution is read where its logits would be
 * upsampled to (a linear head commutes with linear interpolation), and several stages concatenate ("+ms", DINOv2).
 */
import { createSource, type TileDatasetSpec } from '../data/dataset-tile-source.js';
import { createRng } from '../data/rng.js';
import type { ResNet3D, StageName } from '../models/resnet3d.js';
import { STAGES } from '../models/resnet3d.js';
import * as torch from '../torch/index.js';
import type { Device } from '../torch/index.js';

/** The sampled pixels of one fragment's tiles, with their images kept for feature extraction. */
export interface ProbeTiles {
  fragment: string;
  tile: number;
  depth: number;
  /** Per tile: the [depth, tile, tile] input as the models see it (values / 255). */
  images: Float32Array[];
  /** Per tile: sampled pixel indices (y * tile + x) inside the valid region. */
  pixels: Int32Array[];
  /** Per tile: ink label (0/1) of each sampled pixel. */
  labels: Uint8Array[];
}

export interface ProbeTileOptions {
  tile: number;
  stride: number;
  depth: number;
  erode: number;
  maxTiles: number;
  pixelsPerTile: number;
  seed: number;
}

/** Reads a fragment's tiles (no augmentation) and samples `pixelsPerTile` valid pixels from each, seeded. */
export async function loadProbeTiles(spec: TileDatasetSpec, o: ProbeTileOptions): Promise<ProbeTiles> {
  const source = await createSource({
    datasets: [spec],
    tile: o.tile,
    stride: o.stride,
    erode: o.erode,
    depth: o.depth,
    augment: null,
    views: 1,
    maxTiles: o.maxTiles,
    seed: o.seed,
  });
  const rng = createRng(o.seed);
  const out: ProbeTiles = { fragment: spec.path, tile: o.tile, depth: o.depth, images: [], pixels: [], labels: [] };
  for (let i = 0; i < source.length; i++) {
    const s = await source.get(i, 0);
    const valid = s['valid'] as Uint8Array;
    const label = s['label'] as Float32Array;
    const candidates: number[] = [];
    for (let p = 0; p < valid.length; p++) if (valid[p]) candidates.push(p);
    if (candidates.length === 0) continue;
    const picked = Int32Array.from(rng.shuffle(candidates).slice(0, o.pixelsPerTile)).sort();
    out.images.push(s['image'] as Float32Array);
    out.pixels.push(picked);
    out.labels.push(Uint8Array.from(picked, (p) => (label[p]! > 0.5 ? 1 : 0)));
  }
  if (out.images.length === 0) throw new Error(`loadProbeTiles(${spec.path}): no tile has valid pixels`);
  return out;
}

/** The cached tiles in batches of `batch`: the first tile's index, the count and their [n, depth, tile, tile] input. */
export function* tileBatches(
  tiles: ProbeTiles,
  batch: number,
): Generator<{ t0: number; n: number; input: Float32Array }> {
  const size = tiles.depth * tiles.tile * tiles.tile;
  for (let t0 = 0; t0 < tiles.images.length; t0 += batch) {
    const n = Math.min(batch, tiles.images.length - t0);
    const input = new Float32Array(n * size);
    for (let j = 0; j < n; j++) input.set(tiles.images[t0 + j]!, j * size);
    yield { t0, n, input };
  }
}

/** The sampled pixels as rows: each row's label and tile, and the first row of each tile. */
export function pixelRows(tiles: ProbeTiles): {
  count: number;
  labels: Uint8Array;
  tileOf: Int32Array;
  firstRow: Int32Array;
} {
  const firstRow = new Int32Array(tiles.pixels.length);
  let count = 0;
  tiles.pixels.forEach((p, t) => {
    firstRow[t] = count;
    count += p.length;
  });
  const labels = new Uint8Array(count);
  const tileOf = new Int32Array(count);
  tiles.pixels.forEach((p, t) => {
    labels.set(tiles.labels[t]!, firstRow[t]!);
    tileOf.fill(t, firstRow[t]!, firstRow[t]! + p.length);
  });
  return { count, labels, tileOf, firstRow };
}

/** Depth columns of a set of sampled pixels: `data` is [count, channels, depth], `tileOf` the tile of each. */
export interface Columns {
  data: Float32Array;
  count: number;
  channels: number;
  depth: number;
  labels: Uint8Array;
  tileOf: Int32Array;
}

/** Source index and weight pair of a 1-D linear resampling from `n` to `m` cells (align_corners=False). */
function linearTaps(n: number, m: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const i0 = new Int32Array(m);
  const i1 = new Int32Array(m);
  const f = new Float32Array(m);
  for (let k = 0; k < m; k++) {
    const src = Math.min(n - 1, Math.max(0, ((k + 0.5) * n) / m - 0.5));
    i0[k] = Math.floor(src);
    i1[k] = Math.min(n - 1, i0[k]! + 1);
    f[k] = src - i0[k]!;
  }
  return { i0, i1, f };
}

/**
 * Gathers `stages` of the frozen `encoder` (eval mode: every encoder's batch-norm layers use their stored
 * running statistics, the same rule for all) at the sampled pixels, `batch` tiles at a time.
 */
export function extractColumns(
  encoder: ResNet3D,
  tiles: ProbeTiles,
  stages: readonly StageName[],
  o: { batch?: number; device?: Device } = {},
): Columns {
  const batch = o.batch ?? 8;
  const device = o.device ?? 'cpu';
  if (stages.length === 0) throw new Error('extractColumns: no stages selected');
  const upTo = STAGES[Math.max(...stages.map((s) => STAGES.indexOf(s)))]!;
  const channels = stages.reduce((a, s) => a + encoder.channels[s], 0);
  const { depth: D, tile: T } = tiles;
  const { count, labels, tileOf, firstRow } = pixelRows(tiles);
  const data = new Float32Array(count * channels * D);
  encoder.eval();
  encoder.to(device);
  for (const { t0, n, input } of tileBatches(tiles, batch)) {
    const maps = torch.tidy(() =>
      torch.noGrad(() => {
        const x = torch.fromTypedArray(input, [n, 1, D, T, T]).to(device);
        const feats = encoder.forwardFeatures(x, { upTo });
        return stages.map((s) => {
          const f = feats[s]!;
          return { shape: f.shape as readonly number[], values: f.to('cpu').toTypedArray() as Float32Array };
        });
      }),
    );
    for (let j = 0; j < n; j++) {
      const t = t0 + j;
      const px = tiles.pixels[t]!;
      const row = firstRow[t]!;
      let cOff = 0;
      for (const m of maps) {
        const [, C, d, h, w] = m.shape as [number, number, number, number, number];
        const zt = linearTaps(d, D);
        const yt = linearTaps(h, T);
        const xt = linearTaps(w, T);
        const base = j * C * d * h * w;
        for (let k = 0; k < px.length; k++) {
          const y = Math.floor(px[k]! / T);
          const x = px[k]! % T;
          const [y0, y1, fy, x0, x1, fx] = [yt.i0[y]!, yt.i1[y]!, yt.f[y]!, xt.i0[x]!, xt.i1[x]!, xt.f[x]!];
          const out = (row + k) * channels * D;
          for (let c = 0; c < C; c++) {
            for (let z = 0; z < D; z++) {
              const plane = (zz: number) => {
                const o = base + (c * d + zz) * h * w;
                const top = m.values[o + y0 * w + x0]! * (1 - fx) + m.values[o + y0 * w + x1]! * fx;
                const bottom = m.values[o + y1 * w + x0]! * (1 - fx) + m.values[o + y1 * w + x1]! * fx;
                return top * (1 - fy) + bottom * fy;
              };
              const fz = zt.f[z]!;
              data[out + (cOff + c) * D + z] = plane(zt.i0[z]!) * (1 - fz) + (fz > 0 ? plane(zt.i1[z]!) * fz : 0);
            }
          }
        }
        cOff += C;
      }
    }
  }
  return { data, count, channels, depth: D, labels, tileOf };
}
