/**
 * A `Volume` is a view of one dataset's layers as a [z, y, x] block: a z-range, optional reversed layer
 * order, a bit-depth policy, a resolution factor and a normalisation choice. It never holds more than it is
 * asked for: `readWindow` streams a window from disk (positioned reads for uncompressed strip TIFFs, cached
 * whole-layer decodes otherwise, chunks for Zarr), and `load()` holds only the chosen z-range, as one typed
 * array (a Kaggle fragment, 8181x6330 x 22 layers, is ~1.1 GB as uint8).
 */
import { constants as bufferConstants } from 'node:buffer';
import { basename } from 'node:path';
import { progress } from '../util/progress.js';
import { decodeBinary, DecodeCache } from './io/image.js';
import { openLayer, type LayerSource, type PixelDType } from './io/layer.js';
import { areaResampleWindow, checkScale, resampleBinary, scaledLength, sourceSpan } from './io/resample.js';
import type { PixelArray } from './io/tiff-strips.js';
import { ZarrVolume } from './io/zarr.js';
import { detectDataset, type Dataset, type DetectOptions, type LayerStackDataset } from './layout.js';
import {
  detectLayerOrder,
  layerOrderWindow,
  LAYER_ORDER_MIN_LAYERS,
  undetermined,
  type LayerOrderEvidence,
} from './layer-order.js';
import {
  accumulateHistogram,
  emptyHistogram,
  fitNormalizer,
  needsSample,
  type Normalizer,
  type NormalizeSpec,
  type ValueHistogram,
} from './normalize.js';
import { createRng } from './rng.js';

/**
 * 'uint8': 16-bit layers become 8-bit by `v >> 8`, as every public pipeline does by reading layers with
 * `cv2.imread(path, 0)` (docs/data-formats.md); 'keep': values as stored (8 or 16 bit).
 */
export type BitDepthPolicy = 'uint8' | 'keep';

export interface VolumeOptions extends DetectOptions {
  /** Layer range [start, end) in layer numbers (stack order after any reversal); default: all layers. */
  z?: readonly [number, number];
  bitDepth?: BitDepthPolicy;
  /**
   * Resolution factor in (0, 1]; default the dataset's pixel size over the model's (src/data/layout.ts): 0.5
   * for Kaggle fragments, 1 for segments and Zarr volumes, what meta.json's `voxelsize` gives otherwise.
   */
  scale?: number;
  normalize?: NormalizeSpec;
  /** Byte budget of the decoded-layer LRU cache (compressed TIFF, PNG, JPEG layers). Default 512 MiB. */
  cacheBytes?: number;
  /** OME-Zarr pyramid level (0 = full resolution). */
  level?: number;
  /** Show progress bars for long reads (default: when stderr is a terminal). */
  progress?: boolean;
}

export interface VolumeArray {
  dtype: PixelDType;
  /** [z, y, x] */
  shape: [number, number, number];
  data: PixelArray;
}

export interface SampleOptions {
  /** Number of random windows (default 64). */
  windows?: number;
  /** Window side in output pixels (default 64). */
  size?: number;
  seed?: number;
}

export class Volume {
  readonly dataset: Dataset;
  /** First and one-past-last layer numbers of the view. */
  readonly zStart: number;
  readonly zEnd: number;
  readonly reversed: boolean;
  readonly bitDepth: BitDepthPolicy;
  readonly scale: number;
  readonly normalizeSpec: NormalizeSpec;
  /** Size on disk (HxW) and stored element type. */
  readonly sourceHeight: number;
  readonly sourceWidth: number;
  readonly sourceDtype: PixelDType;
  private readonly showProgress: boolean | undefined;
  private readonly cache: DecodeCache;
  private readonly layers = new Map<number, Promise<LayerSource>>();
  private readonly zarr: ZarrVolume | null;
  private maskCache: Promise<Uint8Array | null> | null = null;
  private normalizerCache: Promise<Normalizer> | null = null;
  /** Layer numbers present on disk: [first, first + count). */
  private readonly firstLayer: number;
  private readonly layerCount: number;

  private constructor(
    dataset: Dataset,
    zarrVol: ZarrVolume | null,
    first: LayerSource | null,
    opts: VolumeOptions,
    cache: DecodeCache,
  ) {
    this.dataset = dataset;
    this.zarr = zarrVol;
    this.cache = cache;
    this.reversed = dataset.reversed;
    this.bitDepth = opts.bitDepth ?? 'uint8';
    this.scale = opts.scale ?? dataset.defaultScale;
    checkScale(this.scale, `Volume.open(${dataset.root})`);
    this.normalizeSpec = opts.normalize ?? { kind: 'none' };
    this.showProgress = opts.progress;
    if (zarrVol) {
      [this.layerCount, this.sourceHeight, this.sourceWidth] = zarrVol.shape;
      this.firstLayer = 0;
      this.sourceDtype = zarrVol.dtype;
    } else {
      const ds = dataset as LayerStackDataset;
      this.firstLayer = ds.layers[0]!.number;
      this.layerCount = ds.layers.length;
      this.sourceHeight = first!.height;
      this.sourceWidth = first!.width;
      this.sourceDtype = first!.dtype;
    }
    const lastEnd = this.firstLayer + this.layerCount;
    const [z0, z1] = opts.z ?? [this.firstLayer, lastEnd];
    if (!Number.isInteger(z0) || !Number.isInteger(z1) || z0 < this.firstLayer || z1 > lastEnd || z0 >= z1) {
      throw new Error(
        `Volume.open: z-range ${z0}:${z1} is outside ${dataset.root}, which has layers ${this.firstLayer}:${lastEnd} (expected start < end within them)`,
      );
    }
    this.zStart = z0;
    this.zEnd = z1;
  }

  /**
   * Opens a dataset folder (or an already detected dataset) as a volume view; checks its layers' sizes. When no
   * flag or manifest decided the layer order and `layerOrder` is 'auto' (the default), the order is detected
   * from the density profile (src/data/layer-order.ts) and a reversed volume is flipped.
   */
  static async open(source: string | Dataset, opts: VolumeOptions = {}): Promise<Volume> {
    let dataset = typeof source === 'string' ? await detectDataset(source, opts, 'Volume.open') : source;
    if (typeof source !== 'string' && dataset.layout !== 'zarr') {
      // Copies: the caller's dataset object keeps its own flag.
      if (opts.layerOrder === 'as-stored' || opts.layerOrder === 'reversed') {
        dataset = { ...dataset, reversed: opts.layerOrder === 'reversed', orderSource: 'flag' };
      } else if (opts.reversed !== undefined) {
        const reversed = typeof opts.reversed === 'boolean' ? opts.reversed : opts.reversed.includes(dataset.id);
        dataset = { ...dataset, reversed, orderSource: 'flag' };
      }
    }
    const undecided = dataset.orderSource === 'default' && dataset.orderEvidence === undefined;
    if (undecided && (opts.layerOrder ?? 'auto') === 'auto' && dataset.layout !== 'zarr') {
      const evidence = await Volume.detectOrder(dataset, opts.cacheBytes);
      const orderSource = evidence.verdict === 'undetermined' ? 'default' : 'detected';
      dataset = { ...dataset, reversed: evidence.verdict === 'reversed', orderSource, orderEvidence: evidence };
    }
    if (opts.level !== undefined && dataset.layout !== 'zarr') {
      // An option that does not apply is refused rather than ignored: a layer stack has one resolution.
      throw new Error(
        `Volume.open: level ${opts.level} applies to OME-Zarr pyramids only; ${dataset.root} is a ` +
          `${dataset.layout} dataset of single-resolution layer images`,
      );
    }
    const cache = new DecodeCache(opts.cacheBytes);
    if (dataset.layout === 'zarr') {
      const zv = await ZarrVolume.open(dataset.root, opts.level === undefined ? {} : { level: opts.level });
      return new Volume(dataset, zv, null, opts, cache);
    }
    const first = await openLayer(dataset.layers[0]!.path, cache);
    const vol = new Volume(dataset, null, first, opts, cache);
    vol.layers.set(dataset.layers[0]!.number, Promise.resolve(first));
    await vol.checkLayers();
    return vol;
  }

  /**
   * The layer-order evidence of a layer stack, read as stored at full resolution over the layers around its
   * middle. A read failure is reported as undetermined (the order stays as stored) rather than thrown: the
   * view's own reads will name the broken file if it matters.
   */
  private static async detectOrder(
    dataset: LayerStackDataset,
    cacheBytes: number | undefined,
  ): Promise<LayerOrderEvidence> {
    const L = dataset.layers.length;
    const [from, to] = layerOrderWindow(L);
    if (L < LAYER_ORDER_MIN_LAYERS) return undetermined(L, `${L} layers, need at least ${LAYER_ORDER_MIN_LAYERS}`);
    const first = dataset.layers[0]!.number;
    let raw: Volume | null = null;
    try {
      raw = await Volume.open(
        { ...dataset, reversed: false, orderSource: 'flag' },
        {
          z: [first + from, first + to],
          scale: 1,
          bitDepth: 'keep',
          layerOrder: 'as-stored',
          ...(cacheBytes === undefined ? {} : { cacheBytes }),
        },
      );
      const r = raw;
      return await detectLayerOrder({
        depth: L,
        height: r.height,
        width: r.width,
        readMask: () => r.readMask(),
        readWindow: (z0, z1, y0, y1, x0, x1) => r.readWindow(z0 - from, z1 - from, y0, y1, x0, x1, { raw: true }),
      });
    } catch (err) {
      return undetermined(L, `could not read the layers around the middle: ${(err as Error).message}`);
    } finally {
      await raw?.close();
    }
  }

  /** Depth, height and width of the view (after the resolution factor). */
  get depth(): number {
    return this.zEnd - this.zStart;
  }
  get height(): number {
    return scaledLength(this.sourceHeight, this.scale);
  }
  get width(): number {
    return scaledLength(this.sourceWidth, this.scale);
  }
  get shape(): [number, number, number] {
    return [this.depth, this.height, this.width];
  }

  /** Element type of `readWindow`/`load` results under the bit-depth policy. */
  get dtype(): PixelDType {
    return this.bitDepth === 'uint8' ? 'uint8' : this.sourceDtype;
  }

  /** The layer number on disk behind view index `z` (0-based within the z-range). */
  layerNumber(z: number): number {
    const stack = this.zStart + z;
    return this.reversed ? 2 * this.firstLayer + this.layerCount - 1 - stack : stack;
  }

  /** The file behind view index `z` (a Zarr volume has none: its array folder is returned). */
  layerFile(z: number): string {
    if (this.dataset.layout === 'zarr') return this.dataset.root;
    const n = this.layerNumber(z);
    return this.dataset.layers[n - this.firstLayer]!.path;
  }

  private layer(z: number): Promise<LayerSource> {
    const n = this.layerNumber(z);
    let p = this.layers.get(n);
    if (!p) {
      p = openLayer(this.layerFile(z), this.cache);
      this.layers.set(n, p);
      p.catch(() => this.layers.delete(n));
    }
    return p;
  }

  /** Every layer in the z-range must match the first layer's size and type (headers only). */
  private async checkLayers(): Promise<void> {
    const ds = this.dataset as LayerStackDataset;
    const ref = ds.layers[0]!.path;
    for (let z = 0; z < this.depth; z++) {
      const l = await this.layer(z);
      if (l.height !== this.sourceHeight || l.width !== this.sourceWidth) {
        throw new Error(
          `readLayer: ${l.path} is ${l.height}x${l.width} (HxW), expected ${this.sourceHeight}x${this.sourceWidth} like ${basename(ref)}`,
        );
      }
      if (l.dtype !== this.sourceDtype) {
        throw new Error(`readLayer: ${l.path} is ${l.dtype}, expected ${this.sourceDtype} like ${basename(ref)}`);
      }
    }
  }

  private checkWindow(op: string, z0: number, z1: number, y0: number, y1: number, x0: number, x1: number): void {
    const ok =
      [z0, z1, y0, y1, x0, x1].every(Number.isInteger) &&
      z0 >= 0 &&
      y0 >= 0 &&
      x0 >= 0 &&
      z1 <= this.depth &&
      y1 <= this.height &&
      x1 <= this.width &&
      z0 < z1 &&
      y0 < y1 &&
      x0 < x1;
    if (!ok) {
      throw new Error(
        `${op}: window [${z0}:${z1}, ${y0}:${y1}, ${x0}:${x1}] is outside ${this.dataset.root} (view shape ${this.depth}x${this.height}x${this.width}, expected 0 <= start < end <= size)`,
      );
    }
  }

  /** Applies the bit-depth policy to values as read from disk. */
  private toPolicy(values: PixelArray, raw: boolean): PixelArray {
    if (raw || this.bitDepth === 'keep' || values instanceof Uint8Array) return values;
    const out = new Uint8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = values[i]! >> 8;
    return out;
  }

  /**
   * Voxels [z0,z1) x [y0,y1) x [x0,x1) of the view (z relative to the z-range, y/x at the view's
   * resolution) as one row-major [z,y,x] array, read from disk. `raw` skips the bit-depth policy
   * (values as stored on disk).
   */
  async readWindow(
    z0: number,
    z1: number,
    y0: number,
    y1: number,
    x0: number,
    x1: number,
    opts: { raw?: boolean } = {},
  ): Promise<VolumeArray> {
    this.checkWindow('readWindow', z0, z1, y0, y1, x0, x1);
    const raw = opts.raw ?? false;
    const [sy0, sy1] = sourceSpan(y0, y1, this.scale, this.sourceHeight);
    const [sx0, sx1] = sourceSpan(x0, x1, this.scale, this.sourceWidth);
    const plane = (y1 - y0) * (x1 - x0);
    const dtype: PixelDType = raw ? this.sourceDtype : this.dtype;
    const out = dtype === 'uint16' ? new Uint16Array((z1 - z0) * plane) : new Uint8Array((z1 - z0) * plane);
    const place = (z: number, src: PixelArray): void => {
      const v = this.toPolicy(src, raw);
      out.set(
        areaResampleWindow(
          v,
          sy1 - sy0,
          sx1 - sx0,
          sy0,
          sx0,
          this.sourceHeight,
          this.sourceWidth,
          this.scale,
          y0,
          y1,
          x0,
          x1,
        ),
        (z - z0) * plane,
      );
    };
    if (this.zarr) {
      // Zarr z is the layer number itself; read the contiguous stack range once, then place each slice.
      const nums = Array.from({ length: z1 - z0 }, (_, i) => this.layerNumber(z0 + i));
      const lo = Math.min(...nums);
      const block = await this.zarr.readWindow(lo, Math.max(...nums) + 1, sy0, sy1, sx0, sx1);
      const srcPlane = (sy1 - sy0) * (sx1 - sx0);
      for (let z = z0; z < z1; z++) {
        const at = (this.layerNumber(z) - lo) * srcPlane;
        place(z, block.subarray(at, at + srcPlane));
      }
      return { dtype, shape: [z1 - z0, y1 - y0, x1 - x0], data: out };
    }
    for (let z = z0; z < z1; z++) {
      const layer = await this.layer(z);
      place(z, await layer.readWindow(sy0, sy1, sx0, sx1));
    }
    return { dtype, shape: [z1 - z0, y1 - y0, x1 - x0], data: out };
  }

  /**
   * The whole view in memory as one [z,y,x] array (only the z-range: never every layer on disk).
   * Layers are read one at a time, so peak memory is the result plus one layer.
   */
  async load(opts: { raw?: boolean } = {}): Promise<VolumeArray> {
    const raw = opts.raw ?? false;
    const dtype: PixelDType = raw ? this.sourceDtype : this.dtype;
    const plane = this.height * this.width;
    const bytes = this.depth * plane * (dtype === 'uint16' ? 2 : 1);
    if (bytes > bufferConstants.MAX_LENGTH) {
      throw new Error(
        `Volume.load: ${this.dataset.root} view ${this.depth}x${this.height}x${this.width} ${dtype} needs ${bytes} bytes, more than one buffer can hold (${bufferConstants.MAX_LENGTH}); narrow the z-range or use readWindow`,
      );
    }
    const out = dtype === 'uint16' ? new Uint16Array(this.depth * plane) : new Uint8Array(this.depth * plane);
    const bar = progress(
      `load ${this.dataset.id}`,
      this.depth,
      this.showProgress === undefined ? { unit: 'layers' } : { unit: 'layers', enabled: this.showProgress },
    );
    try {
      for (let z = 0; z < this.depth; z++) {
        let src: PixelArray;
        if (this.zarr) {
          const n = this.layerNumber(z);
          src = await this.zarr.readWindow(n, n + 1, 0, this.sourceHeight, 0, this.sourceWidth);
        } else {
          src = await (await this.layer(z)).readAll();
        }
        const v = this.toPolicy(src, raw);
        out.set(
          areaResampleWindow(
            v,
            this.sourceHeight,
            this.sourceWidth,
            0,
            0,
            this.sourceHeight,
            this.sourceWidth,
            this.scale,
            0,
            this.height,
            0,
            this.width,
          ),
          z * plane,
        );
        bar.tick(1, basename(this.layerFile(z)));
      }
    } finally {
      bar.stop();
    }
    return { dtype, shape: [this.depth, this.height, this.width], data: out };
  }

  private async readBinary(path: string | null, what: 'mask' | 'inklabels', op: string): Promise<Uint8Array | null> {
    if (path === null) return null;
    const img = await decodeBinary(path, op);
    if (img.height !== this.sourceHeight || img.width !== this.sourceWidth) {
      const ref =
        this.dataset.layout === 'zarr'
          ? this.dataset.root
          : basename((this.dataset as LayerStackDataset).layers[0]!.path);
      throw new Error(
        `${op}: ${path} is ${img.height}x${img.width} (HxW), expected ${this.sourceHeight}x${this.sourceWidth} like the layers (${ref})`,
      );
    }
    if (what === 'mask' && !img.data.some((v) => v !== 0)) {
      throw new Error(`${op}: ${path} is all zero, expected a mask with some pixels > 0 marking the papyrus`);
    }
    return resampleBinary(img.data, img.height, img.width, this.scale).data;
  }

  /** The papyrus mask at the view's resolution as {0,1} [y,x], or null when the dataset has none. */
  readMask(): Promise<Uint8Array | null> {
    if (!this.maskCache) {
      const path = this.dataset.layout === 'zarr' ? null : this.dataset.mask;
      this.maskCache = this.readBinary(path, 'mask', 'readMask');
      this.maskCache.catch(() => {
        this.maskCache = null;
      });
    }
    return this.maskCache;
  }

  /** Ink labels at the view's resolution as {0,1} [y,x] (label > 0 is ink), or null when unlabelled. */
  readInkLabels(): Promise<Uint8Array | null> {
    const path = this.dataset.layout === 'zarr' ? null : this.dataset.inklabels;
    return this.readBinary(path, 'inklabels', 'readInkLabels');
  }

  /**
   * The dataset checks every command runs before it reads (`inspect` and `crop` alike): the layers agree in size
   * and type (checked at open), the mask and the ink labels have the layers' size, the mask is not all zero.
   * Returns the mask and labels it read (at the view's resolution).
   */
  async validate(): Promise<{ mask: Uint8Array | null; labels: Uint8Array | null }> {
    const mask = await this.readMask();
    const labels = await this.readInkLabels();
    return { mask, labels };
  }

  /**
   * A histogram of the view's values (under the bit-depth policy) from random windows centred inside the
   * mask, counting only masked pixels; the whole plane counts when there is no mask.
   */
  async sampleHistogram(opts: SampleOptions = {}): Promise<ValueHistogram> {
    const windows = opts.windows ?? 64;
    const size = Math.min(opts.size ?? 64, this.height, this.width);
    const rng = createRng(opts.seed ?? 0);
    const mask = await this.readMask();
    const H = this.height;
    const W = this.width;
    const hist = emptyHistogram(this.dtype === 'uint16' ? 16 : 8);
    for (let i = 0; i < windows; i++) {
      let cy = rng.int(H);
      let cx = rng.int(W);
      if (mask) {
        // Rejection sampling of a centre inside the mask; coverage is tens of percent in practice.
        for (let t = 0; t < 10000 && mask[cy * W + cx] === 0; t++) {
          cy = rng.int(H);
          cx = rng.int(W);
        }
      }
      const y0 = Math.min(Math.max(0, cy - (size >> 1)), H - size);
      const x0 = Math.min(Math.max(0, cx - (size >> 1)), W - size);
      const z = rng.int(this.depth);
      const win = await this.readWindow(z, z + 1, y0, y0 + size, x0, x0 + size);
      let m: Uint8Array | undefined;
      if (mask) {
        m = new Uint8Array(size * size);
        for (let y = 0; y < size; y++) m.set(mask.subarray((y0 + y) * W + x0, (y0 + y) * W + x0 + size), y * size);
      }
      accumulateHistogram(hist, win.data, m);
    }
    if (hist.total === 0)
      throw new Error(`sampleHistogram: no pixels inside the mask of ${this.dataset.root} were sampled`);
    return hist;
  }

  /** The normaliser for this view's `normalize` option, fitted once on a sample inside the mask. */
  normalizer(opts: SampleOptions = {}): Promise<Normalizer> {
    if (!this.normalizerCache) {
      const bits = this.dtype === 'uint16' ? 16 : 8;
      this.normalizerCache = (async () =>
        fitNormalizer(
          this.normalizeSpec,
          bits,
          needsSample(this.normalizeSpec) ? await this.sampleHistogram(opts) : null,
        ))();
      this.normalizerCache.catch(() => {
        this.normalizerCache = null;
      });
    }
    return this.normalizerCache;
  }

  /** `readWindow` followed by the view's normalisation, as float32 [z,y,x]. */
  async readWindowNormalized(
    z0: number,
    z1: number,
    y0: number,
    y1: number,
    x0: number,
    x1: number,
  ): Promise<{ shape: [number, number, number]; data: Float32Array }> {
    const win = await this.readWindow(z0, z1, y0, y1, x0, x1);
    return { shape: win.shape, data: (await this.normalizer()).apply(win.data) };
  }

  /** Closes layer files and drops cached decodes. */
  async close(): Promise<void> {
    const all = [...this.layers.values()];
    this.layers.clear();
    for (const p of all) {
      try {
        (await p).close();
      } catch {
        /* a layer that failed to open holds nothing */
      }
    }
    this.cache.clear();
  }
}
