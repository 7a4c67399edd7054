/**
 * Element types shared by the engine, the checkpoint readers and the data readers.
 * Names follow PyTorch's (`torch.float32` -> 'float32').
 */
export const DTYPES = [
  'float32',
  'float16',
  'bfloat16',
  'float64',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
] as const;
export type DType = (typeof DTYPES)[number];

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function isDType(name: string): name is DType {
  return (DTYPES as readonly string[]).includes(name);
}

/** The typed array that holds each dtype's elements in JS (float16/bfloat16 as raw 16-bit words). */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16' | 'float16' | 'bfloat16'
          ? D extends 'int16'
            ? Int16Array
            : Uint16Array
          : D extends 'int8'
            ? Int8Array
            : Uint8Array;

export type AnyTypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** The dtype a typed array holds by default (Uint16Array is read as float16 only when asked). */
export function dtypeOfArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Uint16Array) return 'float16';
  if (a instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** A view of `bytes` (contiguous, little-endian) as the typed array for `dtype`; copies when misaligned. */
export function typedView(bytes: Uint8Array, dtype: DType): AnyTypedArray {
  const size = DTYPE_SIZE[dtype];
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = aligned.byteLength / size;
  const buf = aligned.buffer;
  const off = aligned.byteOffset;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf, off, n);
    case 'float64':
      return new Float64Array(buf, off, n);
    case 'int64':
      return new BigInt64Array(buf, off, n);
    case 'int32':
      return new Int32Array(buf, off, n);
    case 'int16':
      return new Int16Array(buf, off, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf, off, n);
    case 'int8':
      return new Int8Array(buf, off, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf, off, n);
  }
}

export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2,64,64]` as it appears in error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
