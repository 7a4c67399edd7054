/**
 * Materialising `_rebuild_tensor_v2` views: random shapes, strides (0 included) and offsets for every element
 * size against a naive index-by-index reference; contiguous views are subarrays of the storage; 8-byte
 * elements keep NaN payloads; misaligned storages (legacy files) work; out-of-bounds views are errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DType, DTYPE_SIZE } from '../../src/torch/dtype.js';
import { TorchStorage } from '../../src/torch/serialization/index.js';
import { materialiseView } from '../../src/torch/serialization/strided.js';

/** Deterministic pseudo-random numbers (mulberry32), so a failure is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function reference(storage: TorchStorage, offset: number, size: number[], stride: number[]): Uint8Array {
  const item = DTYPE_SIZE[storage.dtype];
  const numel = size.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * item);
  const idx = new Array<number>(size.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let e = offset;
    for (let d = 0; d < size.length; d++) e += idx[d]! * stride[d]!;
    out.set(storage.data.subarray(e * item, (e + 1) * item), n * item);
    for (let d = size.length - 1; d >= 0; d--) {
      if (++idx[d]! < size[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

function storageOf(dtype: DType, numel: number, misalign = 0): TorchStorage {
  const raw = new Uint8Array(numel * DTYPE_SIZE[dtype] + misalign);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 131 + 17) & 0xff;
  return new TorchStorage(dtype, raw.subarray(misalign));
}

test('random views of every element size match the naive reference', () => {
  const next = rng(42);
  const int = (n: number): number => Math.floor(next() * n);
  for (const dtype of ['uint8', 'float16', 'float32', 'int64'] as DType[]) {
    for (let trial = 0; trial < 400; trial++) {
      const rank = int(5);
      const size = Array.from({ length: rank }, () => int(5));
      const stride = Array.from({ length: rank }, () => (int(4) === 0 ? 0 : int(30)));
      const offset = int(10);
      let last = offset;
      size.forEach((n, d) => {
        if (n > 0) last += (n - 1) * stride[d]!;
      });
      const s = storageOf(dtype, last + 1 + int(3), int(4) === 0 ? 1 : 0);
      const got = materialiseView(s, offset, size, stride, 'test');
      const numel = size.reduce((a, b) => a * b, 1);
      assert.deepStrictEqual(
        got,
        numel === 0 ? new Uint8Array(0) : reference(s, offset, size, stride),
        `${dtype} size ${size} stride ${stride} offset ${offset}`,
      );
    }
  }
});

test('transposed, expanded and long-run views', () => {
  const s = new TorchStorage('float32', new Uint8Array(Float32Array.from({ length: 24 }, (_, i) => i).buffer));
  const t = new Float32Array(materialiseView(s, 0, [6, 4], [1, 6], 't').buffer);
  assert.deepStrictEqual([...t.subarray(0, 5)], [0, 6, 12, 18, 1]);
  const e = new Float32Array(materialiseView(s, 2, [3, 4], [1, 0], 'e').buffer);
  assert.deepStrictEqual([...e], [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4]);
  const big = new TorchStorage('float32', new Uint8Array(4 * 64 * 100));
  new Float32Array(big.data.buffer).forEach((_, i, a) => {
    a[i] = i;
  });
  const rows = new Float32Array(materialiseView(big, 64, [50, 64], [128, 1], 'rows').buffer);
  assert.equal(rows[0], 64);
  assert.equal(rows[64], 192);
});

test('contiguous views are subarrays of the storage, not copies', () => {
  const s = storageOf('float32', 24);
  const v = materialiseView(s, 5, [2, 1, 3], [3, 7, 1], 'v'); // a size-1 dim's stride does not matter
  assert.equal(v.buffer, s.data.buffer);
  assert.equal(v.byteOffset, s.data.byteOffset + 20);
  assert.equal(v.byteLength, 24);
});

test('8-byte elements are copied bit for bit (NaN payloads survive)', () => {
  const words = BigUint64Array.of(0x7ff8000000000001n, 0xfff0000000000abcn, 0x7ff4000000000000n);
  const s = new TorchStorage('float64', new Uint8Array(words.buffer));
  const out = materialiseView(s, 0, [2, 3], [0, 1], 'nan');
  assert.deepStrictEqual([...new BigUint64Array(out.buffer)], [...words, ...words]);
});

test('views outside their storage, negative strides and mismatched ranks are errors', () => {
  const s = storageOf('float32', 10);
  assert.throws(
    () => materialiseView(s, 0, [3, 4], [4, 1], 'f.pth'),
    /f\.pth: tensor view \(offset 0, size \[3,4\], stride \[4,1\]\): reaches element 11 but the float32 storage has 10 elements/,
  );
  assert.throws(() => materialiseView(s, 10, [1], [1], 'f'), /reaches element 10/);
  assert.throws(() => materialiseView(s, 0, [2], [-1], 'f'), /bad stride -1/);
  assert.throws(() => materialiseView(s, -1, [2], [1], 'f'), /bad storage offset/);
  assert.throws(() => materialiseView(s, 0, [2, 2], [1], 'f'), /size and stride have different lengths/);
  assert.equal(materialiseView(s, 100, [0, 5], [5, 1], 'f').length, 0, 'an empty view needs no storage');
});
