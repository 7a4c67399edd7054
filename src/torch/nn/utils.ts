/**
 * Flat views of parameters and gradients: one vector for all parameters (torch.nn.utils.parameters_to_vector)
 * and size-capped buckets of gradients, the unit data-parallel training allreduces (as DDP's Reducer does,
 * 25 MB buckets by default, filled in reverse registration order so the last layers' grads are ready first).
 */
import { noGrad } from '../autograd.js';
import { DTYPE_SIZE, formatShape } from '../dtype.js';
import { cat } from '../ops/shape.js';
import { zerosLike } from '../ops/creation.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/** All parameters concatenated into one new 1-D tensor (a copy). */
export function parametersToVector(params: readonly Tensor[]): Tensor {
  return tidy(() => noGrad(() => cat(params.map((p) => p.reshape([-1])))));
}

/** Copies consecutive slices of `vec` into `params` (the inverse of parametersToVector). */
export function vectorToParameters(vec: Tensor, params: readonly Tensor[]): void {
  const total = params.reduce((n, p) => n + p.numel, 0);
  if (vec.rank !== 1 || vec.numel !== total) {
    throw new Error(`vectorToParameters: expected a vector of ${total} elements for ${params.length} parameters, got ${formatShape(vec.shape)}`);
  }
  copySlices(vec, params);
}

function copySlices(vec: Tensor, targets: readonly Tensor[]): void {
  tidy(() => noGrad(() => {
    let offset = 0;
    for (const t of targets) {
      t.copy_(vec.slice(0, offset, offset + t.numel).view(t.shape));
      offset += t.numel;
    }
  }));
}

/** A group of parameters whose gradients travel together as one flat tensor. */
export interface GradBucket {
  params: Tensor[];
  numel: number;
  bytes: number;
}

/**
 * Groups parameters that require grad into buckets of at most `capBytes` (a parameter larger than the cap
 * gets a bucket of its own), in reverse order, as DDP does.
 */
export function gradBuckets(params: readonly Tensor[], capBytes = 25 * 1024 * 1024): GradBucket[] {
  const buckets: GradBucket[] = [];
  let cur: GradBucket = { params: [], numel: 0, bytes: 0 };
  for (const p of [...params].reverse()) {
    if (!p.requiresGrad) continue;
    const bytes = p.numel * DTYPE_SIZE[p.dtype];
    if (cur.params.length && (cur.bytes + bytes > capBytes || p.dtype !== cur.params[0]!.dtype)) {
      buckets.push(cur);
      cur = { params: [], numel: 0, bytes: 0 };
    }
    cur.params.push(p);
    cur.numel += p.numel;
    cur.bytes += bytes;
  }
  if (cur.params.length) buckets.push(cur);
  return buckets;
}

/** The bucket's gradients as one new flat tensor (zeros for parameters that got no gradient). */
export function flattenGrads(bucket: GradBucket): Tensor {
  return tidy(() => noGrad(() => cat(bucket.params.map((p) => (p.grad ?? zerosLike(p)).reshape([-1])))));
}

/** Writes a flat tensor (e.g. after allreduce) back into the bucket's gradients, creating missing ones. */
export function unflattenGrads(bucket: GradBucket, flat: Tensor): void {
  if (flat.rank !== 1 || flat.numel !== bucket.numel) {
    throw new Error(`unflattenGrads: expected ${bucket.numel} elements for the bucket, got ${formatShape(flat.shape)}`);
  }
  tidy(() => noGrad(() => {
    let offset = 0;
    for (const p of bucket.params) {
      const slice = flat.slice(0, offset, offset + p.numel).view(p.shape);
      const g = p.grad;
      if (g) g.copy_(slice);
      else p.grad = slice.clone();
      offset += p.numel;
    }
  }));
}
