/**
 * The unpickler's allow-list: the only module-level names a checkpoint may refer to, each implemented here in
 * TypeScript. Everything else is refused by name - an allow-list, not a deny-list, because pickle protocol 2
 * spells `os.system` as `posix.system` and `eval` as `__builtin__.eval`, which slip past deny-lists.
 *
 * The set follows what `torch.save` emits for tensors, state dicts and training checkpoints
 * (torch/_utils.py `_rebuild_tensor_v2`, `_rebuild_parameter`; torch/_tensor.py `__reduce_ex__`;
 * torch/storage.py typed storages) and mirrors torch 1.13's own `torch/_weights_only_unpickler.py`.
 */
import { type DType, isDType } from '../dtype.js';
import {
  PyGlobalRef,
  PyOrderedDict,
  PyTuple,
  pyTypeName,
  type PyValue,
  TorchDevice,
  TorchDType,
  TorchStorage,
  isStoredTensor,
} from './pyvalue.js';
import type { StoredTensor } from './stored.js';
import { materialiseView } from './strided.js';

/**
 * An allowed callable: REDUCE / NEWOBJ on it runs `call` with the pickled argument tuple. It is also a
 * PyGlobalRef, so that one passed as a value (`_rebuild_from_type_v2`'s first argument) stays a PyValue.
 */
export class PyCallable extends PyGlobalRef {
  constructor(
    qualifiedName: string,
    readonly call: (args: readonly PyValue[], where: string) => PyValue,
  ) {
    const dot = qualifiedName.lastIndexOf('.');
    super(qualifiedName.slice(0, dot), qualifiedName.slice(dot + 1));
  }
}

/** Storage classes of torch/storage.py (`torch.FloatStorage` ...) and the element type each holds. */
export const STORAGE_DTYPE: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};
export const DTYPE_STORAGE: Readonly<Record<DType, string>> = Object.fromEntries(
  Object.entries(STORAGE_DTYPE).map(([k, v]) => [v, k]),
) as Record<DType, string>;

/** Names of dtype objects in the `torch` module (canonical names and aliases), as pickled by `torch.dtype`. */
const TORCH_DTYPE_NAMES = [
  'float32',
  'float',
  'float64',
  'double',
  'float16',
  'half',
  'bfloat16',
  'int64',
  'long',
  'int32',
  'int',
  'int16',
  'short',
  'int8',
  'uint8',
  'bool',
  'complex32',
  'chalf',
  'complex64',
  'cfloat',
  'complex128',
  'cdouble',
  'qint8',
  'quint8',
  'qint32',
  'quint4x2',
];
function fail(where: string, fn: string, message: string): never {
  throw new Error(`unpickle(${where}): ${fn}: ${message}`);
}

function int(v: PyValue | undefined, where: string, fn: string, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return fail(where, fn, `${what} must be an int, got ${pyTypeName(v)}`);
}

function intTuple(v: PyValue | undefined, where: string, fn: string, what: string): number[] {
  const items =
    v instanceof PyTuple
      ? v.items
      : Array.isArray(v)
        ? v
        : fail(where, fn, `${what} must be a tuple, got ${pyTypeName(v)}`);
  return items.map((x, i) => int(x, where, fn, `${what}[${i}]`));
}

function items(v: PyValue | undefined, where: string, fn: string): readonly PyValue[] {
  if (v === undefined) return [];
  if (v instanceof PyTuple) return v.items;
  if (Array.isArray(v)) return v;
  if (v instanceof Set) return [...v];
  return fail(where, fn, `expected an iterable (list, tuple, set), got ${pyTypeName(v)}`);
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
function rebuildTensor(fn: string, args: readonly PyValue[], where: string): StoredTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage))
    fail(where, fn, `first argument must be a storage, got ${pyTypeName(storage)}`);
  const shape = intTuple(size, where, fn, 'size');
  const data = materialiseView(
    storage,
    int(offset, where, fn, 'storage_offset'),
    shape,
    intTuple(stride, where, fn, 'stride'),
    `unpickle(${where}): ${fn}`,
  );
  const t: StoredTensor = { dtype: storage.dtype, shape, data };
  if (requiresGrad !== undefined && typeof requiresGrad !== 'boolean')
    fail(where, fn, `requires_grad must be a bool, got ${pyTypeName(requiresGrad)}`);
  if (requiresGrad === true) t.requiresGrad = true;
  return t;
}

/** `_rebuild_parameter(data, requires_grad, backward_hooks[, state])`: a Parameter is its tensor plus the flag. */
function rebuildParameter(fn: string, args: readonly PyValue[], where: string): StoredTensor {
  const [data, requiresGrad] = args;
  if (!isStoredTensor(data)) fail(where, fn, `data must be a tensor, got ${pyTypeName(data)}`);
  if (typeof requiresGrad !== 'boolean')
    fail(where, fn, `requires_grad must be a bool, got ${pyTypeName(requiresGrad)}`);
  const t: StoredTensor = { dtype: data.dtype, shape: data.shape, data: data.data };
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

function bytesFromString(s: string, encoding: string, where: string, fn: string): Uint8Array {
  const enc = encoding.toLowerCase().replace(/[-_]/g, '');
  if (enc === 'utf8') return new TextEncoder().encode(s);
  if (enc !== 'latin1' && enc !== 'iso88591') fail(where, fn, `unsupported encoding '${encoding}'`);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) fail(where, fn, `character U+${c.toString(16)} cannot be latin-1`);
    out[i] = c;
  }
  return out;
}

function makeBytes(fn: string, args: readonly PyValue[], where: string): Uint8Array {
  const [src, encoding] = args;
  if (src === undefined) return new Uint8Array(0);
  if (src instanceof Uint8Array) return src.slice();
  if (typeof src === 'string') {
    if (typeof encoding !== 'string') fail(where, fn, 'a str argument needs an encoding');
    return bytesFromString(src, encoding, where, fn);
  }
  return Uint8Array.from(
    items(src, where, fn).map((x, i) => {
      const b = int(x, where, fn, `item ${i}`);
      if (b < 0 || b > 255) fail(where, fn, `byte ${b} out of range`);
      return b;
    }),
  );
}

const callables: [string, (args: readonly PyValue[], where: string) => PyValue][] = [
  [
    'collections.OrderedDict',
    (args, where) => {
      const d = new PyOrderedDict();
      for (const pair of items(args[0], where, 'OrderedDict')) {
        const kv = items(pair, where, 'OrderedDict');
        if (kv.length !== 2) fail(where, 'OrderedDict', 'items must be (key, value) pairs');
        d.set(kv[0]!, kv[1]!);
      }
      return d;
    },
  ],
  ['torch._utils._rebuild_tensor_v2', (args, where) => rebuildTensor('_rebuild_tensor_v2', args, where)],
  ['torch._utils._rebuild_tensor', (args, where) => rebuildTensor('_rebuild_tensor', args, where)],
  ['torch._utils._rebuild_parameter', (args, where) => rebuildParameter('_rebuild_parameter', args, where)],
  [
    'torch._utils._rebuild_parameter_with_state',
    (args, where) => rebuildParameter('_rebuild_parameter_with_state', args, where),
  ],
  // torch/_tensor.py: tensors of a subclass or with Python attributes are pickled as
  // _rebuild_from_type_v2(func, type, args, state); only plain Tensor/Parameter types are accepted here.
  [
    'torch._tensor._rebuild_from_type_v2',
    (args, where) => {
      const [func, type, fargs] = args;
      if (!(func instanceof PyCallable))
        return fail(
          where,
          '_rebuild_from_type_v2',
          `func must be an allowed rebuild function, got ${pyTypeName(func)}`,
        );
      if (
        !(type instanceof PyGlobalRef) ||
        !['torch.Tensor', 'torch.nn.parameter.Parameter'].includes(type.qualifiedName)
      ) {
        fail(
          where,
          '_rebuild_from_type_v2',
          `type must be torch.Tensor or torch.nn.parameter.Parameter, got ${pyTypeName(type)}`,
        );
      }
      return func.call(items(fargs, where, '_rebuild_from_type_v2'), where);
    },
  ],
  ['torch.Size', (args, where) => new PyTuple(intTuple(args[0] ?? new PyTuple([]), where, 'torch.Size', 'sizes'))],
  [
    'torch.device',
    (args, where) => {
      const [type, index] = args;
      if (typeof type !== 'string') fail(where, 'torch.device', `expected a device string, got ${pyTypeName(type)}`);
      if (index !== undefined && index !== null)
        return new TorchDevice(type, int(index, where, 'torch.device', 'index'));
      const m = /^([a-z]+):(\d+)$/.exec(type);
      return m ? new TorchDevice(m[1]!, Number(m[2])) : new TorchDevice(type);
    },
  ],
  [
    '_codecs.encode',
    (args, where) => {
      const [s, encoding] = args;
      if (typeof s !== 'string') fail(where, '_codecs.encode', `expected a str, got ${pyTypeName(s)}`);
      return bytesFromString(s, typeof encoding === 'string' ? encoding : 'utf-8', where, '_codecs.encode');
    },
  ],
];
for (const mod of ['__builtin__', 'builtins']) {
  callables.push(
    [`${mod}.set`, (args, where) => new Set(items(args[0], where, 'set'))],
    [`${mod}.frozenset`, (args, where) => new Set(items(args[0], where, 'frozenset'))],
    [`${mod}.bytes`, (args, where) => makeBytes('bytes', args, where)],
    [`${mod}.bytearray`, (args, where) => makeBytes('bytearray', args, where)],
  );
}
const CALLABLES: ReadonlyMap<string, PyCallable> = new Map(callables.map(([n, f]) => [n, new PyCallable(n, f)]));

/** Names that are plain values (no call): dtypes, storage types, tensor types. */
const VALUES: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ...TORCH_DTYPE_NAMES.map((n) => [`torch.${n}`, new TorchDType(n)] as [string, PyValue]),
  ...Object.keys(STORAGE_DTYPE).map((n) => [`torch.${n}`, new PyGlobalRef('torch', n)] as [string, PyValue]),
  // PyTorch < 1.12 pickled a CUDA tensor's storage as torch.cuda.XStorage: the same bytes, loaded on the CPU.
  ...Object.keys(STORAGE_DTYPE).map((n) => [`torch.cuda.${n}`, new PyGlobalRef('torch.cuda', n)] as [string, PyValue]),
  ['torch.Tensor', new PyGlobalRef('torch', 'Tensor')],
  ['torch.nn.parameter.Parameter', new PyGlobalRef('torch.nn.parameter', 'Parameter')],
]);

/** Resolves GLOBAL / STACK_GLOBAL through the allow-list, or throws naming the refused global. */
export function resolveGlobal(module: string, name: string, where: string): PyValue | PyCallable {
  const qualified = `${module}.${name}`;
  const found = CALLABLES.get(qualified) ?? VALUES.get(qualified);
  if (found === undefined) {
    throw new Error(
      `unpickle(${where}): refusing global '${qualified}' (not in the allow-list of torch checkpoint types)`,
    );
  }
  return found;
}

/** True when the writer may emit this global, i.e. the reader would accept it back. */
export function isAllowedGlobal(qualified: string): boolean {
  return CALLABLES.has(qualified) || VALUES.has(qualified);
}

/** The DType of a storage type reference (`torch.FloatStorage` -> float32), or undefined. */
export function storageDType(ref: PyValue): DType | undefined {
  if (!(ref instanceof PyGlobalRef) || (ref.module !== 'torch' && ref.module !== 'torch.cuda')) return undefined;
  const d = STORAGE_DTYPE[ref.name];
  return d !== undefined && isDType(d) ? d : undefined;
}
