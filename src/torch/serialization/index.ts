/**
 * Checkpoint I/O in pure TypeScript: PyTorch `.pth`/`.pt` (zip and legacy formats), safetensors and `.npy`,
 * read into the value model of pyvalue.ts (tensors as StoredTensor) and written back, plus the helpers behind
 * `inkwell inspect` and `inkwell convert`.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { DType } from '../dtype.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../util/atomic.js';
import { isNpy, readNpy, writeNpy } from './npy.js';
import { archiveNameFor, encodePth, isLegacyPth, isZip, plainBytes, readPth, type ReadPthOptions } from './pth.js';
import { isStoredTensor, PyOrderedDict, pyTypeName, type PyValue, type PyWritable } from './pyvalue.js';
import { encodeSafetensors, isSafetensors, readSafetensors, safetensorsLengthProblem } from './safetensors.js';
import type { StoredTensor } from './stored.js';
import { flattenNonTensors, flattenTensors, type JsonValue, pruneTensors, selectKey, stripPrefix } from './tree.js';

export * from './pyvalue.js';
export { checkStored, type StoredTensor } from './stored.js';
export { readNpy, writeNpy } from './npy.js';
export { unpickle, unpickleWithEnd, pickleEnd, type UnpickleOptions } from './pickle.js';
export { pickle, type PickleWriteOptions } from './pickle-write.js';
export { readPth, encodePth, type ReadPthOptions, type WritePthOptions } from './pth.js';
export { readSafetensors, encodeSafetensors, type Safetensors } from './safetensors.js';
export { flattenTensors, flattenNonTensors, selectKey, stripPrefix, toJson, type JsonValue } from './tree.js';

export type CheckpointFormat = 'pth-zip' | 'pth-legacy' | 'safetensors' | 'npy';

/** Recognises a checkpoint by its first bytes (never by its name). */
export function detectFormat(bytes: Uint8Array, where = 'buffer'): CheckpointFormat {
  if (isZip(bytes)) return 'pth-zip';
  if (isLegacyPth(bytes)) return 'pth-legacy';
  if (isNpy(bytes)) return 'npy';
  if (isSafetensors(bytes)) return 'safetensors';
  const problem = safetensorsLengthProblem(bytes, where);
  if (problem !== null) throw new Error(`detectFormat(${where}): ${problem}`);
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `detectFormat(${where}): not a PyTorch (zip or legacy), safetensors or .npy file (${bytes.length} bytes, starting ${head || '<empty>'})`,
  );
}

export interface LoadedCheckpoint {
  format: CheckpointFormat;
  /** pth: the pickled object; safetensors: Map name -> StoredTensor; npy: one StoredTensor. */
  value: PyValue;
  /** safetensors `__metadata__` (absent for other formats). */
  metadata?: Record<string, string>;
}

/**
 * Reads a checkpoint image. Tensors view `bytes` where they can (no copy), so keep `bytes` unchanged while
 * they are in use. `where` names the source in error messages.
 */
export function readCheckpointBytes(
  bytes: Uint8Array,
  where = 'buffer',
  options: ReadPthOptions = {},
): LoadedCheckpoint {
  const b = plainBytes(bytes);
  const format = detectFormat(b, where);
  switch (format) {
    case 'pth-zip':
    case 'pth-legacy':
      return { format, value: readPth(b, where, options) };
    case 'npy':
      return { format, value: readNpy(b, where) };
    case 'safetensors': {
      const st = readSafetensors(b, where);
      return { format, value: st.tensors, metadata: st.metadata };
    }
  }
}

export async function loadCheckpointFile(path: string, options: ReadPthOptions = {}): Promise<LoadedCheckpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`loadCheckpoint(${path}): ${(err as Error).message}`);
  }
  return readCheckpointBytes(bytes, path, options);
}

/** The format a file name asks for when writing. */
export function formatForPath(path: string): 'pth' | 'safetensors' | 'npy' {
  const ext = extname(path).toLowerCase();
  if (ext === '.pth' || ext === '.pt' || ext === '.ckpt') return 'pth';
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.npy') return 'npy';
  throw new Error(`saveCheckpoint(${path}): unknown extension '${ext}' (use .pth, .pt, .ckpt, .safetensors or .npy)`);
}

export interface SaveOptions {
  /** safetensors only: the `__metadata__` string map. */
  metadata?: Record<string, string>;
}

/** A dict (Map with string keys, or plain object) of tensors as [name, tensor] pairs, or an Error. */
function tensorEntries(value: PyWritable, path: string): [string, StoredTensor][] {
  const plain = typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
  if (!(value instanceof Map) && !plain) {
    throw new Error(
      `saveCheckpoint(${path}): safetensors holds a flat dict of tensors, got a ${pyTypeName(value)} (see flattenTensors)`,
    );
  }
  const entries: [PyWritable, PyWritable][] =
    value instanceof Map ? [...value] : Object.entries(value as Record<string, PyWritable>);
  return entries.map(([k, t]) => {
    if (typeof k !== 'string')
      throw new Error(`saveCheckpoint(${path}): safetensors names must be strings, got a ${pyTypeName(k)}`);
    if (!isStoredTensor(t))
      throw new Error(
        `saveCheckpoint(${path}): '${k}' is a ${pyTypeName(t)}, safetensors holds only tensors (see flattenTensors)`,
      );
    return [k, t];
  });
}

/** The bytes (as chunks) of `value` in the format `path`'s extension names. */
export function encodeCheckpoint(path: string, value: PyWritable, options: SaveOptions = {}): Uint8Array[] {
  switch (formatForPath(path)) {
    case 'pth':
      return encodePth(value, { archiveName: archiveNameFor(path) });
    case 'safetensors':
      return encodeSafetensors(tensorEntries(value, path), options.metadata ?? {});
    case 'npy':
      if (!isStoredTensor(value))
        throw new Error(`saveCheckpoint(${path}): .npy holds one tensor, got a ${pyTypeName(value)}`);
      return [writeNpy(value)];
  }
}

/**
 * Writes `value` atomically in the format of `path`'s extension: .pth/.pt/.ckpt as torch's zip format
 * (any picklable value), .safetensors a flat dict of tensors (+ `options.metadata`), .npy a single tensor.
 */
export async function saveCheckpointFile(path: string, value: PyWritable, options: SaveOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(path, value, options));
}

/** Synchronous twin of saveCheckpointFile, for a final save on exit. */
export function saveCheckpointFileSync(path: string, value: PyWritable, options: SaveOptions = {}): void {
  writeFileAtomicSync(path, encodeCheckpoint(path, value, options));
}

export interface CheckpointSummary {
  format: CheckpointFormat;
  tensors: { name: string; shape: number[]; dtype: DType }[];
  /** Non-tensor entries (epoch, arch, hyper-parameters) as JSON; safetensors: its `__metadata__`. */
  metadata: { [key: string]: JsonValue };
}

/** What a checkpoint holds, for `inkwell inspect`. */
export async function inspectCheckpoint(path: string): Promise<CheckpointSummary> {
  const { format, value, metadata } = await loadCheckpointFile(path);
  const tensors = flattenTensors(value).map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype }));
  let meta: { [key: string]: JsonValue } = {};
  if (metadata !== undefined) meta = { ...metadata };
  else {
    const pruned = pruneTensors(value);
    if (pruned !== undefined && typeof pruned === 'object' && pruned !== null && !Array.isArray(pruned)) meta = pruned;
    else if (pruned !== undefined) meta = { value: pruned };
  }
  return { format, tensors, metadata: meta };
}

export interface ConvertOptions {
  /** Take this entry of the checkpoint (e.g. 'state_dict'; dotted paths go deeper). */
  key?: string;
  /** Remove this prefix from the selected dict's keys (e.g. 'module.'). */
  stripPrefix?: string;
}

export interface ConvertReport {
  inFormat: CheckpointFormat;
  outFormat: 'pth' | 'safetensors' | 'npy';
  tensors: number;
  bytes: number;
  /** Non-tensor entries kept as safetensors metadata. */
  metadataKeys: string[];
  /** Entries the output format could not hold. */
  dropped: string[];
}

/**
 * Converts between .pth (either format), .safetensors and .npy, by the files' contents and extensions.
 * To safetensors, nested dicts are flattened to dotted names and non-tensor entries become `__metadata__`
 * (JSON text); to .pth, a flat dict of tensors becomes an OrderedDict (a state dict).
 */
export async function convertCheckpoint(
  inPath: string,
  outPath: string,
  options: ConvertOptions = {},
): Promise<ConvertReport> {
  const outFormat = formatForPath(outPath);
  const loaded = await loadCheckpointFile(inPath, { preserveFloats: true });
  let value = loaded.value;
  if (options.key !== undefined) value = selectKey(value, options.key);
  if (options.stripPrefix !== undefined && options.stripPrefix.length > 0)
    value = stripPrefix(value, options.stripPrefix);
  const dropped: string[] = [];
  let metadataKeys: string[] = [];
  let chunks: Uint8Array[];
  let tensors: number;
  if (outFormat === 'safetensors') {
    const flat = flattenTensors(value).map(([name, t]): [string, StoredTensor] => [name === '' ? 'tensor' : name, t]);
    const seen = new Set<string>();
    for (const [name] of flat) {
      if (seen.has(name))
        throw new Error(`convert(${inPath} -> ${outPath}): two tensors flatten to the name '${name}'`);
      seen.add(name);
    }
    const metadata: Record<string, string> = { ...(loaded.metadata ?? {}) };
    for (const [name, text] of flattenNonTensors(value)) metadata[name === '' ? 'value' : name] = text;
    metadataKeys = Object.keys(metadata);
    chunks = encodeSafetensors(flat, metadata);
    tensors = flat.length;
  } else if (outFormat === 'npy') {
    const flat = flattenTensors(value);
    const only = flat[0];
    if (flat.length !== 1 || only === undefined) {
      throw new Error(
        `convert(${inPath} -> ${outPath}): .npy holds one tensor, the selection has ${flat.length} (use --key)`,
      );
    }
    chunks = [writeNpy(only[1])];
    tensors = 1;
  } else {
    if (loaded.format === 'safetensors' && value instanceof Map && !(value instanceof PyOrderedDict)) {
      const sd = new PyOrderedDict();
      for (const [k, v] of value) sd.set(k, v);
      value = sd;
    }
    if (loaded.metadata !== undefined) dropped.push(...Object.keys(loaded.metadata).map((k) => `__metadata__.${k}`));
    chunks = encodePth(value, { archiveName: archiveNameFor(outPath) });
    tensors = flattenTensors(value).length;
  }
  await writeFileAtomic(outPath, chunks);
  return {
    inFormat: loaded.format,
    outFormat,
    tensors,
    bytes: chunks.reduce((n, c) => n + c.byteLength, 0),
    metadataKeys,
    dropped,
  };
}
