import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readNpy } from '../../src/torch/serialization/npy.js';
import type { StoredTensor } from '../../src/torch/serialization/stored.js';
import { fromStored } from '../../src/torch/ops/creation.js';
import { Tensor } from '../../src/torch/tensor.js';
import { typedView } from '../../src/torch/dtype.js';

export function loadNpyFile(path: string): StoredTensor {
  return readNpy(new Uint8Array(readFileSync(path)), path);
}

export function loadNpyTensor(path: string): Tensor {
  return fromStored(loadNpyFile(path));
}

function asNumbers(x: Tensor | StoredTensor): { shape: readonly number[]; values: Float64Array } {
  if (x instanceof Tensor) {
    const arr = x.dtype === 'float16' || x.dtype === 'bfloat16' ? x.toFloat32Array() : x.toTypedArray();
    return { shape: x.shape, values: Float64Array.from(arr as ArrayLike<number | bigint>, Number) };
  }
  const arr = typedView(x.data, x.dtype);
  return { shape: x.shape, values: Float64Array.from(arr as ArrayLike<number | bigint>, Number) };
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| element-wise (numpy's allclose), with equal shapes;
 * the message names `what`, the worst element and its values.
 */
export function assertClose(
  actual: Tensor | StoredTensor,
  expected: Tensor | StoredTensor,
  what: string,
  tol: { rtol?: number; atol?: number } = {},
): number {
  const a = asNumbers(actual);
  const e = asNumbers(expected);
  assert.deepEqual(
    [...a.shape],
    [...e.shape],
    `${what}: shape ${JSON.stringify(a.shape)} != expected ${JSON.stringify(e.shape)}`,
  );
  const rtol = tol.rtol ?? 1e-5;
  const atol = tol.atol ?? 1e-6;
  let worst = -1;
  let worstExcess = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.values.length; i++) {
    const diff = Math.abs(a.values[i]! - e.values[i]!);
    if (Number.isNaN(a.values[i]!) !== Number.isNaN(e.values[i]!)) assert.fail(`${what}: NaN mismatch at ${i}`);
    maxDiff = Math.max(maxDiff, Number.isNaN(diff) ? 0 : diff);
    const excess = diff - (atol + rtol * Math.abs(e.values[i]!));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0)
    assert.fail(
      `${what}: element ${worst} is ${a.values[worst]}, expected ${e.values[worst]} (rtol ${rtol}, atol ${atol}; max diff ${maxDiff})`,
    );
  return maxDiff;
}
