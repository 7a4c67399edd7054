/**
 * Saving and loading live tensors: the bridge between the engine (Tensor) and the file formats of
 * serialization/ (StoredTensor trees). `torch.save(path, {epoch: 3, state_dict: model.stateDict()})` writes a
 * file PyTorch's `torch.load` reads; `torch.load(path)` gives the same tree back with Tensors.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic, writeFileAtomicSync } from '../util/atomic.js';
import { fromStored, toStored } from './ops/creation.js';
import {
  isStoredTensor,
  loadCheckpointFile,
  type PyFloat,
  PyOrderedDict,
  type PyTuple,
  saveCheckpointFile,
  selectKey,
  stripPrefix,
  type CheckpointFormat,
  type PyValue,
  type PyWritable,
  type SaveOptions,
} from './serialization/index.js';
import { readNpy, writeNpy } from './serialization/npy.js';
import type { StoredTensor } from './serialization/stored.js';
import { type Device, requireDevice } from './device.js';
import { Tensor } from './tensor.js';

/** What `save` accepts: checkpoint values with live Tensors anywhere in the tree. */
export type SaveValue =
  | Tensor
  | StoredTensor
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyTuple
  | SaveValue[]
  | Map<string | number, SaveValue>
  | { readonly [key: string]: SaveValue };

/** Loaded values: the serialization value model with Tensors in place of stored tensors. */
export type LoadedValue =
  | Exclude<PyValue, StoredTensor | PyValue[] | Map<PyValue, PyValue>>
  | Tensor
  | LoadedValue[]
  | Map<PyValue, LoadedValue>;

function toWritable(v: SaveValue): PyWritable {
  if (v instanceof Tensor) return toStored(v);
  if (Array.isArray(v)) return v.map(toWritable);
  if (v instanceof Map) {
    // A dict whose values are all tensors is a state dict: PyTorch writes those as OrderedDicts.
    const allTensors = v.size > 0 && [...v.values()].every((x) => x instanceof Tensor || isStoredTensor(x));
    const out: Map<PyWritable, PyWritable> = allTensors ? new PyOrderedDict() : new Map();
    for (const [k, x] of v) out.set(k, toWritable(x));
    return out;
  }
  if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype && !isStoredTensor(v)) {
    const out: Record<string, PyWritable> = {};
    for (const [k, x] of Object.entries(v as Record<string, SaveValue>)) out[k] = toWritable(x);
    return out;
  }
  return v as PyWritable;
}

function toLive(v: PyValue, device: Device): LoadedValue {
  if (isStoredTensor(v)) return fromStored(v, { device });
  if (Array.isArray(v)) return v.map((x) => toLive(x, device));
  if (v instanceof Map) {
    const out =
      v instanceof PyOrderedDict ? new PyOrderedDict<PyValue, LoadedValue>() : new Map<PyValue, LoadedValue>();
    for (const [k, x] of v) out.set(k, toLive(x, device));
    return out;
  }
  return v as LoadedValue;
}

/**
 * Writes `value` atomically, by extension: `.pth`/`.pt`/`.ckpt` in PyTorch's zip format (any tree),
 * `.safetensors` (a flat Map/object of tensors, with optional string metadata), `.npy` (one tensor).
 */
export async function save(path: string, value: SaveValue, options: SaveOptions = {}): Promise<void> {
  await saveCheckpointFile(path, toWritable(value), options);
}

/**
 * Loads a checkpoint of any supported format; its tensors join the current scope (or belong to the caller).
 * Every tensor lands on `mapLocation` (default the CPU) whatever device it was saved from, as
 * torch.load(f, map_location=...): a checkpoint written on 'cuda:0' loads on a machine without CUDA.
 */
export async function load(
  path: string,
  opts: { mapLocation?: Device } = {},
): Promise<{ format: CheckpointFormat; value: LoadedValue; metadata?: Record<string, string> }> {
  const device = opts.mapLocation === undefined ? 'cpu' : requireDevice(opts.mapLocation, `load(${path}): mapLocation`);
  const loaded = await loadCheckpointFile(path);
  return {
    format: loaded.format,
    value: toLive(loaded.value, device),
    ...(loaded.metadata ? { metadata: loaded.metadata } : {}),
  };
}

export interface LoadStateDictOptions {
  /** Entry holding the state dict (dotted for deeper ones). Default: 'state_dict' when the file has one, else the whole file. */
  key?: string;
  /** Prefix to remove from every key; default 'module.' when every key has it (DataParallel checkpoints). */
  stripPrefix?: string;
}

/**
 * A state dict (name -> StoredTensor) from a `.pth` (either format) or `.safetensors` file, whether it is the
 * whole file or nested (`{'epoch', 'arch', 'state_dict': ...}` as kenshohara's Kinetics checkpoints are).
 * Returned as StoredTensors, so that `Module.loadStateDict` copies each once into place.
 */
export async function readStateDict(path: string, opts: LoadStateDictOptions = {}): Promise<Map<string, StoredTensor>> {
  const { value } = await loadCheckpointFile(path);
  let sd: PyValue = value;
  if (opts.key !== undefined) sd = selectKey(value, opts.key);
  else if (value instanceof Map && value.has('state_dict') && !isStoredTensor(value.get('state_dict')))
    sd = value.get('state_dict')!;
  if (!(sd instanceof Map))
    throw new Error(
      `readStateDict(${path}): expected a dict of tensors${opts.key ? ` at '${opts.key}'` : ''}, got ${Array.isArray(sd) ? 'a list' : typeof sd}`,
    );
  const keys = [...sd.keys()];
  const prefix =
    opts.stripPrefix ??
    (keys.length > 0 && keys.every((k) => typeof k === 'string' && k.startsWith('module.')) ? 'module.' : '');
  if (prefix) sd = stripPrefix(sd, prefix);
  const out = new Map<string, StoredTensor>();
  for (const [k, t] of sd as Map<PyValue, PyValue>) {
    if (typeof k !== 'string')
      throw new Error(`readStateDict(${path}): state dict keys must be strings, got ${String(k)}`);
    if (isStoredTensor(t)) out.set(k, t);
  }
  if (out.size === 0)
    throw new Error(`readStateDict(${path}): no tensors found${opts.key ? ` under '${opts.key}'` : ''}`);
  return out;
}

/** A tensor from an `.npy` file. */
export function loadNpy(path: string): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`loadNpy(${path}): ${(err as Error).message}`);
  }
  return fromStored(readNpy(bytes, path));
}

/** Writes `t` as `.npy` atomically. */
export async function saveNpy(path: string, t: Tensor): Promise<void> {
  await writeFileAtomic(path, writeNpy(toStored(t)));
}

export function saveNpySync(path: string, t: Tensor): void {
  writeFileAtomicSync(path, writeNpy(toStored(t)));
}
