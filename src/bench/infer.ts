/**
 * `inkwell bench infer`: whole-fragment inference throughput of ResNet3D-18 + U-Net decoder (random weights)
 * on a synthetic Kaggle-layout fragment (uint16 TIFF layers, default 2048x2048 x 65 layers, read at the
 * fragments' default scale 0.5), through the same path as `inkwell infer` (checkpoint file, band-streamed
 * reads, batched forwards, edge dropping, stitching, resize to disk size, PNG). Reports pixels per second,
 * the cost of tiling + stitching as a fraction of model time (target <= 5%), and peak memory next to what the
 * volume would take whole.
 *
 * The fragment and the checkpoint are written by a child process, so that this process's peak RSS measures
 * inference alone (generating 65 layers holds the whole synthetic volume in memory). On the 2-core
 * development machine a full-width r3d18 pass over 2048^2 takes minutes: size, tile, depth, layers and widen
 * factor are options, and the result says what was measured.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as torch from '../torch/index.js';
import { type BlendMode, inferDataset, type TTA } from '../infer/index.js';

export interface InferBenchOptions {
  /** On-disk side of the square synthetic fragment (default 2048). */
  size?: number;
  /** Layers written (default 65, as Kaggle fragments). */
  layers?: number;
  /** Resolution factor the model works at (default 0.5, the fragments' default). */
  scale?: number;
  /** Window side at the model's resolution (default 128, the reference study's tile). */
  tile?: number;
  stride?: number;
  /** Slices the model sees (default 20, the reference study's), centred on the middle layer. */
  depth?: number;
  widenFactor?: number;
  batch?: number;
  tta?: TTA;
  blend?: BlendMode;
  /** libtorch threads (default: as configured). */
  threads?: number;
  seed?: number;
  /** Keep the temporary folder (fragment, checkpoint, prediction) and report where it is. */
  keep?: boolean;
  onProgress?: (msg: string) => void;
}

export interface InferBenchResult {
  arch: string;
  widen_factor: number;
  /** On-disk [height, width] and the model's [height, width] at `scale`. */
  size: [number, number];
  view: [number, number];
  scale: number;
  layers: number;
  depth: number;
  tile: number;
  stride: number;
  blend: string;
  tta: TTA;
  batch: number;
  threads: number;
  windows: number;
  /** Inference pass: reading, tiling, model, stitching, resizing (not model loading or PNG writing). */
  seconds: number;
  /** On-disk pixels per second of the inference pass. */
  pixels_per_s: number;
  /** Pixels per second at the model's resolution. */
  view_pixels_per_s: number;
  windows_per_s: number;
  model_ms: number;
  read_ms: number;
  /** Tiling (window extraction, value mapping, batch tensors) + TTA/sigmoid/resize-to-tile + stitching + finishing. */
  overhead_ms: number;
  /** overhead_ms / model_ms (target <= 0.05). */
  overhead_fraction: number;
  timings: Record<string, number>;
  /** Peak resident memory of this process (inference only: the data was made in a child process). */
  peak_rss_mb: number;
  /** Resident memory just before inference started. */
  baseline_rss_mb: number;
  /** Input buffers inference held at most: the largest band read and the batch. */
  band_mb: number;
  batch_mb: number;
  /** What the volume would take held whole: all layers as stored (uint16), and the model's z-range at its resolution (uint8). */
  all_layers_mb: number;
  zrange_mb: number;
  synth_seconds: number;
  torch_version: string;
  dir?: string;
}

const MB = 1024 * 1024;

/** Writes the fragment and a random-weight checkpoint in a child process; returns the fragment folder and checkpoint path. */
function prepare(
  dir: string,
  o: Required<Pick<InferBenchOptions, 'size' | 'layers' | 'depth' | 'tile' | 'widenFactor' | 'seed'>>,
): { fragment: string; weights: string } {
  const z0 = Math.max(0, Math.floor(o.layers / 2) - Math.floor(o.depth / 2));
  const spec = {
    arch: 'resnet3d-18',
    inChannels: 1,
    widenFactor: o.widenFactor,
    decoder: 'unet',
    output: 'full',
    depthPool: 'mean',
    depth: o.depth,
    z: [z0, z0 + o.depth],
    tile: o.tile,
    normalize: 'none',
  };
  const weights = join(dir, 'r3d18-random.pth');
  const script = `
const [writeUrl, segUrl, torchUrl, json] = process.argv.slice(1);
const o = JSON.parse(json);
const { synthesize } = await import(writeUrl);
const { buildSegmentationModel, saveSegmentationCheckpoint } = await import(segUrl);
const torch = await import(torchUrl);
await synthesize({ out: o.dir, fragments: 1, segments: 0, height: o.size, width: o.size, layers: o.layers, seed: o.seed, progress: false });
torch.manualSeed(o.seed);
const model = buildSegmentationModel(o.spec);
await saveSegmentationCheckpoint(o.weights, model, o.spec, { epoch: 0, step: 0 });
model.dispose();`;
  const url = (rel: string): string => new URL(rel, import.meta.url).href;
  const args = JSON.stringify({ dir, size: o.size, layers: o.layers, seed: o.seed, spec, weights });
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      script,
      url('../data/synth/write.js'),
      url('../train/segmentation-checkpoint.js'),
      url('../torch/index.js'),
      args,
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, INKWELL_PROGRESS: '0' },
    },
  );
  if (r.status !== 0)
    throw new Error(
      `benchInfer: writing the synthetic ${o.size}x${o.size} x ${o.layers}-layer fragment and checkpoint to ${dir} failed (status ${r.status}): ${r.stderr}`,
    );
  return { fragment: join(dir, 'fragments', '1'), weights };
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`benchInfer: ${name} must be an integer >= ${min}, got ${v}`);
}

export async function benchInfer(opts: InferBenchOptions = {}): Promise<InferBenchResult> {
  const size = opts.size ?? 2048;
  const layers = opts.layers ?? 65;
  const depth = opts.depth ?? 20;
  const tile = opts.tile ?? 128;
  const widenFactor = opts.widenFactor ?? 1;
  const seed = opts.seed ?? 0;
  const scale = opts.scale ?? 0.5;
  checkInt('size', size, 1);
  checkInt('layers', layers, 1);
  checkInt('depth', depth, 1);
  checkInt('tile', tile, 1);
  if (depth > layers) throw new Error(`benchInfer: depth ${depth} needs at least that many layers, got ${layers}`);
  if (tile > Math.floor(size * scale))
    throw new Error(
      `benchInfer: tile ${tile} is larger than the fragment at scale ${scale} (${Math.floor(size * scale)} px of ${size})`,
    );
  if (opts.threads !== undefined) torch.setNumThreads(opts.threads);
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-bench-infer-'));
  try {
    opts.onProgress?.(
      `infer: writing a synthetic ${size}x${size} fragment with ${layers} layers and a random r3d18 checkpoint (widen ${widenFactor})`,
    );
    const t0 = performance.now();
    const { fragment, weights } = prepare(dir, { size, layers, depth, tile, widenFactor, seed });
    const synthSeconds = (performance.now() - t0) / 1000;
    opts.onProgress?.(`infer: running (tile ${tile}, depth ${depth}, scale ${scale}, batch ${opts.batch ?? 4})`);
    const baseline = process.memoryUsage.rss();
    let sampled = baseline;
    const r = await inferDataset({
      weights,
      input: fragment,
      output: join(dir, 'pred.png'),
      scale,
      tile,
      progress: false,
      onBatch: () => {
        sampled = Math.max(sampled, process.memoryUsage.rss());
      },
      ...(opts.stride === undefined ? {} : { stride: opts.stride }),
      ...(opts.batch === undefined ? {} : { batch: opts.batch }),
      ...(opts.tta === undefined ? {} : { tta: opts.tta }),
      ...(opts.blend === undefined ? {} : { blend: opts.blend }),
    });
    const t = r.timings;
    const passMs = t.read_ms + t.tile_ms + t.model_ms + t.post_ms + t.stitch_ms + t.finish_ms;
    const overhead = t.tile_ms + t.post_ms + t.stitch_ms + t.finish_ms;
    // ru_maxrss is in kilobytes on Linux: the process's peak, which began after the child made the data.
    const peak = Math.max(sampled, process.resourceUsage().maxRSS * 1024);
    return {
      arch: 'resnet3d-18',
      widen_factor: widenFactor,
      size: [r.height, r.width],
      view: [r.viewHeight, r.viewWidth],
      scale: r.scale,
      layers,
      depth,
      tile,
      stride: r.stride,
      blend: r.blend.mode === 'edge' ? `edge (border ${r.blend.border})` : `gaussian (sigma ${r.blend.sigma})`,
      tta: r.tta,
      batch: r.batch,
      threads: torch.getNumThreads(),
      windows: r.windows,
      seconds: passMs / 1000,
      pixels_per_s: (r.height * r.width) / (passMs / 1000),
      view_pixels_per_s: (r.viewHeight * r.viewWidth) / (passMs / 1000),
      windows_per_s: r.windows / (passMs / 1000),
      model_ms: t.model_ms,
      read_ms: t.read_ms,
      overhead_ms: overhead,
      overhead_fraction: overhead / t.model_ms,
      timings: { ...t },
      peak_rss_mb: peak / MB,
      baseline_rss_mb: baseline / MB,
      band_mb: r.bandBytes / MB,
      batch_mb: r.batchBytes / MB,
      all_layers_mb: (layers * size * size * 2) / MB,
      zrange_mb: (depth * r.viewHeight * r.viewWidth) / MB,
      synth_seconds: synthSeconds,
      torch_version: torch.buildInfo().torchVersion,
      ...(opts.keep ? { dir } : {}),
    };
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** The report `inkwell bench infer` prints. */
export function printInfer(r: InferBenchResult, write: (line: string) => void = (l) => console.log(l)): void {
  const f1 = (v: number): string => v.toFixed(1);
  const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
  write(
    `${r.arch}${r.widen_factor !== 1 ? ` (widen ${r.widen_factor})` : ''}, random weights: ${r.size[0]}x${r.size[1]} synthetic fragment, ${r.layers} layers on disk; ` +
      `model at scale ${r.scale} (${r.view[0]}x${r.view[1]}), ${r.depth} slices, tile ${r.tile}, stride ${r.stride}, ${r.blend}, tta ${r.tta}, batch ${r.batch}, threads ${r.threads}`,
  );
  write(
    `throughput   ${Math.round(r.pixels_per_s)} px/s on disk (${Math.round(r.view_pixels_per_s)} px/s at the model's resolution), ${r.windows} windows in ${r.seconds.toFixed(2)} s (${r.windows_per_s.toFixed(2)} windows/s)`,
  );
  write(`model        ${f1(r.model_ms)} ms`);
  write(
    `overhead     ${f1(r.overhead_ms)} ms = ${pct(r.overhead_fraction)} of model time (target <= 5%): tiling ${f1(r.timings['tile_ms'] ?? 0)}, ` +
      `tta/sigmoid/resize ${f1(r.timings['post_ms'] ?? 0)}, stitching ${f1(r.timings['stitch_ms'] ?? 0)}, finishing ${f1(r.timings['finish_ms'] ?? 0)} ms`,
  );
  write(`reading      ${f1(r.read_ms)} ms (band-streamed from disk)`);
  write(
    `memory       peak RSS ${f1(r.peak_rss_mb)} MB (${f1(r.baseline_rss_mb)} MB before inference); input held at most: band ${r.band_mb.toFixed(2)} MB + batch ${r.batch_mb.toFixed(2)} MB; ` +
      `the volume whole would be ${f1(r.all_layers_mb)} MB on disk (${r.layers} layers), ${f1(r.zrange_mb)} MB for the z-range at the model's resolution`,
  );
  write(
    `libtorch ${r.torch_version}; data written in ${r.synth_seconds.toFixed(1)} s by a child process${r.dir ? `; kept in ${r.dir}` : ''}`,
  );
}
