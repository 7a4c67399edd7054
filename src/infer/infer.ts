/**
 * Sliding-window ink inference over a whole fragment or segment (`inkwell infer`).
 *
 * The volume is streamed in bands of rows: for each row of windows, only the checkpoint's `depth` layers of
 * that band (tile rows, from the first to the last window's columns) are read from disk through
 * `Volume.readWindow`, so memory is bounded by the z-range and a band of rows, never the whole volume. Windows
 * entirely outside the mask are skipped. Each batch of windows goes through the model in eval mode without
 * gradients, optionally under test-time augmentation (rot90 x4 as the 1st place Kaggle solution, flips as the
 * 2nd place, or all 8 dihedral transforms; docs/reference-study.md), averaging the probabilities of the
 * transformed-back predictions. A reduced-resolution output (half, quarter) is resized bilinearly to the tile,
 * the tiles are stitched (src/infer/stitch.ts: outer edges dropped, or Gaussian weights), and the map at the
 * volume's resolution (fragments: x0.5) is resized bilinearly back to the on-disk size and masked.
 */
import { performance } from 'node:perf_hooks';
import * as torch from '../torch/index.js';
import { checkFiniteWeights } from '../torch/index.js';
import { decodeBinary } from '../data/io/image.js';
import { resolveNormalize } from '../data/dataset-tile-source.js';
import { Volume } from '../data/volume.js';
import type { LayerOrderChoice } from '../data/layer-order.js';
import type { LayerOrderSource } from '../data/layout.js';
import type { SegmentationModel } from '../models/decoders.js';
import { loadSegmentationModel, type SegmentationSpec } from '../train/segmentation-checkpoint.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';
import type { AmpMode } from '../torch/amp.js';
import { writeFileAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import {
  type Blend,
  checkGeometry,
  defaultBorder,
  defaultSigma,
  placeWindows,
  resizeBilinear,
  type StitchGeometry,
  Stitcher,
  type Window,
  windowStarts,
} from './stitch.js';
import { type BlendMode, type PredictTimings, predictTiles, type TileModel, type TTA, ttaTransforms } from './tta.js';
import { encodeMaskPng, encodeProbabilityPng } from './png-output.js';

type BandArray = Uint8Array | Uint16Array | Float32Array;

/** Where windows come from: a [depth, height, width] block read in bands. */
export interface BandSource {
  readonly depth: number;
  readonly height: number;
  readonly width: number;
  /** Values [depth, y1-y0, x1-x0], row-major. */
  read(y0: number, y1: number, x0: number, x1: number): Promise<BandArray>;
  /** Maps each stored value to the model's input (e.g. v / 255); without one, values are used as they are. */
  readonly lut?: Float32Array | null;
}

/** An in-memory [depth, height, width] block as a band source. */
export function arraySource(
  data: BandArray,
  depth: number,
  height: number,
  width: number,
  lut: Float32Array | null = null,
): BandSource {
  if (data.length !== depth * height * width)
    throw new Error(
      `arraySource: ${data.length} values, expected ${depth}x${height}x${width} = ${depth * height * width}`,
    );
  return {
    depth,
    height,
    width,
    lut,
    read(y0, y1, x0, x1) {
      const h = y1 - y0;
      const w = x1 - x0;
      const out = new (data.constructor as { new (n: number): BandArray })(depth * h * w);
      for (let z = 0; z < depth; z++) {
        for (let r = 0; r < h; r++) {
          const src = (z * height + y0 + r) * width + x0;
          out.set(data.subarray(src, src + w), (z * h + r) * w);
        }
      }
      return Promise.resolve(out);
    },
  };
}

export interface TilingOptions {
  /** Window side at the volume's resolution. */
  tile: number;
  /** Default tile / 2. */
  stride?: number;
  /** 'edge' (default): drop `border` px of each tile's outer edge; 'gaussian': Gaussian-weighted average. */
  blend?: BlendMode;
  /** Default tile / 8. */
  border?: number;
  /** Default tile / 4. */
  sigma?: number;
  tta?: TTA;
  /** Windows per forward (default 4). */
  batch?: number;
}

/** The stitching geometry from tiling options, with defaults, checked. */
export function resolveTiling(o: TilingOptions, height: number, width: number, op = 'infer'): StitchGeometry {
  const tile = o.tile;
  const stride = o.stride ?? Math.max(1, Math.floor(tile / 2));
  const mode = o.blend ?? 'edge';
  if (mode !== 'edge' && mode !== 'gaussian')
    throw new Error(`${op}: blend must be 'edge' or 'gaussian', got '${String(mode)}'`);
  if (mode === 'gaussian' && o.border !== undefined)
    throw new Error(`${op}: border applies to blend 'edge', not 'gaussian' (give sigma instead)`);
  if (mode === 'edge' && o.sigma !== undefined)
    throw new Error(`${op}: sigma applies to blend 'gaussian', not 'edge' (give border instead)`);
  const blend: Blend =
    mode === 'edge'
      ? { mode, border: o.border ?? defaultBorder(tile) }
      : { mode, sigma: o.sigma ?? defaultSigma(tile) };
  const g: StitchGeometry = { height, width, tile, stride, blend };
  checkGeometry(g, op);
  return g;
}

export interface InferTimings extends PredictTimings {
  read_ms: number;
  /** Cutting windows out of the bands, value mapping, batch tensors. */
  tile_ms: number;
  /** Accumulating tiles into the map. */
  stitch_ms: number;
  /** Dividing by the weights, resizing to the on-disk size, masking. */
  finish_ms: number;
}

export interface InferVolumeOptions extends TilingOptions {
  /** {0,1} [y,x] at the source's size: windows entirely outside are skipped. */
  mask?: Uint8Array | null;
  /** Zero the map outside the mask (default true). */
  applyMask?: boolean;
  progress?: boolean;
  label?: string;
  /** Called after every batch (the benchmark samples memory there). */
  onBatch?: () => void;
}

export interface InferVolumeResult {
  probabilities: Float32Array;
  height: number;
  width: number;
  geometry: StitchGeometry;
  windows: number;
  /** Windows skipped because they lie entirely outside the mask. */
  skipped: number;
  batches: number;
  /** Largest band read at once, and the batch buffer, in bytes. */
  bandBytes: number;
  batchBytes: number;
  timings: InferTimings;
}

/** Copies the T x T window at column `x` of a [D, T, bw] band into `out` at `at` as [D, T, T], through `lut` if given. */
function extractWindow(
  band: BandArray,
  bw: number,
  x: number,
  D: number,
  T: number,
  lut: Float32Array | null,
  out: Float32Array,
  at: number,
): void {
  for (let z = 0; z < D; z++) {
    for (let r = 0; r < T; r++) {
      const src = (z * T + r) * bw + x;
      const dst = at + (z * T + r) * T;
      if (lut !== null) {
        for (let c = 0; c < T; c++) out[dst + c] = lut[band[src + c]!]!;
      } else {
        out.set(band.subarray(src, src + T), dst);
      }
    }
  }
}

const emptyTimings = (): InferTimings => ({
  read_ms: 0,
  tile_ms: 0,
  model_ms: 0,
  post_ms: 0,
  stitch_ms: 0,
  finish_ms: 0,
});

/** Sliding-window inference over a band source (no files): windows, batches, TTA, stitching. */
export async function inferVolume(
  source: BandSource,
  model: TileModel,
  o: InferVolumeOptions,
): Promise<InferVolumeResult> {
  const { depth: D, height: H, width: W } = source;
  const geometry = resolveTiling(o, H, W, 'inferVolume');
  const T = geometry.tile;
  const batch = o.batch ?? 4;
  if (!Number.isInteger(batch) || batch < 1)
    throw new Error(`inferVolume: batch must be a positive integer, got ${batch}`);
  const tta = o.tta ?? 'none';
  ttaTransforms(tta);
  const mask = o.mask ?? null;
  const timings = emptyTimings();
  const windows = placeWindows(geometry, mask);
  const total = windowStarts(H, T, geometry.stride).length * windowStarts(W, T, geometry.stride).length;
  const stitcher = new Stitcher(geometry);
  const plane = T * T;
  const per = D * plane;
  const buf = new Float32Array(batch * per);
  const lut = source.lut ?? null;
  const pending: Window[] = [];
  let batches = 0;
  let bandBytes = 0;
  const bar = progress(o.label ?? 'infer', windows.length, {
    unit: 'tiles',
    ...(o.progress === undefined ? {} : { enabled: o.progress }),
  });

  const flush = (): void => {
    const n = pending.length;
    if (n === 0) return;
    let t0 = performance.now();
    const x = torch.fromTypedArray(buf.subarray(0, n * per), [n, 1, D, T, T]);
    timings.tile_ms += performance.now() - t0;
    let probs: Float32Array;
    try {
      probs = predictTiles(model, x, tta, timings);
    } finally {
      x.dispose();
    }
    t0 = performance.now();
    pending.forEach((win, i) => stitcher.add(win, probs, i * plane));
    timings.stitch_ms += performance.now() - t0;
    batches++;
    bar.tick(n, `batch ${batches}`);
    pending.length = 0;
    o.onBatch?.();
  };

  try {
    for (let i = 0; i < windows.length; ) {
      // One row of windows (same y): one band read covering their columns.
      const y = windows[i]!.y;
      let j = i;
      while (j < windows.length && windows[j]!.y === y) j++;
      const x0 = windows[i]!.x;
      const x1 = windows[j - 1]!.x + T;
      const bw = x1 - x0;
      let t0 = performance.now();
      const band = await source.read(y, y + T, x0, x1);
      timings.read_ms += performance.now() - t0;
      if (band.length !== D * T * bw) {
        throw new Error(
          `inferVolume: the source returned ${band.length} values for band [${y}:${y + T}, ${x0}:${x1}], expected ${D}x${T}x${bw} = ${D * T * bw}`,
        );
      }
      bandBytes = Math.max(bandBytes, band.byteLength);
      for (; i < j; i++) {
        const win = windows[i]!;
        t0 = performance.now();
        extractWindow(band, bw, win.x - x0, D, T, lut, buf, pending.length * per);
        timings.tile_ms += performance.now() - t0;
        pending.push(win);
        if (pending.length === batch) {
          flush();
          // Let the event loop turn between batches: native memory freed during a long synchronous run of
          // forwards is only handed back after a turn (docs/engine.md; measured here on a 1024^2
          // fragment with r3d18: peak RSS ~1.5 GB without, ~1.07 GB with).
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    }
    flush();
  } finally {
    bar.stop();
  }
  const t0 = performance.now();
  const probabilities = stitcher.finish(o.applyMask === false ? null : mask);
  timings.finish_ms += performance.now() - t0;
  return {
    probabilities,
    height: H,
    width: W,
    geometry,
    windows: windows.length,
    skipped: total - windows.length,
    batches,
    bandBytes,
    batchBytes: buf.byteLength,
    timings,
  };
}

export interface InferDatasetOptions extends Partial<TilingOptions> {
  /** Segmentation checkpoint (saveSegmentationCheckpoint / probe and finetune runs). */
  weights: string;
  /** Use a checkpoint with NaN/Inf weights (a loud warning) instead of refusing it (default false). */
  allowNonFiniteWeights?: boolean;
  /** Dataset folder (fragment, segment, volpkg surface, Zarr). */
  input: string;
  /** Resolution factor (default the dataset's: 0.5 for fragments, 1 for segments). */
  scale?: number;
  /** Layer order reversed (default: from the dataset's manifest, else detected). */
  reversed?: boolean;
  /** 'auto' (default): a flag or manifest, else detected from the density profile (src/data/layer-order.ts). */
  layerOrder?: LayerOrderChoice;
  /** Probability PNG to write. */
  output?: string;
  bits?: 8 | 16;
  /** Thresholded mask PNG (0/255) to write. */
  maskOutput?: string;
  /** Ink where probability >= threshold (default 0.5). */
  threshold?: number;
  /** libtorch intra-op threads (default: as configured). */
  threads?: number;
  /** Where the model runs (default cpu) and its autocast precision (default off); see docs/devices.md. */
  device?: torch.Device;
  amp?: AmpMode;
  progress?: boolean;
  onBatch?: () => void;
}

export interface InferDatasetResult {
  /** Probabilities at the on-disk size, row-major. */
  probabilities: Float32Array;
  height: number;
  width: number;
  /** Size and resolution factor the model saw. */
  viewHeight: number;
  viewWidth: number;
  scale: number;
  dataset: string;
  /** Layers fed to the model, [start, end) in layer numbers (canonical order). */
  layers: [number, number];
  /** The layers were flipped on reading, and who decided the order. */
  reversed: boolean;
  layerOrderSource: LayerOrderSource;
  spec: SegmentationSpec;
  epoch: number;
  tile: number;
  stride: number;
  blend: Blend;
  tta: TTA;
  batch: number;
  windows: number;
  skipped: number;
  batches: number;
  bandBytes: number;
  batchBytes: number;
  seconds: number;
  timings: InferTimings & { load_ms: number; write_ms: number };
  /** Fraction of the on-disk pixels at or above the threshold (inside the mask). */
  inkFraction: number;
  threshold: number;
  outputs: { probabilities?: string; mask?: string };
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function loadModel(
  weights: string,
  allowNonFinite: boolean,
): Promise<{ model: SegmentationModel; spec: SegmentationSpec; epoch: number }> {
  let loaded: Awaited<ReturnType<typeof loadSegmentationModel>>;
  try {
    loaded = await loadSegmentationModel(weights);
  } catch (err) {
    throw new Error(
      `inferDataset: cannot use --weights ${weights} (expected a segmentation checkpoint from saveSegmentationCheckpoint, a probe or a finetune run): ${msg(err)}`,
    );
  }
  try {
    // NaN weights would give NaN probabilities, written as an all-zero map with exit status 0.
    checkFiniteWeights(loaded.model.stateDict(), `inferDataset: --weights ${weights}`, {
      allowNonFinite,
      hint: 'pass --allow-nonfinite-weights',
    });
  } catch (err) {
    loaded.model.dispose();
    throw err;
  }
  return loaded;
}

/** The lookup table from stored values to model input: the spec's normalisation, then the /255 of training. */
async function inputLut(vol: Volume): Promise<Float32Array> {
  if (vol.normalizeSpec.kind !== 'none') return (await vol.normalizer()).lut;
  const lut = new Float32Array(vol.dtype === 'uint16' ? 65536 : 256);
  for (let v = 0; v < lut.length; v++) lut[v] = v / 255;
  return lut;
}

/**
 * Loads a segmentation checkpoint, streams the dataset's layers through sliding-window inference and returns
 * (and optionally writes) the ink probability map at the dataset's on-disk size.
 */
export async function inferDataset(o: InferDatasetOptions): Promise<InferDatasetResult> {
  const start = performance.now();
  const op = 'inferDataset';
  const threshold = o.threshold ?? 0.5;
  if (!(threshold >= 0 && threshold <= 1)) throw new Error(`${op}: threshold must be in [0, 1], got ${threshold}`);
  const bits = o.bits ?? 8;
  if (bits !== 8 && bits !== 16) throw new Error(`${op}: bits must be 8 or 16, got ${String(bits)}`);
  if (o.threads !== undefined) {
    if (!Number.isInteger(o.threads) || o.threads < 1)
      throw new Error(`${op}: threads must be a positive integer, got ${o.threads}`);
    torch.setNumThreads(o.threads);
  }
  const rt = DeviceRuntime.open(
    { ...DEFAULT_DEVICE_CONFIG, ...(o.device ? { device: o.device } : {}), ...(o.amp ? { amp: o.amp } : {}) },
    'infer',
  );
  const { model, spec, epoch } = await loadModel(o.weights, o.allowNonFiniteWeights ?? false);
  let vol: Volume | null = null;
  try {
    rt.prepare(model).eval();
    const [z0, z1] = spec.z;
    if (z1 - z0 < spec.depth)
      throw new Error(
        `${op}: the checkpoint ${o.weights} asks for ${spec.depth} slices from layers ${z0}:${z1}, which hold only ${z1 - z0}`,
      );
    const normalize = await resolveNormalize(spec.normalize);
    try {
      vol = await Volume.open(o.input, {
        z: [z0, z1],
        normalize,
        ...(o.scale === undefined ? {} : { scale: o.scale }),
        ...(o.reversed === undefined ? {} : { reversed: o.reversed }),
        ...(o.layerOrder === undefined ? {} : { layerOrder: o.layerOrder }),
        ...(o.progress === undefined ? {} : { progress: o.progress }),
      });
    } catch (err) {
      throw new Error(
        `${op}: the model in ${o.weights} needs layers ${z0}:${z1} (${spec.depth} slices centred in them) of ${o.input}: ${msg(err)}`,
      );
    }
    const v = vol;
    const lut = await inputLut(v);
    const off = Math.floor((z1 - z0 - spec.depth) / 2);
    const tile = o.tile ?? spec.tile;
    const [minD, minH, minW] = model.encoder.minInputSize() as [number, number, number];
    if (spec.depth < minD)
      throw new Error(`${op}: ${spec.arch} needs at least ${minD} slices, the checkpoint's spec gives ${spec.depth}`);
    if (!Number.isInteger(tile) || tile < Math.max(minH, minW))
      throw new Error(
        `${op}: tile must be an integer of at least ${Math.max(minH, minW)} px for ${spec.arch}, got ${tile}`,
      );
    if (tile > v.height || tile > v.width) {
      throw new Error(
        `${op}: tile ${tile} is larger than ${o.input} (${v.height}x${v.width} HxW at scale ${v.scale}, ${v.sourceHeight}x${v.sourceWidth} on disk); use a tile of at most ${Math.min(v.height, v.width)}`,
      );
    }
    const viewMask = await v.readMask();
    const tLoad = performance.now() - start;
    const core = await inferVolume(
      {
        depth: spec.depth,
        height: v.height,
        width: v.width,
        lut,
        read: async (y0, y1, x0, x1) => (await v.readWindow(off, off + spec.depth, y0, y1, x0, x1)).data,
      },
      { forward: rt.inferenceForward(model) },
      {
        tile,
        mask: viewMask,
        applyMask: v.scale === 1,
        label: `infer ${v.dataset.id}`,
        ...(o.stride === undefined ? {} : { stride: o.stride }),
        ...(o.blend === undefined ? {} : { blend: o.blend }),
        ...(o.border === undefined ? {} : { border: o.border }),
        ...(o.sigma === undefined ? {} : { sigma: o.sigma }),
        ...(o.tta === undefined ? {} : { tta: o.tta }),
        ...(o.batch === undefined ? {} : { batch: o.batch }),
        ...(o.progress === undefined ? {} : { progress: o.progress }),
        ...(o.onBatch === undefined ? {} : { onBatch: o.onBatch }),
      },
    );

    // Back to the on-disk size: bilinear from the volume's grid, then the mask at full resolution.
    let t0 = performance.now();
    const H = v.sourceHeight;
    const W = v.sourceWidth;
    const probabilities = resizeBilinear(core.probabilities, v.height, v.width, H, W, v.scale);
    let mask: Uint8Array | null = viewMask;
    if (v.scale !== 1) {
      const path = v.dataset.layout === 'zarr' ? null : v.dataset.mask;
      mask = path === null ? null : (await decodeBinary(path, `${op} (mask)`)).data;
      if (mask !== null && mask.length !== H * W)
        throw new Error(`${op}: mask ${path} has ${mask.length} pixels, expected ${H}x${W} like the layers`);
      if (mask !== null) for (let i = 0; i < probabilities.length; i++) if (mask[i] === 0) probabilities[i] = 0;
    }
    let ink = 0;
    let inside = 0;
    for (let i = 0; i < probabilities.length; i++) {
      if (mask !== null && mask[i] === 0) continue;
      inside++;
      if (probabilities[i]! >= threshold) ink++;
    }
    const finishMs = core.timings.finish_ms + performance.now() - t0;

    t0 = performance.now();
    const outputs: { probabilities?: string; mask?: string } = {};
    if (o.output !== undefined) {
      await writeFileAtomic(o.output, await encodeProbabilityPng(probabilities, W, H, bits));
      outputs.probabilities = o.output;
    }
    if (o.maskOutput !== undefined) {
      const bin = new Uint8Array(H * W);
      for (let i = 0; i < bin.length; i++)
        bin[i] = probabilities[i]! >= threshold && (mask === null || mask[i] !== 0) ? 1 : 0;
      await writeFileAtomic(o.maskOutput, await encodeMaskPng(bin, W, H));
      outputs.mask = o.maskOutput;
    }
    const writeMs = performance.now() - t0;
    return {
      probabilities,
      height: H,
      width: W,
      viewHeight: v.height,
      viewWidth: v.width,
      scale: v.scale,
      dataset: v.dataset.id,
      layers: [z0 + off, z0 + off + spec.depth],
      reversed: v.reversed,
      layerOrderSource: v.dataset.orderSource,
      spec,
      epoch,
      tile,
      stride: core.geometry.stride,
      blend: core.geometry.blend,
      tta: o.tta ?? 'none',
      batch: o.batch ?? 4,
      windows: core.windows,
      skipped: core.skipped,
      batches: core.batches,
      bandBytes: core.bandBytes,
      batchBytes: core.batchBytes,
      seconds: (performance.now() - start) / 1000,
      timings: { ...core.timings, finish_ms: finishMs, load_ms: tLoad, write_ms: writeMs },
      inkFraction: inside > 0 ? ink / inside : 0,
      threshold,
      outputs,
    };
  } finally {
    model.dispose();
    await vol?.close();
  }
}
