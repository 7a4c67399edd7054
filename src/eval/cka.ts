/**
 * Centred kernel alignment between representation sets (docs/ssl-and-cka.md):
 * - Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural Network Representations Revisited":
 *   CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) * HSIC(L, L)), HSIC(K, L) = <HKH, HLH>_F / (n-1)^2, H = I - 11^T/n;
 *   linear CKA in feature space ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) for column-centred X, Y; RBF kernel
 *   K_ij = exp(-d_ij^2 / (2 * threshold^2 * median(d^2))), the median taken over all n x n squared distances
 *   (diagonal included), as in the paper's notebook and the reference study's cka_utils.py (threshold 0.5 there).
 * - Song, Smola, Gretton, Bedo & Borgwardt 2012 (JMLR), unbiased HSIC: with K~, L~ the grams with zeroed diagonals,
 *   HSIC1 = [tr(K~L~) + (1^T K~ 1)(1^T L~ 1)/((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3)); needs n > 3.
 * - Nguyen, Raghu & Kornblith 2021, "Do Wide and Deep Networks Learn the Same Things?": minibatch CKA averages
 *   HSIC1 over minibatches before normalising, mean(HSIC1(K_i, L_i)) / sqrt(mean(HSIC1(K_i, K_i)) mean(HSIC1(L_i, L_i))).
 *
 * Everything is computed in float64 on the CPU. A representation is a Tensor [n, ...] (flattened to [n, p]) or
 * a flat Float32Array / Float64Array of n rows (`samples` says n).
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { median } from '../util/stats.js';

export type CkaKernel = 'linear' | 'rbf';

export interface CkaOptions {
  /** 'linear' (default) or 'rbf'. */
  kernel?: CkaKernel;
  /** RBF bandwidth as a fraction of the median distance (default 0.5, the reference study's value). */
  threshold?: number;
  /** Use the unbiased HSIC estimator (Song et al. 2012) instead of the biased one. */
  debiased?: boolean;
}

export type Representation = Tensor | Float32Array | Float64Array;

export interface MatrixOptions extends CkaOptions {
  /** Rows n of flat Float32Array / Float64Array representations (required for those). */
  samples?: number;
  /**
   * Minibatch CKA (Nguyen et al. 2021) over consecutive batches of this many rows, the same rows for every
   * representation; implies the unbiased estimator. A trailing batch too small for it (<= 3 rows) joins the previous batch.
   */
  batchSize?: number;
}

/** The default RBF threshold: the reference study's cka_utils.py used 0.5 x the median distance. */
export const DEFAULT_RBF_THRESHOLD = 0.5;

function describe(x: Representation): string {
  return x instanceof torch.Tensor ? `[${x.shape.join(', ')}]` : `${x.constructor.name}(${x.length})`;
}

/** `x` as a float64 CPU tensor [n, p] (the caller's scope owns it). */
export function toMatrix(x: Representation, op: string, what: string, samples?: number): Tensor {
  if (x instanceof torch.Tensor) {
    if (x.rank < 2)
      throw new Error(`${op}: ${what} has shape ${describe(x)}, expected [n, p] (n samples of p features)`);
    if (x.shape[0]! === 0 || x.numel === 0)
      throw new Error(`${op}: ${what} has shape ${describe(x)}, expected at least one sample and one feature`);
    return torch.noGrad(() => x.detach().to({ device: 'cpu', dtype: 'float64' }).reshape([x.shape[0]!, -1]));
  }
  if (samples === undefined)
    throw new Error(`${op}: ${what} is a flat ${describe(x)}, expected the number of rows in 'samples'`);
  if (!Number.isInteger(samples) || samples <= 0 || x.length === 0 || x.length % samples !== 0) {
    throw new Error(`${op}: ${what} has ${x.length} values, not a whole number of rows for samples = ${samples}`);
  }
  return torch.fromTypedArray(Float64Array.from(x), [samples, x.length / samples], { dtype: 'float64' });
}

function checkThreshold(op: string, threshold: number): void {
  if (!(threshold > 0) || !Number.isFinite(threshold))
    throw new Error(`${op}: RBF threshold ${threshold} is invalid, expected a positive number`);
}

function checkFinite(op: string, x: Tensor, what: string): void {
  // x - x is exactly 0 for finite x and NaN for NaN or +-Infinity.
  const bad = torch.tidy(() => x.sub(x).ne(0).sum().item());
  if (bad > 0) throw new Error(`${op}: ${what} holds ${bad} NaN or infinite values, expected finite features`);
}

/** Linear gram X X^T of [n, p] rows. */
export function linearGram(x: Tensor): Tensor {
  return x.matmul(x.T);
}

/**
 * RBF gram exp(-d^2 / (2 * threshold^2 * median(d^2))) of [n, p] rows (Kornblith et al. 2019, notebook's
 * gram_rbf): squared distances from the dot products, clamped at 0 with an exact zero diagonal.
 */
export function rbfGram(x: Tensor, threshold = DEFAULT_RBF_THRESHOLD, op = 'rbfGram'): Tensor {
  checkThreshold(op, threshold);
  const n = x.shape[0]!;
  return torch.tidy(() => {
    const dots = x.matmul(x.T);
    const sq = x.mul(x).sum(1);
    const d2raw = sq.unsqueeze(1).add(sq.unsqueeze(0)).sub(dots, { alpha: 2 }).clamp(0, null);
    const d2 = torch.maskedFill(d2raw, torch.eye(n, n, { dtype: 'bool' }), 0);
    const med = median(d2.toTypedArray() as Float64Array);
    if (!(med > 0)) {
      throw new Error(
        `${op}: the median squared distance between the ${n} rows is 0 (at least half of the row pairs are identical), so the RBF bandwidth threshold x median is 0; expected mostly distinct rows`,
      );
    }
    return d2.div(-2 * threshold * threshold * med).exp();
  });
}

/**
 * Largest sample count for one n x n float64 gram (2 GiB; a CKA holds a few at once). Beyond it, minibatch CKA
 * (Nguyen et al. 2021) is the method meant for the job.
 */
export const MAX_GRAM_SAMPLES = 16384;

/** The gram of `x` for a kernel. */
export function gram(x: Tensor, kernel: CkaKernel, threshold = DEFAULT_RBF_THRESHOLD, op = 'gram'): Tensor {
  const n = x.shape[0]!;
  if (n > MAX_GRAM_SAMPLES) {
    throw new Error(
      `${op}: ${n} samples need ${n}x${n} grams (${((n * n * 8) / 2 ** 30).toFixed(1)} GiB each in float64), more than the ${MAX_GRAM_SAMPLES}-sample limit; use minibatch CKA (batchSize / --batch-size) for sample sets this large`,
    );
  }
  if (kernel === 'linear') return linearGram(x);
  if (kernel === 'rbf') return rbfGram(x, threshold, op);
  throw new Error(`${op}: kernel '${String(kernel)}' is unknown, expected 'linear' or 'rbf'`);
}

/**
 * A gram prepared for HSIC: centred HKH (biased) or diagonal-zeroed K~ with its row sums and total (unbiased).
 */
export interface PreparedGram {
  n: number;
  debiased: boolean;
  k: Tensor;
  rowSums: Tensor | null;
  total: number;
}

/** Prepares a gram for `hsic` (see PreparedGram); the tensors belong to the caller's scope. */
export function prepareGram(k: Tensor, debiased: boolean, op = 'prepareGram'): PreparedGram {
  const n = k.shape[0]!;
  if (k.rank !== 2 || k.shape[1] !== n)
    throw new Error(`${op}: gram has shape [${k.shape.join(', ')}], expected a square [n, n]`);
  if (debiased) {
    if (n <= 3)
      throw new Error(
        `${op}: the debiased (unbiased HSIC) estimator needs more than 3 samples (its n(n-3) denominator), got n = ${n}`,
      );
    const kt = torch.maskedFill(k, torch.eye(n, n, { dtype: 'bool' }), 0);
    const rowSums = kt.sum(1);
    return { n, debiased, k: kt, rowSums, total: rowSums.sum().item() };
  }
  // HKH = K - row means - column means + grand mean (Kornblith et al. 2019).
  const kc = k.sub(k.mean(0, true)).sub(k.mean(1, true)).add(k.mean());
  return { n, debiased, k: kc, rowSums: null, total: 0 };
}

/**
 * HSIC of two prepared grams: biased <HKH, HLH>_F / (n-1)^2 (Gretton et al. 2005) or unbiased HSIC1
 * (Song et al. 2012, the formula in docs/ssl-and-cka.md).
 */
export function hsic(a: PreparedGram, b: PreparedGram, op = 'hsic'): number {
  if (a.n !== b.n) throw new Error(`${op}: grams over ${a.n} and ${b.n} samples, expected the same samples`);
  if (a.debiased !== b.debiased)
    throw new Error(`${op}: one gram is prepared for the biased and one for the unbiased estimator`);
  const n = a.n;
  const trace = torch.tidy(() => a.k.mul(b.k).sum().item());
  if (!a.debiased) return trace / ((n - 1) * (n - 1));
  const cross = torch.tidy(() => a.rowSums!.mul(b.rowSums!).sum().item());
  return (trace + (a.total * b.total) / ((n - 1) * (n - 2)) - (2 / (n - 2)) * cross) / (n * (n - 3));
}

/**
 * Relative spread below which a representation counts as constant: max |x - column mean| <= 1e-12 max |x|.
 * Centring a constant column leaves rounding noise of ~1e-16 relative, while any variation a float32 value can
 * carry is >= ~6e-8 relative, so the test separates the two cleanly (an HSIC-size test would not: the unbiased
 * estimator's cancellation leaves noise of ~1e-16 of its terms).
 */
const CONSTANT_SPREAD = 1e-12;

/** True when some feature of `x` [n, p] varies across the rows. */
function varies(x: Tensor): boolean {
  const [spread, scale] = torch.tidy(() => [x.sub(x.mean(0, true)).abs().amax().item(), x.abs().amax().item()]);
  return spread > CONSTANT_SPREAD * scale;
}

function constantError(op: string, what: string, rows: string): Error {
  return new Error(
    `${op}: HSIC(${what}, ${what}), the CKA denominator, is 0: its features are constant across the samples (${rows} are the same, e.g. a collapsed representation); expected representations that vary across samples`,
  );
}

function checkVaries(op: string, x: Tensor, what: string): void {
  if (!varies(x)) throw constantError(op, what, `all ${x.shape[0]} rows`);
}

/** HSIC(K, K) for a CKA denominator; the unbiased estimate can come out <= 0 for tiny or degenerate samples. */
function selfHsicOrThrow(p: PreparedGram, op: string, what: string): number {
  const h = hsic(p, p, op);
  if (!(h > 0)) {
    throw new Error(
      `${op}: HSIC(${what}, ${what}), the CKA denominator, is ${h === 0 ? '0' : `negative (${h.toExponential(3)})`}: the ${p.debiased ? 'unbiased ' : ''}estimate over ${p.n} samples is unusable (too few or too degenerate samples); expected representations that vary across more samples`,
    );
  }
  return h;
}

function checkPair(op: string, x: Tensor, y: Tensor): void {
  if (x.shape[0] !== y.shape[0]) {
    throw new Error(
      `${op}: X has ${x.shape[0]} rows and Y has ${y.shape[0]} (shapes [${x.shape.join(', ')}] and [${y.shape.join(', ')}]), expected the same samples in both`,
    );
  }
}

function kernelOf(opts: CkaOptions, op: string): CkaKernel {
  const k = opts.kernel ?? 'linear';
  if (k !== 'linear' && k !== 'rbf')
    throw new Error(`${op}: kernel '${String(k)}' is unknown, expected 'linear' or 'rbf'`);
  return k;
}

/**
 * Biased linear CKA in feature space (Kornblith et al. 2019, eq. after "linear CKA"):
 * ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X, Y. Cheaper than grams when p << n.
 */
export function featureSpaceLinearCka(xIn: Representation, yIn: Representation, samples?: number): number {
  const op = 'featureSpaceLinearCka';
  return torch.tidy(() => {
    const x = toMatrix(xIn, op, 'X', samples);
    const y = toMatrix(yIn, op, 'Y', samples);
    checkPair(op, x, y);
    checkFinite(op, x, 'X');
    checkFinite(op, y, 'Y');
    checkVaries(op, x, 'X');
    checkVaries(op, y, 'Y');
    const xc = x.sub(x.mean(0, true));
    const yc = y.sub(y.mean(0, true));
    const frob2 = (m: Tensor): number => m.mul(m).sum().item();
    const num = frob2(yc.T.matmul(xc));
    const nx = Math.sqrt(frob2(xc.T.matmul(xc)));
    const ny = Math.sqrt(frob2(yc.T.matmul(yc)));
    return num / (nx * ny);
  });
}

/**
 * CKA between representations X [n, p1] and Y [n, p2] (same n rows; p may differ): linear or RBF kernel,
 * biased (Kornblith et al. 2019) or debiased (unbiased HSIC, Song et al. 2012). Throws, naming the problem,
 * where other tools return NaN: n <= 3 with `debiased`, constant representations (zero denominator), NaN inputs.
 */
export function cka(xIn: Representation, yIn: Representation, opts: CkaOptions & { samples?: number } = {}): number {
  const op = 'cka';
  const kernel = kernelOf(opts, op);
  const threshold = opts.threshold ?? DEFAULT_RBF_THRESHOLD;
  if (kernel === 'rbf') checkThreshold(op, threshold);
  return torch.tidy(() => {
    const x = toMatrix(xIn, op, 'X', opts.samples);
    const y = toMatrix(yIn, op, 'Y', opts.samples);
    checkPair(op, x, y);
    checkFinite(op, x, 'X');
    checkFinite(op, y, 'Y');
    const n = x.shape[0]!;
    const debiased = opts.debiased ?? false;
    if (n < 2) throw new Error(`${op}: X and Y have ${n} sample, expected at least 2`);
    if (debiased && n <= 3)
      throw new Error(
        `${op}: the debiased (unbiased HSIC) estimator needs more than 3 samples (its n(n-3) denominator), got n = ${n}`,
      );
    checkVaries(op, x, 'X');
    checkVaries(op, y, 'Y');
    const p1 = x.shape[1]!;
    const p2 = y.shape[1]!;
    // Biased linear CKA: feature space when its cost n(p1 p2 + p1^2 + p2^2) is below the grams' n^2 (p1 + p2).
    if (kernel === 'linear' && !debiased && p1 * p2 + p1 * p1 + p2 * p2 < n * (p1 + p2))
      return featureSpaceLinearCka(x, y);
    const px = prepareGram(gram(x, kernel, threshold, op), debiased, op);
    const py = prepareGram(gram(y, kernel, threshold, op), debiased, op);
    const hxx = selfHsicOrThrow(px, op, 'X');
    const hyy = selfHsicOrThrow(py, op, 'Y');
    return hsic(px, py, op) / Math.sqrt(hxx * hyy);
  });
}

/**
 * Minibatch CKA (Nguyen et al. 2021): feed aligned minibatches of X and Y with `update`; `value()` is
 * mean HSIC(K_i, L_i) / sqrt(mean HSIC(K_i, K_i) * mean HSIC(L_i, L_i)). Unbiased HSIC1 by default, as in
 * the paper (each batch then needs more than 3 rows); the RBF median is taken per batch.
 */
export class MinibatchCka {
  private xy = 0;
  private xx = 0;
  private yy = 0;
  private count = 0;
  /** Whether any batch of X (Y) varied: constant data gives HSIC rounding noise, not a usable denominator. */
  private xVaries = false;
  private yVaries = false;
  private readonly kernel: CkaKernel;
  private readonly threshold: number;
  private readonly debiased: boolean;

  constructor(opts: CkaOptions = {}) {
    this.kernel = kernelOf(opts, 'MinibatchCka');
    this.threshold = opts.threshold ?? DEFAULT_RBF_THRESHOLD;
    if (this.kernel === 'rbf') checkThreshold('MinibatchCka', this.threshold);
    this.debiased = opts.debiased ?? true;
  }

  /** Number of minibatches accumulated. */
  get batches(): number {
    return this.count;
  }

  /** Adds one minibatch: rows of X and Y for the same samples. */
  update(xIn: Representation, yIn: Representation, samples?: number): void {
    const op = `MinibatchCka.update (batch ${this.count})`;
    const [xy, xx, yy] = torch.tidy(() => {
      const x = toMatrix(xIn, op, 'X', samples);
      const y = toMatrix(yIn, op, 'Y', samples);
      checkPair(op, x, y);
      checkFinite(op, x, 'X');
      checkFinite(op, y, 'Y');
      const n = x.shape[0]!;
      if (this.debiased && n <= 3)
        throw new Error(`${op}: the unbiased HSIC of a minibatch needs more than 3 rows, got ${n}`);
      if (n < 2) throw new Error(`${op}: a minibatch needs at least 2 rows, got ${n}`);
      const vx = varies(x);
      const vy = varies(y);
      this.xVaries ||= vx;
      this.yVaries ||= vy;
      // A constant batch contributes HSIC 0 (its RBF median would be 0): skip its grams.
      if (!vx || !vy) {
        const p = vx
          ? prepareGram(gram(x, this.kernel, this.threshold, op), this.debiased, op)
          : vy
            ? prepareGram(gram(y, this.kernel, this.threshold, op), this.debiased, op)
            : null;
        const self = p === null ? 0 : hsic(p, p, op);
        return [0, vx ? self : 0, vy ? self : 0] as const;
      }
      const px = prepareGram(gram(x, this.kernel, this.threshold, op), this.debiased, op);
      const py = prepareGram(gram(y, this.kernel, this.threshold, op), this.debiased, op);
      return [hsic(px, py, op), hsic(px, px, op), hsic(py, py, op)] as const;
    });
    this.xy += xy;
    this.xx += xx;
    this.yy += yy;
    this.count++;
  }

  /** The minibatch CKA so far. */
  value(): number {
    if (this.count === 0)
      throw new Error('MinibatchCka.value: no minibatches were added, expected at least one update()');
    const what = (h: number, name: string): void => {
      const op = 'MinibatchCka.value';
      if (!(name === 'X' ? this.xVaries : this.yVaries))
        throw constantError(op, name, `the rows of all ${this.count} batches`);
      if (!(h > 0)) {
        throw new Error(
          `${op}: mean HSIC(${name}, ${name}) over ${this.count} batches, the CKA denominator, is ${h === 0 ? '0' : `negative (${h.toExponential(3)})`}: the unbiased estimates are unusable (batches too small or too degenerate); expected representations that vary across larger batches`,
        );
      }
    };
    what(this.xx, 'X');
    what(this.yy, 'Y');
    return this.xy / Math.sqrt(this.xx * this.yy);
  }
}

/**
 * Row ranges [start, end) of consecutive minibatches of `batchSize` rows over n rows; a trailing batch with
 * fewer than `minRows` rows joins the previous one so that every row is used.
 */
export function batchRanges(n: number, batchSize: number, minRows: number, op = 'batchRanges'): [number, number][] {
  if (!Number.isInteger(batchSize) || batchSize < minRows)
    throw new Error(`${op}: batch size ${batchSize} is invalid, expected an integer >= ${minRows}`);
  if (n < minRows) throw new Error(`${op}: ${n} samples cannot form a minibatch of at least ${minRows} rows`);
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += batchSize) out.push([s, Math.min(n, s + batchSize)]);
  const last = out.at(-1)!;
  if (out.length > 1 && last[1] - last[0] < minRows) {
    out.pop();
    out.at(-1)![1] = n;
  }
  return out;
}

/** Minibatch CKA (Nguyen et al. 2021) of X and Y over consecutive row batches of `batchSize` (see MinibatchCka, batchRanges). */
export function minibatchCka(
  xIn: Representation,
  yIn: Representation,
  opts: CkaOptions & { batchSize: number; samples?: number },
): number {
  const op = 'minibatchCka';
  const acc = new MinibatchCka(opts);
  torch.tidy(() => {
    const x = toMatrix(xIn, op, 'X', opts.samples);
    const y = toMatrix(yIn, op, 'Y', opts.samples);
    checkPair(op, x, y);
    for (const [s, e] of batchRanges(x.shape[0]!, opts.batchSize, (opts.debiased ?? true) ? 4 : 2, op)) {
      torch.tidy(() => acc.update(x.slice(0, s, e), y.slice(0, s, e)));
    }
  });
  return acc.value();
}

/**
 * The epoch x epoch CKA matrix of representation sets over the same samples (e.g. one per checkpoint):
 * each gram is built once. With `batchSize`, minibatch CKA over aligned row batches (unbiased HSIC).
 */
export function ckaMatrix(representations: readonly Representation[], opts: MatrixOptions = {}): number[][] {
  const op = 'ckaMatrix';
  const kernel = kernelOf(opts, op);
  const threshold = opts.threshold ?? DEFAULT_RBF_THRESHOLD;
  if (kernel === 'rbf') checkThreshold(op, threshold);
  const m = representations.length;
  if (m === 0) throw new Error(`${op}: no representations given, expected at least one [n, p] set`);
  return torch.tidy(() => {
    const mats = representations.map((r, i) => toMatrix(r, op, `representation ${i}`, opts.samples));
    const n = mats[0]!.shape[0]!;
    mats.forEach((x, i) => {
      if (x.shape[0] !== n)
        throw new Error(
          `${op}: representation ${i} has ${x.shape[0]} rows (shape [${x.shape.join(', ')}]), representation 0 has ${n}; expected the same samples in all`,
        );
      checkFinite(op, x, `representation ${i}`);
      checkVaries(op, x, `representation ${i}`);
    });
    const debiased = opts.batchSize !== undefined ? true : (opts.debiased ?? false);
    const ranges = opts.batchSize !== undefined ? batchRanges(n, opts.batchSize, 4, op) : [[0, n] as [number, number]];
    if (debiased && ranges.every(([s, e]) => e - s <= 3)) {
      throw new Error(
        `${op}: the debiased (unbiased HSIC) estimator needs more than 3 samples (its n(n-3) denominator), got n = ${n}`,
      );
    }
    const acc = Array.from({ length: m }, () => new Float64Array(m));
    for (const [s, e] of ranges) {
      torch.tidy(() => {
        const prepared = mats.map((x, i) =>
          prepareGram(
            gram(ranges.length > 1 ? x.slice(0, s, e) : x, kernel, threshold, `${op} (representation ${i})`),
            debiased,
            op,
          ),
        );
        for (let i = 0; i < m; i++) {
          for (let j = i; j < m; j++) {
            const h = hsic(prepared[i]!, prepared[j]!, op);
            acc[i]![j]! += h;
            if (j !== i) acc[j]![i]! += h;
          }
        }
        if (ranges.length === 1) prepared.forEach((p, i) => selfHsicOrThrow(p, op, `representation ${i}`));
      });
    }
    for (let i = 0; i < m; i++) {
      if (!(acc[i]![i]! > 0)) {
        throw new Error(
          `${op}: HSIC(representation ${i}, representation ${i}), the CKA denominator, is ${acc[i]![i]! === 0 ? '0' : `negative (${acc[i]![i]!.toExponential(3)})`}: the ${debiased ? 'unbiased ' : ''}estimate${ranges.length > 1 ? `, averaged over ${ranges.length} batches,` : ''} is unusable (too few or too degenerate samples); expected representations that vary across more samples`,
        );
      }
    }
    return Array.from({ length: m }, (_, i) =>
      Array.from({ length: m }, (_, j) => acc[i]![j]! / Math.sqrt(acc[i]![i]! * acc[j]![j]!)),
    );
  });
}
