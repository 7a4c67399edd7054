import { type DType, DTYPE_SIZE, formatShape, shapeNumel } from '../dtype.js';

/**
 * A tensor as it sits in a file: contiguous row-major little-endian bytes, independent of the native engine.
 * Checkpoint and array readers produce these; `torch.fromStored` turns one into a live Tensor.
 */
export interface StoredTensor {
  dtype: DType;
  shape: number[];
  /** numel * itemsize bytes, row-major (C order), little-endian. */
  data: Uint8Array;
  requiresGrad?: boolean;
}

/** Throws unless `t.data` holds exactly the bytes its dtype and shape call for. */
export function checkStored(t: StoredTensor, what: string): void {
  const want = shapeNumel(t.shape) * DTYPE_SIZE[t.dtype];
  if (t.data.byteLength !== want) {
    throw new Error(
      `${what}: ${t.dtype} tensor of shape ${formatShape(t.shape)} needs ${want} bytes, got ${t.data.byteLength}`,
    );
  }
}
