/** Argument checks shared by the self-supervised losses: every error names the function and the shapes. */
import { formatShape } from '../torch/dtype.js';
import type { Tensor } from '../torch/tensor.js';

/** Throws unless `t` is a floating-point [N,D] matrix; `what` names the argument (e.g. 'z1'). */
export function checkEmbedding(fn: string, what: string, t: Tensor): void {
  if (t.rank !== 2)
    throw new Error(`${fn}: ${what} must be a [N,D] matrix of embeddings, got rank ${t.rank} ${formatShape(t.shape)}`);
  if (!t.isFloatingPoint())
    throw new Error(`${fn}: ${what} ${formatShape(t.shape)} must be floating point, got ${t.dtype}`);
}

/** Throws unless `a` and `b` are [N,D] embeddings of the same shape (and `minBatch` rows or more). */
export function checkEmbeddingPair(
  fn: string,
  names: readonly [string, string],
  a: Tensor,
  b: Tensor,
  minBatch = 1,
): void {
  checkEmbedding(fn, names[0], a);
  checkEmbedding(fn, names[1], b);
  if (a.shape[0] !== b.shape[0] || a.shape[1] !== b.shape[1]) {
    throw new Error(
      `${fn}: ${names[0]} ${formatShape(a.shape)} and ${names[1]} ${formatShape(b.shape)} must have the same shape`,
    );
  }
  if (a.shape[0]! < minBatch) {
    throw new Error(`${fn}: needs at least ${minBatch} samples per batch, got ${names[0]} ${formatShape(a.shape)}`);
  }
  if (a.shape[1]! < 1) throw new Error(`${fn}: embeddings need at least one dimension, got ${formatShape(a.shape)}`);
}

/** Throws unless `x` is a finite number in [lo, hi]. */
export function checkRange(fn: string, what: string, x: number, lo: number, hi: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < lo || x > hi) {
    throw new Error(`${fn}: ${what} must be a number in [${lo}, ${hi}], got ${String(x)}`);
  }
}
