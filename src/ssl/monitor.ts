/**
 * Collapse monitor: the per-dimension standard deviation of L2-normalised embeddings, averaged over the
 * dimensions (SimSiam, Chen & He 2021, Sec. 4.1 and Fig. 2: with collapse it goes to 0, otherwise it stays
 * near 1/sqrt(D)). The reference study logged the same quantity (lightly's `std_of_l2_normalized`).
 */
import { noGrad } from '../torch/autograd.js';
import * as F from '../torch/ops/functional.js';
import { tidy } from '../torch/scope.js';
import type { Tensor } from '../torch/tensor.js';
import { checkEmbedding } from './checks.js';

/** mean over dims of std over the batch (unbiased) of F.normalize(z, dim 1); z [N,D] with N >= 2. */
export function embeddingStd(z: Tensor): number {
  checkEmbedding('embeddingStd', 'z', z);
  if (z.shape[0]! < 2)
    throw new Error(`embeddingStd: needs at least 2 embeddings to measure a spread, got z [${z.shape.join(',')}]`);
  return noGrad(() => tidy(() => F.normalize(z.detach(), 2, 1).std(0).mean().item()));
}

export interface CollapseStatus {
  /** The measured embeddingStd. */
  std: number;
  /** 1/sqrt(D), what embeddings spread uniformly over the sphere give. */
  expected: number;
  /** std / expected: ~1 healthy, -> 0 collapsed. */
  ratio: number;
  /** ratio below the threshold. */
  collapsed: boolean;
}

/** The default threshold on std * sqrt(D) below which embeddings count as collapsed. */
export const COLLAPSE_RATIO = 0.25;

/**
 * Judges a measured `std` of D-dimensional embeddings: collapsed when std < minRatio / sqrt(D)
 * (default 0.25, i.e. a spread under a quarter of the uniform one).
 */
export function collapseStatus(std: number, dim: number, opts: { minRatio?: number } = {}): CollapseStatus {
  if (!Number.isInteger(dim) || dim < 1)
    throw new Error(`collapseStatus: dim must be a positive integer, got ${String(dim)}`);
  if (typeof std !== 'number' || !(std >= 0))
    throw new Error(`collapseStatus: std must be a non-negative number, got ${String(std)}`);
  const minRatio = opts.minRatio ?? COLLAPSE_RATIO;
  if (!(minRatio > 0 && minRatio <= 1))
    throw new Error(`collapseStatus: minRatio must be in (0, 1], got ${String(minRatio)}`);
  const expected = 1 / Math.sqrt(dim);
  const ratio = std / expected;
  return { std, expected, ratio, collapsed: ratio < minRatio };
}

/** Measures `z` [N,D] and judges it: `collapseStatus(embeddingStd(z), D, opts)`. */
export function checkCollapse(z: Tensor, opts: { minRatio?: number } = {}): CollapseStatus {
  return collapseStatus(embeddingStd(z), z.shape[1]!, opts);
}
