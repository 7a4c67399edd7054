/**
 * The typed Tensor: a JS object owning one native handle. Operators run through `callOp` (the generic
 * dispatcher call); methods here are the ones that chain often, the rest live in ops/ as functions.
 */
import { type AnyTypedArray, type DType, DTYPE_SIZE, formatShape, shapeNumel, typedView } from './dtype.js';
import { native, type NativeValue, type TensorHandle } from './native.js';
import { type Device, isDevice, requireDevice } from './device.js';
import { currentScope, type DisposeScope, type Owned } from './scope.js';

export type { Device };
export type MemoryFormat = 'contiguous' | 'preserve' | 'channels_last' | 'channels_last_3d';
export type Scalar = number | boolean;
export type TensorLike = Tensor | number;
export interface ToOptions {
  device?: Device;
  dtype?: DType;
  memoryFormat?: MemoryFormat;
  /** Always return a new tensor, even when nothing changes. */
  copy?: boolean;
  /** Asynchronous host-to-GPU copy (from pinned memory); ignored on the CPU. */
  nonBlocking?: boolean;
}

function isHandle(v: unknown): v is TensorHandle {
  return v instanceof native.TensorHandle;
}

/** Tensors become native handles; arrays are converted element-wise (Tensor[] and Tensor?[] arguments). */
function toNativeArg(a: unknown): unknown {
  if (a instanceof Tensor) return a.handle;
  if (Array.isArray(a)) return a.some((x) => x instanceof Tensor) ? a.map(toNativeArg) : a;
  return a;
}

function toNativeKwargs(kwargs: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!kwargs) return null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) if (v !== undefined) out[k] = toNativeArg(v);
  return out;
}

function wrapResult(v: NativeValue | undefined): unknown {
  if (isHandle(v)) return Tensor.fromHandle(v);
  if (Array.isArray(v)) return v.map(wrapResult);
  return v;
}

/** Calls ATen operator `name.overload` and returns its single tensor result. */
export function callOp(name: string, overload: string, args: unknown[], kwargs?: Record<string, unknown>): Tensor {
  const r = native.call(name, overload, args.map(toNativeArg), toNativeKwargs(kwargs));
  if (!isHandle(r))
    throw new Error(`${name}${overload ? '.' + overload : ''}: expected a tensor result, got ${typeof r}`);
  return Tensor.fromHandle(r);
}

/** Calls an operator that returns several tensors (a tuple or Tensor[]). */
export function callOpMulti(
  name: string,
  overload: string,
  args: unknown[],
  kwargs?: Record<string, unknown>,
): Tensor[] {
  const r = native.call(name, overload, args.map(toNativeArg), toNativeKwargs(kwargs));
  if (!Array.isArray(r)) throw new Error(`${name}${overload ? '.' + overload : ''}: expected several results`);
  return r.map(wrapResult) as Tensor[];
}

/** Calls an in-place or out= operator, discarding its result (the mutated tensor is already in hand). */
export function callOpInPlace(name: string, overload: string, args: unknown[], kwargs?: Record<string, unknown>): void {
  native.call(name, overload, args.map(toNativeArg), toNativeKwargs(kwargs), true);
}

/** Calls an operator that returns a non-tensor value (a number or boolean). */
export function callOpValue(
  name: string,
  overload: string,
  args: unknown[],
  kwargs?: Record<string, unknown>,
): unknown {
  return wrapResult(native.call(name, overload, args.map(toNativeArg), toNativeKwargs(kwargs)));
}

/** Normalises a possibly negative dimension index against `rank`, with an error naming `op`. */
export function normDim(op: string, dim: number, rank: number): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= Math.max(rank, 1)) {
    throw new Error(`${op}: dimension ${dim} out of range for a tensor of rank ${rank}`);
  }
  return d;
}

export class Tensor implements Owned {
  /** @internal */
  scope: DisposeScope | null = null;
  #handle: TensorHandle | null;
  #shape: readonly number[] | null = null;
  #dtype: DType | null = null;

  private constructor(handle: TensorHandle) {
    this.#handle = handle;
  }

  /** @internal wraps a native handle; the new tensor joins the innermost open scope. */
  static fromHandle(handle: TensorHandle): Tensor {
    const t = new Tensor(handle);
    currentScope()?.adopt(t);
    return t;
  }

  /** @internal the native handle; throws once disposed. */
  get handle(): TensorHandle {
    if (this.#handle === null) throw new Error('tensor was disposed');
    return this.#handle;
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  /** Frees the native memory now (idempotent). */
  dispose(): void {
    if (this.#handle === null) return;
    this.#handle.dispose();
    this.#handle = null;
    this.scope?.release(this);
  }

  get shape(): readonly number[] {
    // In-place ops keep shapes, so the first read can be cached.
    return (this.#shape ??= Object.freeze(this.handle.shape));
  }
  get rank(): number {
    return this.shape.length;
  }
  get numel(): number {
    return shapeNumel(this.shape);
  }
  get dtype(): DType {
    return (this.#dtype ??= this.handle.dtype);
  }
  get device(): Device {
    return this.handle.device as Device;
  }
  get strides(): number[] {
    return this.handle.strides;
  }
  size(dim: number): number {
    return this.shape[normDim('size', dim, this.rank)]!;
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return this.handle.isContiguous(memoryFormat);
  }
  isFloatingPoint(): boolean {
    const d = this.dtype;
    return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
  }

  // ----- autograd -----
  get requiresGrad(): boolean {
    return this.handle.requiresGrad;
  }
  set requiresGrad(value: boolean) {
    if (value && !this.isFloatingPoint())
      throw new Error(`requiresGrad: only floating-point tensors can require grad, this one is ${this.dtype}`);
    this.handle.requiresGrad = value;
  }
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }
  get isLeaf(): boolean {
    return this.handle.isLeaf;
  }
  /** Name of the autograd node that made this tensor (e.g. 'AddBackward0'), or null for leaves. */
  get gradFn(): string | null {
    return this.handle.gradFn;
  }
  /** The accumulated gradient (a new reference owned by the current scope), or null. */
  get grad(): Tensor | null {
    const g = this.handle.grad();
    return g === null ? null : Tensor.fromHandle(g);
  }
  set grad(g: Tensor | null) {
    this.handle.setGrad(g === null ? null : g.handle);
  }
  /** Back-propagates from this tensor (a scalar unless `grad` is given), accumulating into leaves' `.grad`. */
  backward(grad?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward([this.handle], [grad ? grad.handle : null], opts.retainGraph, opts.createGraph ?? false);
  }
  detach(): Tensor {
    return callOp('aten::detach', '', [this]);
  }

  // ----- data in and out -----
  /** The elements as a typed array (a copy, on the CPU, row-major). float16/bfloat16 come as raw Uint16 words. */
  toTypedArray(): AnyTypedArray {
    return typedView(new Uint8Array(native.toBuffer(this.handle)), this.dtype);
  }
  /** The elements as float32 (converting any dtype). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.toTypedArray() as Float32Array;
    const f = callOp('aten::_to_copy', '', [this], { dtype: 'float32' });
    try {
      return f.toTypedArray() as Float32Array;
    } finally {
      f.dispose();
    }
  }
  /** The raw little-endian bytes of the elements, row-major. */
  toBytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.handle));
  }
  /** Nested JS arrays of numbers (booleans for bool, bigints for int64 beyond 2^53). */
  toArray(): unknown {
    const flat = this.dtype === 'float16' || this.dtype === 'bfloat16' ? this.toFloat32Array() : this.toTypedArray();
    const values: (number | bigint | boolean)[] = Array.from(flat as ArrayLike<number | bigint>, (v) =>
      typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v,
    );
    if (this.dtype === 'bool') for (let i = 0; i < values.length; i++) values[i] = values[i] !== 0;
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.rank) return values[offset];
      const stride = shapeNumel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1)
      throw new Error(`item: tensor must have exactly one element, got shape ${formatShape(this.shape)}`);
    const v = callOpValue('aten::item', '', [this]);
    return typeof v === 'boolean' ? Number(v) : (v as number);
  }

  // ----- conversion -----
  /**
   * This tensor on `device` and/or as `dtype`, as Tensor.to: when nothing changes the result shares this
   * tensor's storage (a new reference, owned by the current scope; no copy), unless `copy` is set.
   * `nonBlocking` lets a copy from pinned host memory to a GPU overlap with work already queued there.
   */
  to(target: Device | DType | ToOptions): Tensor {
    const o: ToOptions =
      typeof target === 'string' ? (isDevice(target) ? { device: target } : { dtype: target as DType }) : target;
    try {
      return callOp('aten::to', 'dtype_layout', [this], {
        dtype: o.dtype,
        device: o.device,
        non_blocking: o.nonBlocking ?? false,
        copy: o.copy ?? false,
        memory_format: o.memoryFormat ?? 'preserve',
      });
    } catch (err) {
      // libtorch's own message for a missing CUDA is terse; say which part is missing instead.
      if (o.device !== undefined) requireDevice(o.device, 'Tensor.to');
      throw err;
    }
  }
  float(): Tensor {
    return this.to('float32');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  /** A copy in page-locked host memory (needs CUDA), from which `to(cuda, {nonBlocking})` copies asynchronously. */
  pinMemory(): Tensor {
    requireDevice('cuda', "Tensor.pinMemory (page-locked memory is CUDA's)");
    return callOp('aten::pin_memory', '', [this]);
  }
  isPinned(): boolean {
    return callOpValue('aten::is_pinned', '', [this]) === true;
  }
  clone(memoryFormat: MemoryFormat = 'preserve'): Tensor {
    return callOp('aten::clone', '', [this], { memory_format: memoryFormat });
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return callOp('aten::contiguous', '', [this], { memory_format: memoryFormat });
  }

  // ----- arithmetic (broadcasting as in PyTorch) -----
  add(other: TensorLike, o: { alpha?: number } = {}): Tensor {
    const alpha = o.alpha ?? 1;
    return typeof other === 'number'
      ? callOp('aten::add', 'Scalar', [this, other, alpha])
      : callOp('aten::add', 'Tensor', [this, other, alpha]);
  }
  sub(other: TensorLike, o: { alpha?: number } = {}): Tensor {
    const alpha = o.alpha ?? 1;
    return typeof other === 'number'
      ? callOp('aten::sub', 'Scalar', [this, other, alpha])
      : callOp('aten::sub', 'Tensor', [this, other, alpha]);
  }
  mul(other: TensorLike): Tensor {
    return callOp('aten::mul', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  div(other: TensorLike): Tensor {
    return callOp('aten::div', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  pow(exponent: TensorLike): Tensor {
    return callOp('aten::pow', typeof exponent === 'number' ? 'Tensor_Scalar' : 'Tensor_Tensor', [this, exponent]);
  }
  neg(): Tensor {
    return callOp('aten::neg', '', [this]);
  }
  abs(): Tensor {
    return callOp('aten::abs', '', [this]);
  }
  sqrt(): Tensor {
    return callOp('aten::sqrt', '', [this]);
  }
  rsqrt(): Tensor {
    return callOp('aten::rsqrt', '', [this]);
  }
  exp(): Tensor {
    return callOp('aten::exp', '', [this]);
  }
  log(): Tensor {
    return callOp('aten::log', '', [this]);
  }
  square(): Tensor {
    return callOp('aten::square', '', [this]);
  }
  reciprocal(): Tensor {
    return callOp('aten::reciprocal', '', [this]);
  }
  sign(): Tensor {
    return callOp('aten::sign', '', [this]);
  }
  relu(): Tensor {
    return callOp('aten::relu', '', [this]);
  }
  sigmoid(): Tensor {
    return callOp('aten::sigmoid', '', [this]);
  }
  tanh(): Tensor {
    return callOp('aten::tanh', '', [this]);
  }
  /** Clamps to [min, max]; either bound may be omitted (null). */
  clamp(min: number | null, max: number | null = null): Tensor {
    if (min === null && max === null) throw new Error('clamp: at least one of min and max must be given');
    return callOp('aten::clamp', '', [this, min, max]);
  }
  matmul(other: Tensor): Tensor {
    return callOp('aten::matmul', '', [this, other]);
  }

  // ----- comparisons (bool results) -----
  eq(other: TensorLike): Tensor {
    return callOp('aten::eq', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  ne(other: TensorLike): Tensor {
    return callOp('aten::ne', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  lt(other: TensorLike): Tensor {
    return callOp('aten::lt', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  le(other: TensorLike): Tensor {
    return callOp('aten::le', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  gt(other: TensorLike): Tensor {
    return callOp('aten::gt', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }
  ge(other: TensorLike): Tensor {
    return callOp('aten::ge', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
  }

  // ----- reductions; `dim` omitted reduces over everything -----
  sum(dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::sum', 'dim_IntList', [this, atenDim(dim), keepdim]);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::mean', 'dim', [this, atenDim(dim), keepdim]);
  }
  /** Variance with Bessel's correction by default (`correction` 1), as torch.var. */
  var(dim?: number | number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return callOp('aten::var', 'correction', [this, atenDim(dim)], {
      correction: opts.correction ?? 1,
      keepdim: opts.keepdim ?? false,
    });
  }
  std(dim?: number | number[], opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return callOp('aten::std', 'correction', [this, atenDim(dim)], {
      correction: opts.correction ?? 1,
      keepdim: opts.keepdim ?? false,
    });
  }
  amax(dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::amax', '', [this, atenDim(dim, []), keepdim]);
  }
  amin(dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::amin', '', [this, atenDim(dim, []), keepdim]);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return callOp('aten::argmax', '', [this, atenDim(dim), keepdim]);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return callOp('aten::argmin', '', [this, atenDim(dim), keepdim]);
  }
  /** Vector p-norm over `dim` (all elements when omitted), as torch.linalg.vector_norm. */
  norm(p = 2, dim?: number | number[], keepdim = false): Tensor {
    return callOp('aten::linalg_vector_norm', '', [this, p, atenDim(dim), keepdim]);
  }

  // ----- shape -----
  reshape(shape: readonly number[]): Tensor {
    return callOp('aten::reshape', '', [this, shape]);
  }
  view(shape: readonly number[]): Tensor {
    return callOp('aten::view', '', [this, shape]);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return callOp('aten::flatten', 'using_ints', [this, startDim, endDim]);
  }
  permute(dims: readonly number[]): Tensor {
    if (dims.length !== this.rank)
      throw new Error(
        `permute: got ${dims.length} dims [${dims.join(',')}] for a tensor of shape ${formatShape(this.shape)}`,
      );
    return callOp('aten::permute', '', [this, dims]);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return callOp('aten::transpose', 'int', [this, dim0, dim1]);
  }
  /** Transpose of a matrix (rank <= 2). */
  get T(): Tensor {
    return callOp('aten::numpy_T', '', [this]);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? callOp('aten::squeeze', '', [this]) : callOp('aten::squeeze', 'dim', [this, dim]);
  }
  unsqueeze(dim: number): Tensor {
    return callOp('aten::unsqueeze', '', [this, dim]);
  }
  expand(shape: readonly number[]): Tensor {
    return callOp('aten::expand', '', [this, shape]);
  }
  /** Elements `start..end` (exclusive) along `dim`, stepping by `step` (a view, like Python slicing). */
  slice(dim: number, start: number | null, end: number | null = null, step = 1): Tensor {
    return callOp('aten::slice', 'Tensor', [this, dim, start, end, step]);
  }
  /** The sub-tensor at `index` along `dim`, with that dimension removed. */
  select(dim: number, index: number): Tensor {
    return callOp('aten::select', 'int', [this, dim, index]);
  }

  // ----- in place (return this; used by optimisers and initialisers under noGrad) -----
  add_(other: TensorLike, o: { alpha?: number } = {}): this {
    callOpInPlace('aten::add_', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other, o.alpha ?? 1]);
    return this;
  }
  sub_(other: TensorLike, o: { alpha?: number } = {}): this {
    callOpInPlace('aten::sub_', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other, o.alpha ?? 1]);
    return this;
  }
  mul_(other: TensorLike): this {
    callOpInPlace('aten::mul_', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
    return this;
  }
  div_(other: TensorLike): this {
    callOpInPlace('aten::div_', typeof other === 'number' ? 'Scalar' : 'Tensor', [this, other]);
    return this;
  }
  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, o: { value?: number } = {}): this {
    callOpInPlace('aten::addcmul_', '', [this, t1, t2, o.value ?? 1]);
    return this;
  }
  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, o: { value?: number } = {}): this {
    callOpInPlace('aten::addcdiv_', '', [this, t1, t2, o.value ?? 1]);
    return this;
  }
  /** this += weight * (end - this) */
  lerp_(end: Tensor, weight: number): this {
    callOpInPlace('aten::lerp_', 'Scalar', [this, end, weight]);
    return this;
  }
  clamp_(min: number | null, max: number | null = null): this {
    callOpInPlace('aten::clamp_', '', [this, min, max]);
    return this;
  }
  zero_(): this {
    callOpInPlace('aten::zero_', '', [this]);
    return this;
  }
  fill_(value: number): this {
    callOpInPlace('aten::fill_', 'Scalar', [this, value]);
    return this;
  }
  /**
   * Makes this tensor `source`'s data (storage, shape, dtype, device), keeping its identity and autograd flags:
   * `param.data = source` (Tensor.set_data; set_ alone would reinterpret the bytes under the old dtype).
   */
  setData(source: Tensor): this {
    callOpInPlace('aten::set_data', '', [this, source]);
    this.#shape = null;
    this.#dtype = null;
    return this;
  }
  copy_(src: Tensor): this {
    callOpInPlace('aten::copy_', '', [this, src]);
    return this;
  }

  /** @internal true when both tensors share storage (views of one another). */
  isAliasOf(other: Tensor): boolean {
    return this.handle.sameStorage(other.handle);
  }

  toString(): string {
    if (this.disposed) return 'Tensor(<disposed>)';
    return `Tensor(shape=${formatShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/**
 * ATen's spelling of a `dim` argument. The API spells "all dimensions" one way, by leaving `dim` out
 * (docs/ops-conventions.md); ATen wants `None` for an `int?` (argmax) or `int[1]?` (sum, mean, var, std,
 * linalg_vector_norm) argument, and `[]` for the `int[1]` of amax/amin, where an empty list means all. A single
 * number is passed as it is: the addon reads it as a one-element list for an `int[1]` argument, as ATen does.
 */
function atenDim(dim: number | undefined): number | null;
function atenDim(dim: number | number[] | undefined, all?: null | []): number[] | null;
function atenDim(dim: number | number[] | undefined, all: null | [] = null): number | number[] | null {
  if (dim === undefined) return all;
  return dim;
}

/** Bytes the tensor's elements take (numel x element size). */
export function tensorBytes(t: Tensor): number {
  return t.numel * DTYPE_SIZE[t.dtype];
}
