/**
 * NumPy `.npy` files (format versions 1.0-3.0), read and written in TypeScript.
 * Spec: numpy/lib/format.py (NEP 1). Own code because the format is ~100 lines and the npm readers we
 * looked at drop dtypes (bool, float16, big-endian) or cannot write.
 */
import { type DType, DTYPE_SIZE, shapeNumel } from '../dtype.js';
import { checkStored, type StoredTensor } from './stored.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR_TO_DTYPE: Record<string, DType> = {
  f4: 'float32',
  f2: 'float16',
  f8: 'float64',
  i8: 'int64',
  i4: 'int32',
  i2: 'int16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'bool',
};
const DTYPE_TO_DESCR: Partial<Record<DType, string>> = {
  float32: '<f4',
  float16: '<f2',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.length >= 10 && MAGIC.every((b, i) => bytes[i] === b);
}

/** Parses the header's Python dict literal, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeader(text: string, where: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`readNpy(${where}): malformed header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(n) || n < 0)
        throw new Error(`readNpy(${where}): bad dimension '${s}' in shape (${shapeText})`);
      return n;
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Reads an `.npy` image into a C-ordered little-endian StoredTensor (big-endian and Fortran order converted). */
export function readNpy(bytes: Uint8Array, where = 'buffer'): StoredTensor {
  if (!isNpy(bytes)) throw new Error(`readNpy(${where}): not an .npy file (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`readNpy(${where}): truncated header`);
    headerLen = dv.getUint32(8, true);
    offset = 12;
  } else throw new Error(`readNpy(${where}): unsupported format version ${major}`);
  if (offset + headerLen > bytes.length)
    throw new Error(`readNpy(${where}): truncated header (${headerLen} bytes announced)`);
  const header = parseHeader(
    new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLen)),
    where,
  );
  const order = header.descr[0];
  const dtype = DESCR_TO_DTYPE[header.descr.slice(1)];
  if (dtype === undefined || (order !== '<' && order !== '>' && order !== '|' && order !== '=')) {
    throw new Error(
      `readNpy(${where}): unsupported dtype '${header.descr}' (supported: ${Object.keys(DESCR_TO_DTYPE).join(', ')})`,
    );
  }
  const itemsize = DTYPE_SIZE[dtype];
  const numel = shapeNumel(header.shape);
  const start = offset + headerLen;
  if (bytes.length - start < numel * itemsize) {
    throw new Error(
      `readNpy(${where}): truncated data: shape (${header.shape.join(', ')}) ${header.descr} needs ${numel * itemsize} bytes, file has ${bytes.length - start}`,
    );
  }
  let data: Uint8Array = bytes.slice(start, start + numel * itemsize);
  if (order === '>' && itemsize > 1) {
    for (let i = 0; i < data.length; i += itemsize) data.subarray(i, i + itemsize).reverse();
  }
  if (header.fortran && header.shape.length > 1) data = fortranToC(data, header.shape, itemsize);
  return { dtype, shape: header.shape, data };
}

/** Reorders column-major bytes into row-major ones. */
function fortranToC(src: Uint8Array, shape: number[], itemsize: number): Uint8Array {
  const rank = shape.length;
  const numel = shapeNumel(shape);
  const fStride: number[] = new Array<number>(rank);
  let s = 1;
  for (let d = 0; d < rank; d++) {
    fStride[d] = s;
    s *= shape[d]!;
  }
  const out = new Uint8Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  for (let c = 0; c < numel; c++) {
    let f = 0;
    for (let d = 0; d < rank; d++) f += idx[d]! * fStride[d]!;
    out.set(src.subarray(f * itemsize, (f + 1) * itemsize), c * itemsize);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      if (idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Encodes a StoredTensor as a version 1.0 `.npy` image (header padded to a multiple of 64 bytes, as numpy does). */
export function writeNpy(t: StoredTensor): Uint8Array {
  checkStored(t, 'writeNpy');
  const descr = DTYPE_TO_DESCR[t.dtype];
  if (descr === undefined) throw new Error(`writeNpy: numpy has no ${t.dtype} dtype; convert to float32 first`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + t.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(t.data, 10 + header.length);
  return out;
}
