/**
 * How Python values from a PyTorch checkpoint look in JS, shared by the unpickler, the pickle writer and
 * the checkpoint helpers.
 *
 *   None -> null, bool -> boolean, int -> number (bigint beyond Number.MAX_SAFE_INTEGER), float -> number
 *   (or PyFloat when asked, see `UnpickleOptions.preserveFloats`), str -> string, bytes -> Uint8Array,
 *   list -> array, tuple -> PyTuple, dict -> Map, collections.OrderedDict -> PyOrderedDict (a Map),
 *   set/frozenset -> Set, tensor -> StoredTensor, storage -> TorchStorage, torch.device -> TorchDevice,
 *   torch.float16 & co -> TorchDType.
 *
 * JS has one number type, so the writer needs help to tell 1 from 1.0: plain integral numbers are written as
 * Python ints, and `pyFloat(x)` (a PyFloat) forces a Python float.
 */
import { type DType, DTYPES, DTYPE_SIZE } from '../dtype.js';
import type { StoredTensor } from './stored.js';

/** A Python tuple; a class of its own so that a written value comes back as a tuple, not a list. */
export class PyTuple implements Iterable<PyValue> {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = Object.freeze([...items]);
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<PyValue> {
    return this.items[Symbol.iterator]();
  }
}

export function pyTuple(...items: PyValue[]): PyTuple {
  return new PyTuple(items);
}

/** A Python float whose value happens to be integral (1.0): the writer emits BINFLOAT instead of an int. */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  toJSON(): number {
    return this.value;
  }
}

export function pyFloat(value: number): PyFloat {
  return new PyFloat(value);
}

/**
 * A `collections.OrderedDict` (PyTorch state dicts are OrderedDicts). `attrs` holds the instance attributes
 * that pickle restores through BUILD - for a state dict that is `_metadata` (per-module versions used by
 * `load_state_dict`) - kept apart so that they never show up among the keys.
 */
export class PyOrderedDict<K = PyValue, V = PyValue> extends Map<K, V> {
  attrs: Map<string, PyValue> | undefined;
}

/** `torch.device('cuda', 0)`; `index` is null for a device without one (`torch.device('cpu')`). */
export class TorchDevice {
  constructor(
    readonly type: string,
    readonly index: number | null = null,
  ) {}
  toString(): string {
    return this.index === null ? this.type : `${this.type}:${this.index}`;
  }
}

/** torch dtype names (canonical and aliases) of the dtypes a StoredTensor can hold. */
const TORCH_DTYPE_NAMES: Readonly<Record<string, DType>> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

/** A dtype object such as `torch.float16`, kept by its name in the `torch` module. */
export class TorchDType {
  constructor(readonly name: string) {}
  /** The matching DType, or undefined for dtypes inkwell has no tensors of (complex, quantized). */
  get dtype(): DType | undefined {
    return TORCH_DTYPE_NAMES[this.name];
  }
  toString(): string {
    return `torch.${this.name}`;
  }
}

/**
 * A module-level Python object named in the pickle (GLOBAL), as a value rather than called: a storage type
 * such as `torch.FloatStorage` inside a persistent id, or `torch.Tensor` inside `_rebuild_from_type_v2`.
 * Only names on the unpickler's allow-list ever become one.
 */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A typed storage (`torch.FloatStorage` & co): its whole byte contents, little-endian. */
export class TorchStorage {
  constructor(
    readonly dtype: DType,
    readonly data: Uint8Array,
  ) {}
  get numel(): number {
    return this.data.byteLength / DTYPE_SIZE[this.dtype];
  }
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyTuple
  | PyValue[]
  | Map<PyValue, PyValue>
  | Set<PyValue>
  | StoredTensor
  | TorchStorage
  | TorchDevice
  | TorchDType
  | PyGlobalRef;

/** What the writer accepts: PyValue, plus plain objects written as dicts with string keys. */
export type PyWritable =
  | Exclude<PyValue, PyValue[] | Map<PyValue, PyValue> | Set<PyValue> | PyTuple>
  | PyWritable[]
  | Map<PyWritable, PyWritable>
  | Set<PyWritable>
  | PyTuple
  | { readonly [key: string]: PyWritable };

/** True for a StoredTensor (checked by shape, since StoredTensor is an interface). */
export function isStoredTensor(v: unknown): v is StoredTensor {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<StoredTensor>;
  return (
    typeof t.dtype === 'string' &&
    (DTYPES as readonly string[]).includes(t.dtype) &&
    Array.isArray(t.shape) &&
    t.data instanceof Uint8Array
  );
}

/**
 * Where a loaded tensor's bytes live inside a storage, so that a checkpoint written back keeps tensors that
 * shared a storage sharing it (PyTorch saves each storage once and every view as offset + strides).
 * Keyed by the tensor's `data` array: a tensor whose data was replaced is simply written as its own storage.
 */
const storageOfData = new WeakMap<Uint8Array, { storage: TorchStorage; offset: number }>();

export function recordStorageView(data: Uint8Array, storage: TorchStorage, offsetElements: number): void {
  storageOfData.set(data, { storage, offset: offsetElements });
}

export function storageViewOf(data: Uint8Array): { storage: TorchStorage; offset: number } | undefined {
  const v = storageOfData.get(data);
  if (v === undefined) return undefined;
  // Only trust the record while the view still lies inside that storage's memory.
  const s = v.storage.data;
  const start = s.byteOffset + v.offset * DTYPE_SIZE[v.storage.dtype];
  const ok =
    data.buffer === s.buffer && data.byteOffset === start && start + data.byteLength <= s.byteOffset + s.byteLength;
  return ok ? v : undefined;
}

/** A short Python-like description of a value's type, for error messages. */
export function pyTypeName(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'undefined';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint')
    return Number.isInteger(v) || typeof v === 'bigint' ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyOrderedDict) return 'OrderedDict';
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof TorchStorage) return `torch storage (${v.dtype})`;
  if (v instanceof TorchDevice) return 'torch.device';
  if (v instanceof TorchDType) return 'torch.dtype';
  if (v instanceof PyGlobalRef) return v.qualifiedName;
  if (isStoredTensor(v)) return 'tensor';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
