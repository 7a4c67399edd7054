/** Joining, splitting, indexing and rearranging tensors. */
import { formatShape } from '../dtype.js';
import { callOp, callOpMulti, normDim, type Tensor, type TensorLike } from '../tensor.js';

function checkList(op: string, tensors: readonly Tensor[]): void {
  if (tensors.length === 0) throw new Error(`${op}: expected a non-empty list of tensors`);
}

/** Concatenates along `dim`; every other dimension must match. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  checkList('cat', tensors);
  const first = tensors[0]!;
  const d = normDim('cat', dim, first.rank);
  for (const [i, t] of tensors.entries()) {
    if (t.rank !== first.rank || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new Error(
        `cat: tensor ${i} has shape ${formatShape(t.shape)}, incompatible with ${formatShape(first.shape)} along dim ${dim}`,
      );
    }
  }
  return callOp('aten::cat', '', [tensors, dim]);
}

/** Stacks equally shaped tensors along a new dimension `dim`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  checkList('stack', tensors);
  const first = tensors[0]!;
  for (const [i, t] of tensors.entries()) {
    if (t.rank !== first.rank || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new Error(
        `stack: tensor ${i} has shape ${formatShape(t.shape)}, expected ${formatShape(first.shape)} like tensor 0`,
      );
    }
  }
  return callOp('aten::stack', '', [tensors, dim]);
}

/** Splits into chunks of `size` (the last may be smaller), or into the given `sizes`, along `dim`. */
export function split(t: Tensor, sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
  if (typeof sizeOrSizes === 'number') return callOpMulti('aten::split', 'Tensor', [t, sizeOrSizes, dim]);
  const total = sizeOrSizes.reduce((a, b) => a + b, 0);
  const n = t.shape[normDim('split', dim, t.rank)]!;
  if (total !== n)
    throw new Error(
      `split: sizes [${sizeOrSizes.join(',')}] sum to ${total}, but dim ${dim} of ${formatShape(t.shape)} has ${n}`,
    );
  return callOpMulti('aten::split_with_sizes', '', [t, sizeOrSizes, dim]);
}

/** Splits into `chunks` nearly equal parts along `dim`. */
export function chunk(t: Tensor, chunks: number, dim = 0): Tensor[] {
  return callOpMulti('aten::chunk', '', [t, chunks, dim]);
}

/** Rows (slices along `dim`) picked by an int64 `index` vector. */
export function indexSelect(t: Tensor, dim: number, index: Tensor): Tensor {
  if (index.rank !== 1) throw new Error(`indexSelect: index must be rank 1, got ${formatShape(index.shape)}`);
  return callOp('aten::index_select', '', [t, dim, index]);
}

/** out[i][j] = t[index[i][j]][j] for dim 0, and so on (torch.gather). */
export function gather(t: Tensor, dim: number, index: Tensor): Tensor {
  if (index.rank !== t.rank)
    throw new Error(`gather: index must have the rank of the input (${t.rank}), got ${formatShape(index.shape)}`);
  return callOp('aten::gather', '', [t, dim, index]);
}

/** Advanced indexing `t[i0, i1, ...]`: one index tensor (int64 or bool) or null (keep) per leading dimension. */
export function index(t: Tensor, indices: readonly (Tensor | null)[]): Tensor {
  if (indices.length > t.rank) throw new Error(`index: ${indices.length} indices for a tensor of rank ${t.rank}`);
  return callOp('aten::index', 'Tensor', [t, indices]);
}

/** Elements of `a` where `condition` is true, else of `b` (broadcasting). */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (condition.dtype !== 'bool') throw new Error(`where: condition must be bool, got ${condition.dtype}`);
  return callOp('aten::where', 'self', [condition, a, b]);
}

/** `t` with `value` where `mask` (bool, broadcastable) is true. */
export function maskedFill(t: Tensor, mask: Tensor, value: number): Tensor {
  if (mask.dtype !== 'bool') throw new Error(`maskedFill: mask must be bool, got ${mask.dtype}`);
  return callOp('aten::masked_fill', 'Scalar', [t, mask, value]);
}

/** The elements of `t` where `mask` is true, as a 1-D tensor. */
export function maskedSelect(t: Tensor, mask: Tensor): Tensor {
  if (mask.dtype !== 'bool') throw new Error(`maskedSelect: mask must be bool, got ${mask.dtype}`);
  return callOp('aten::masked_select', '', [t, mask]);
}

export function flip(t: Tensor, dims: readonly number[]): Tensor {
  for (const d of dims) normDim('flip', d, t.rank);
  return callOp('aten::flip', '', [t, dims]);
}

/** Rotates by 90 degrees `k` times in the plane of `dims` (from the first towards the second axis). */
export function rot90(t: Tensor, k = 1, dims: readonly [number, number] = [0, 1]): Tensor {
  if (t.rank < 2) throw new Error(`rot90: input must have rank >= 2, got ${formatShape(t.shape)}`);
  return callOp('aten::rot90', '', [t, k, dims]);
}

/** Rolls elements by `shifts` along `dims` (wrapping around). */
export function roll(t: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const s = typeof shifts === 'number' ? [shifts] : shifts;
  // Without dims PyTorch rolls the flattened tensor and restores the shape; that takes exactly one shift.
  const d = dims === undefined ? [] : typeof dims === 'number' ? [dims] : dims;
  if (dims === undefined ? s.length !== 1 : s.length !== d.length)
    throw new Error(`roll: ${s.length} shifts for ${dims === undefined ? 'the flattened tensor' : `${d.length} dims`}`);
  return callOp('aten::roll', '', [t, s, d]);
}

export function narrow(t: Tensor, dim: number, start: number, length: number): Tensor {
  return callOp('aten::narrow', '', [t, dim, start, length]);
}

/** Repeats the tensor along each dimension (torch.Tensor.repeat). */
export function repeat(t: Tensor, repeats: readonly number[]): Tensor {
  if (repeats.length < t.rank) throw new Error(`repeat: ${repeats.length} repeats for a tensor of rank ${t.rank}`);
  return callOp('aten::repeat', '', [t, repeats]);
}

/** Coordinate grids from 1-D tensors, 'ij' indexing. */
export function meshgrid(tensors: readonly Tensor[]): Tensor[] {
  return callOpMulti('aten::meshgrid', 'indexing', [tensors, 'ij']);
}

/** Element-wise maximum and minimum of two tensors (broadcasting). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return callOp('aten::maximum', '', [a, b]);
}
export function minimum(a: Tensor, b: Tensor): Tensor {
  return callOp('aten::minimum', '', [a, b]);
}

/** Sorted values and their indices along `dim`. */
export function sort(t: Tensor, dim = -1, descending = false): [Tensor, Tensor] {
  const [values, indices] = callOpMulti('aten::sort', '', [t, dim, descending]);
  return [values!, indices!];
}

/** Largest (or smallest) `k` elements along `dim`. */
export function topk(t: Tensor, k: number, dim = -1, largest = true): [Tensor, Tensor] {
  const [values, indices] = callOpMulti('aten::topk', '', [t, k, dim, largest, true]);
  return [values!, indices!];
}

/** Max over `dim` with the indices where it is reached. */
export function maxDim(t: Tensor, dim: number, keepdim = false): [Tensor, Tensor] {
  const [values, indices] = callOpMulti('aten::max', 'dim', [t, dim, keepdim]);
  return [values!, indices!];
}
