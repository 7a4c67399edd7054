/** Factories and random tensors. Random ops draw from libtorch's default generator (`manualSeed`). */
import { type AnyTypedArray, type DType, dtypeOfArray, formatShape, shapeNumel } from '../dtype.js';
import { native } from '../native.js';
import type { StoredTensor } from '../serialization/stored.js';
import { callOp, callOpInPlace, type Device, Tensor } from '../tensor.js';

export interface TensorOptions {
  /** Element type; float32 unless said otherwise (integer factories: int64). */
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${op}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function factoryKwargs(opts: TensorOptions, defaultDType: DType | null = 'float32'): Record<string, unknown> {
  return { dtype: opts.dtype ?? defaultDType, device: opts.device ?? null };
}

export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('zeros', shape);
  return finish(callOp('aten::zeros', '', [shape], factoryKwargs(opts)), opts);
}
export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('ones', shape);
  return finish(callOp('aten::ones', '', [shape], factoryKwargs(opts)), opts);
}
/** Uninitialised memory: only for tensors that are fully written before they are read. */
export function empty(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('empty', shape);
  return finish(callOp('aten::empty', 'memory_format', [shape], factoryKwargs(opts)), opts);
}
export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  checkShape('full', shape);
  return finish(callOp('aten::full', '', [shape, value], factoryKwargs(opts)), opts);
}
export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return finish(callOp('aten::zeros_like', '', [t], { dtype: opts.dtype ?? null, device: opts.device ?? null }), opts);
}
export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return finish(callOp('aten::ones_like', '', [t], { dtype: opts.dtype ?? null, device: opts.device ?? null }), opts);
}
export function fullLike(t: Tensor, value: number, opts: TensorOptions = {}): Tensor {
  return finish(
    callOp('aten::full_like', '', [t, value], { dtype: opts.dtype ?? null, device: opts.device ?? null }),
    opts,
  );
}
/** `start, start+step, ...` below `end`; int64 when every bound is an integer (as torch.arange), else float32. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0) throw new Error('arange: step must be non-zero');
  const integral = [lo, hi, step].every(Number.isInteger);
  return finish(
    callOp('aten::arange', 'start_step', [lo, hi, step], factoryKwargs(opts, integral ? 'int64' : 'float32')),
    opts,
  );
}
export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0)
    throw new Error(`linspace: steps must be a non-negative integer, got ${steps}`);
  return finish(callOp('aten::linspace', '', [start, end, steps], factoryKwargs(opts)), opts);
}
export function eye(n: number, m: number = n, opts: TensorOptions = {}): Tensor {
  return finish(callOp('aten::eye', 'm', [n, m], factoryKwargs(opts)), opts);
}

// ----- random -----
export function rand(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('rand', shape);
  return finish(callOp('aten::rand', '', [shape], factoryKwargs(opts)), opts);
}
export function randn(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('randn', shape);
  return finish(callOp('aten::randn', '', [shape], factoryKwargs(opts)), opts);
}
/** Integers uniformly in [low, high). */
export function randint(low: number, high: number, shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('randint', shape);
  if (!(high > low)) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  return callOp('aten::randint', 'low', [low, high, shape], factoryKwargs(opts, 'int64'));
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: TensorOptions = {}): Tensor {
  return callOp('aten::randperm', '', [n], factoryKwargs(opts, 'int64'));
}
/**
 * Draws 0/1, as torch.bernoulli: `bernoulli(probs)` with a tensor of probabilities, or `bernoulli(input, p)` with
 * one probability `p` for every element of `input`'s shape.
 */
export function bernoulli(input: Tensor, p?: number): Tensor {
  if (p === undefined) return callOp('aten::bernoulli', '', [input]);
  if (p < 0 || p > 1) throw new Error(`bernoulli: probability must be in [0, 1], got ${p}`);
  return callOp('aten::bernoulli', 'p', [input, p]);
}
/** Fills `t` in place with U(from, to) (initialisers). */
export function uniform_(t: Tensor, from = 0, to = 1): Tensor {
  callOpInPlace('aten::uniform_', '', [t, from, to]);
  return t;
}
/** Fills `t` in place with N(mean, std^2) (initialisers). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  callOpInPlace('aten::normal_', '', [t, mean, std]);
  return t;
}

/** Seeds libtorch's default generators (CPU and CUDA), as torch.manual_seed. */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}
/** The CPU generator's state (a uint8 tensor), for checkpoints; restore with `setRngState`. */
export function getRngState(): Tensor {
  return Tensor.fromHandle(native.getRngState());
}
export function setRngState(state: Tensor): void {
  native.setRngState(state.handle);
}
/** Every visible GPU's generator state (torch.cuda.get_rng_state_all); empty without CUDA. */
export function getCudaRngStates(): Tensor[] {
  const { devices } = native.cudaStatus();
  return Array.from({ length: devices }, (_, i) => Tensor.fromHandle(native.cudaGetRngState(i)));
}
/** Restores states from `getCudaRngStates`; an error when they name more GPUs than this process sees. */
export function setCudaRngStates(states: readonly Tensor[]): void {
  const { devices } = native.cudaStatus();
  if (states.length > devices) {
    throw new Error(`setCudaRngStates: ${states.length} CUDA generator states for ${devices} visible CUDA devices`);
  }
  states.forEach((s, i) => native.cudaSetRngState(i, s.handle));
}

// ----- from JS data -----
type Nested = number | boolean | Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0]!;
  }
  return shape;
}

/**
 * A tensor from nested arrays or a typed array. Unlike torch.tensor, plain numbers give float32 unless
 * `dtype` says otherwise (JS cannot tell 1 from 1.0); booleans give bool; typed arrays keep their type.
 */
export function tensor(data: Nested | AnyTypedArray, opts: TensorOptions & { shape?: readonly number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const dtype = opts.dtype ?? dtypeOfArray(data);
    const shape = opts.shape ?? [data.length];
    return fromTypedArray(data, shape, { ...opts, dtype });
  }
  const shape = opts.shape ?? inferShape(data);
  const flat = (Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data]) as (number | boolean)[];
  if (flat.length !== shapeNumel(shape)) {
    throw new Error(
      `tensor: ragged nested array: shape ${formatShape(shape)} needs ${shapeNumel(shape)} elements, got ${flat.length}`,
    );
  }
  const isBool = flat.length > 0 && typeof flat[0] === 'boolean';
  const dtype = opts.dtype ?? (isBool ? 'bool' : 'float32');
  let arr: AnyTypedArray;
  switch (dtype) {
    case 'float64':
      arr = Float64Array.from(flat, Number);
      break;
    case 'int64':
      arr = BigInt64Array.from(flat, (v) => BigInt(Math.trunc(Number(v))));
      break;
    case 'int32':
      arr = Int32Array.from(flat, Number);
      break;
    case 'int16':
      arr = Int16Array.from(flat, Number);
      break;
    case 'int8':
      arr = Int8Array.from(flat, Number);
      break;
    case 'uint8':
    case 'bool':
      arr = Uint8Array.from(flat, Number);
      break;
    default:
      arr = Float32Array.from(flat, Number);
  }
  const t = fromTypedArray(arr, shape, {
    ...opts,
    dtype: dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype,
  });
  if (dtype !== 'float16' && dtype !== 'bfloat16') return t;
  const half = t.to(dtype);
  t.dispose();
  return finish(half, opts);
}

/** A tensor holding a copy of `data` with `shape`; `dtype` must match the array's element size. */
export function fromTypedArray(data: AnyTypedArray, shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkShape('fromTypedArray', shape);
  const dtype = opts.dtype ?? dtypeOfArray(data);
  return finish(Tensor.fromHandle(native.fromBuffer(data, shape, dtype, opts.device ?? 'cpu')), opts);
}

/** A live tensor from a checkpoint's StoredTensor (bytes copied once). */
export function fromStored(st: StoredTensor, opts: { device?: Device } = {}): Tensor {
  const t = Tensor.fromHandle(native.fromBuffer(st.data, st.shape, st.dtype, opts.device ?? 'cpu'));
  if (st.requiresGrad) t.requiresGrad = true;
  return t;
}

/** The StoredTensor (contiguous bytes) of a live tensor, for writing checkpoints. */
export function toStored(t: Tensor): StoredTensor {
  return { dtype: t.dtype, shape: [...t.shape], data: t.toBytes(), ...(t.requiresGrad ? { requiresGrad: true } : {}) };
}
