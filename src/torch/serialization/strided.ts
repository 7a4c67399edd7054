/**
 * Materialises a strided view of a storage (what `torch._utils._rebuild_tensor_v2` describes: storage offset,
 * sizes and strides, all in elements) into contiguous row-major bytes.
 *
 * Contiguous views - the common case, every tensor of a plain state dict - are returned as a subarray of the
 * storage (no copy), so tensors that shared a storage in the file still share memory. Other views (transposed,
 * expanded with stride 0, strided slices) are gathered run by run; a run is copied with `set` when it is long
 * and element by element (as 1/2/4-byte words, never through floats, so NaN payloads survive) when it is short.
 */
import { DTYPE_SIZE, formatShape } from '../dtype.js';
import { recordStorageView, TorchStorage } from './pyvalue.js';

/**
 * A storage whose bytes are not read yet: the legacy format names every storage's dtype inside the object
 * pickle but stores the bytes after it, so that pickle is first read once with these to learn the dtypes.
 * Views of one are validated but not materialised.
 */
export class PendingStorage extends TorchStorage {
  constructor(
    dtype: TorchStorage['dtype'],
    readonly pendingNumel: number,
  ) {
    super(dtype, new Uint8Array(0));
  }
}

type Words = Uint8Array | Uint16Array | Uint32Array;

/** Largest Uint8Array this Node can allocate (buffer.constants.MAX_LENGTH without importing node:buffer). */
const MAX_BYTES = 2 ** 32;

export function materialiseView(
  storage: TorchStorage,
  offset: number,
  size: readonly number[],
  stride: readonly number[],
  where: string,
): Uint8Array {
  const what = `${where}: tensor view (offset ${offset}, size ${formatShape(size)}, stride ${formatShape(stride)})`;
  if (size.length !== stride.length) throw new Error(`${what}: size and stride have different lengths`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error(`${what}: bad storage offset`);
  let numel = 1;
  let last = offset;
  for (let d = 0; d < size.length; d++) {
    const n = size[d]!;
    const s = stride[d]!;
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what}: bad size ${n} in dimension ${d}`);
    if (!Number.isSafeInteger(s) || s < 0) throw new Error(`${what}: bad stride ${s} in dimension ${d}`);
    numel *= n;
    if (n > 0) last += (n - 1) * s;
  }
  const itemsize = DTYPE_SIZE[storage.dtype];
  if (numel === 0 || storage instanceof PendingStorage) return new Uint8Array(0);
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw new Error(`${what}: reaches element ${last} but the ${storage.dtype} storage has ${storage.numel} elements`);
  }
  if (numel * itemsize > MAX_BYTES)
    throw new Error(`${what}: ${numel * itemsize} bytes is more than one buffer can hold`);

  // Drop dimensions of size 1 (their stride is meaningless) and merge neighbours that are contiguous together.
  const dims: { n: number; s: number }[] = [];
  for (let d = 0; d < size.length; d++) {
    const n = size[d]!;
    if (n === 1) continue;
    const s = stride[d]!;
    const prev = dims[dims.length - 1];
    if (prev !== undefined && prev.s === s * n) {
      prev.n *= n;
      prev.s = s;
    } else dims.push({ n, s });
  }
  if (dims.length === 0 || (dims.length === 1 && dims[0]!.s === 1)) {
    const view = storage.data.subarray(offset * itemsize, (offset + numel) * itemsize);
    recordStorageView(view, storage, offset);
    return view;
  }
  return gather(storage.data, itemsize, offset, dims, numel);
}

function wordsOf(bytes: Uint8Array, width: number): Words {
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  const n = aligned.byteLength / width;
  if (width === 4) return new Uint32Array(aligned.buffer, aligned.byteOffset, n);
  if (width === 2) return new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  return aligned;
}

function gather(
  data: Uint8Array,
  itemsize: number,
  offset: number,
  dims: readonly { n: number; s: number }[],
  numel: number,
): Uint8Array {
  const width = Math.min(itemsize, 4);
  const per = itemsize / width; // words per element (2 for 8-byte types)
  const src = wordsOf(data, width);
  const out = new Uint8Array(numel * itemsize);
  const dst = wordsOf(out, width);
  const inner = dims[dims.length - 1]!;
  const outer = dims.slice(0, -1);
  const idx = new Array<number>(outer.length).fill(0);
  const runWords = inner.n * per;
  const copyWhole = inner.s === 1 && runWords >= 32;
  let base = offset;
  let o = 0;
  for (;;) {
    if (copyWhole) {
      dst.set(src.subarray(base * per, base * per + runWords), o);
      o += runWords;
    } else if (per === 1) {
      for (let j = 0, p = base; j < inner.n; j++, p += inner.s) dst[o++] = src[p]!;
    } else {
      for (let j = 0, p = base * per; j < inner.n; j++, p += inner.s * per) {
        for (let k = 0; k < per; k++) dst[o++] = src[p + k]!;
      }
    }
    let d = outer.length - 1;
    for (; d >= 0; d--) {
      const dim = outer[d]!;
      idx[d]!++;
      base += dim.s;
      if (idx[d]! < dim.n) break;
      base -= dim.s * dim.n;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}
