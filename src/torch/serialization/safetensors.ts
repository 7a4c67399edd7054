/**
 * safetensors files (https://github.com/huggingface/safetensors, README "Format"): an 8-byte little-endian
 * header length N, N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
 * {str: str}}`, then the byte buffer; offsets are relative to the buffer's start.
 *
 * Validation follows the reference implementation's `Metadata::validate` (safetensors/src/tensor.rs): offsets
 * must tile the buffer exactly - sorted by offset, each tensor starting where the previous one ended, the last
 * ending at the end of the file - and each span must hold exactly numel * itemsize bytes.
 */
import { DTYPE_SIZE, type DType, formatShape, shapeNumel } from '../dtype.js';
import { checkStored, type StoredTensor } from './stored.js';

const CODE_TO_DTYPE: Readonly<Record<string, DType>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const DTYPE_TO_CODE: Readonly<Record<DType, string>> = Object.fromEntries(
  Object.entries(CODE_TO_DTYPE).map(([k, v]) => [v, k]),
) as Record<DType, string>;

/** The reference implementation refuses headers over 100 MB (safetensors/src/tensor.rs MAX_HEADER_SIZE). */
const MAX_HEADER = 100_000_000;

export interface Safetensors {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** True when the bytes start like a safetensors file: a plausible header length followed by '{'. */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n >= 2n && n <= BigInt(Math.min(MAX_HEADER, bytes.length - 8)) && bytes[8] === 0x7b;
}

/**
 * Why bytes that look like a safetensors file (a '{' after the length, or a `.safetensors` name) cannot be one:
 * the 8-byte header length announces more than the file holds. Null when that is not the problem.
 */
export function safetensorsLengthProblem(bytes: Uint8Array, where: string): string | null {
  if (bytes.length < 8 || !(bytes[8] === 0x7b || where.toLowerCase().endsWith('.safetensors'))) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n <= BigInt(bytes.length - 8) && n <= BigInt(MAX_HEADER)) return null;
  const limit = n > BigInt(MAX_HEADER) ? ` (over the ${MAX_HEADER}-byte limit)` : '';
  return (
    `a safetensors header of ${n} bytes${limit} is announced, but the file has ${bytes.length} bytes ` +
    `(${bytes.length - 8} after the 8-byte length): truncated or not a safetensors file`
  );
}

/** Reads a safetensors image; tensors view `bytes` without copying, in the order of their data. */
export function readSafetensors(bytes: Uint8Array, where = 'buffer'): Safetensors {
  const fail = (message: string): never => {
    throw new Error(`readSafetensors(${where}): ${message}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, the header length alone needs 8`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`header length ${n64} is over the ${MAX_HEADER}-byte limit (corrupt?)`);
  const n = Number(n64);
  if (8 + n > bytes.length)
    fail(`truncated: header of ${n} bytes announced, file has ${bytes.length - 8} after the length`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__['${k}'] is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(`tensor '${name}': entry is not an object`);
    const dtype = typeof t.dtype === 'string' ? CODE_TO_DTYPE[t.dtype] : undefined;
    if (dtype === undefined)
      return fail(
        `tensor '${name}': unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(CODE_TO_DTYPE).join(', ')})`,
      );
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      return fail(`tensor '${name}': bad shape ${JSON.stringify(t.shape)}`);
    }
    const off = t.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) ||
      (off[0] as number) > (off[1] as number)
    ) {
      return fail(`tensor '${name}': bad data_offsets ${JSON.stringify(off)}`);
    }
    const shape = t.shape as number[];
    const [begin, end] = off as [number, number];
    const want = shapeNumel(shape) * DTYPE_SIZE[dtype];
    if (end - begin !== want)
      fail(
        `tensor '${name}': ${dtype} ${formatShape(shape)} needs ${want} bytes, data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    entries.push({ name, dtype, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const bufStart = 8 + n;
  const bufLen = bytes.length - bufStart;
  let pos = 0;
  const tensors = new Map<string, StoredTensor>();
  for (const e of entries) {
    if (e.begin !== pos)
      fail(`tensor '${e.name}': data starts at ${e.begin}, expected ${pos} (offsets overlap or leave a hole)`);
    if (e.end > bufLen) fail(`truncated: tensor '${e.name}' ends at ${e.end}, the data buffer has ${bufLen} bytes`);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(bufStart + e.begin, bufStart + e.end) });
    pos = e.end;
  }
  if (pos !== bufLen) fail(`${bufLen - pos} bytes after the last tensor's data (truncated header or corrupt offsets)`);
  return { tensors, metadata };
}

/**
 * Encodes tensors (+ string metadata) as safetensors chunks. Tensors are laid out by decreasing element size
 * (then in the given order) and the header is padded with spaces to a multiple of 8, as the reference writer
 * does, so every tensor's data is aligned for typed-array views. Names keep their given order in the header.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const list = [...tensors];
  const names = new Set<string>();
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' cannot name a tensor`);
    if (names.has(name)) throw new Error(`writeSafetensors: duplicate tensor name '${name}'`);
    names.add(name);
    checkStored(t, `writeSafetensors: tensor '${name}'`);
  }
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata '${k}' must be a string, got ${typeof v}`);
  }
  const order = list
    .map((_, i) => i)
    .sort((a, b) => DTYPE_SIZE[list[b]![1].dtype] - DTYPE_SIZE[list[a]![1].dtype] || a - b);
  const offsets = new Array<[number, number]>(list.length);
  let pos = 0;
  for (const i of order) {
    const len = list[i]![1].data.byteLength;
    offsets[i] = [pos, pos + len];
    pos += len;
  }
  // Built by hand so that names like "0" keep their place (a JS object would move integer-like keys first).
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  list.forEach(([name, t], i) => {
    parts.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: DTYPE_TO_CODE[t.dtype], shape: t.shape, data_offsets: offsets[i] })}`,
    );
  });
  let json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  return [head, json, ...order.map((i) => list[i]![1].data)];
}
