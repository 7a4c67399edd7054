/**
 * A pickle writer (protocol 2, the protocol `torch.save` uses) for the value model of pyvalue.ts.
 *
 * Opcode choices follow CPython's `Lib/pickle.py` `_Pickler` for protocol 2 so that Python reads the result
 * like one of its own: small ints as BININT1/BININT2/BININT, larger ones LONG1, floats BINFLOAT, str BINUNICODE,
 * bytes as `_codecs.encode(latin1, 'latin1')`, sets as `__builtin__.set([...])`, OrderedDict through REDUCE
 * with its attributes (a state dict's `_metadata`) restored by BUILD. Tensors are written as torch does
 * (torch/_tensor.py `_reduce_ex_internal`): `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 * requires_grad, OrderedDict())` with the storage as a persistent id `('storage', torch.XStorage, key, 'cpu',
 * numel)` whose bytes the caller (pth.ts) stores separately.
 *
 * Numbers: integral JS numbers within Number.MAX_SAFE_INTEGER are written as Python ints; other numbers (and
 * -0) as floats; wrap a value in `pyFloat()` to force a float (lr = 1.0), use a bigint for ints past 2^53.
 */
import { DTYPE_SIZE, formatShape } from '../dtype.js';
import { DTYPE_STORAGE, isAllowedGlobal } from './pickle-globals.js';
import { OP } from './pickle-ops.js';
import {
  isStoredTensor,
  PyFloat,
  PyGlobalRef,
  PyOrderedDict,
  PyTuple,
  type PyWritable,
  storageViewOf,
  TorchDevice,
  TorchDType,
  TorchStorage,
} from './pyvalue.js';
import { checkStored, type StoredTensor } from './stored.js';

export interface PickleWriteOptions {
  /**
   * Gives each storage its key in the checkpoint (called once per distinct storage, in order of first use).
   * Without it, tensors and storages cannot be written.
   */
  storageKey?: (storage: TorchStorage) => string;
}

/** Pickles `value` (protocol 2). */
export function pickle(value: PyWritable, options: PickleWriteOptions = {}): Uint8Array {
  const w = new PickleWriter(options);
  w.byte(OP.PROTO);
  w.byte(2);
  w.save(value, []);
  w.byte(OP.STOP);
  return w.result();
}

/** Python ints in LONG1's little-endian two's complement, shortest form (pickle.py `encode_long`). */
export function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n; // arithmetic shift: negative numbers converge to -1
    const signBit = (out[out.length - 1]! & 0x80) !== 0;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

const encoder = new TextEncoder();
const BATCH = 1000; // pickle.py _BATCHSIZE

class PickleWriter {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly memo = new Map<object, number>();
  private readonly globals = new Map<string, number>();
  private readonly inProgress = new Set<object>();
  private readonly storages = new Map<TorchStorage, string>();
  /** Tensors whose bytes are not a known storage view get a storage of their own, one per data array. */
  private readonly ownStorage = new Map<Uint8Array, TorchStorage>();

  constructor(private readonly options: PickleWriteOptions) {}

  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  private u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }

  private fail(path: readonly string[], message: string): never {
    throw new Error(`pickle: ${message} at ${path.length === 0 ? '<root>' : path.join('.')}`);
  }

  private put(obj: object): void {
    const idx = this.memo.size;
    this.memo.set(obj, idx);
    if (idx < 256) {
      this.byte(OP.BINPUT);
      this.byte(idx);
    } else {
      this.byte(OP.LONG_BINPUT);
      this.u32(idx);
    }
  }

  private get(idx: number): void {
    if (idx < 256) {
      this.byte(OP.BINGET);
      this.byte(idx);
    } else {
      this.byte(OP.LONG_BINGET);
      this.u32(idx);
    }
  }

  private global(module: string, name: string): void {
    const key = `${module}\n${name}\n`;
    const idx = this.globals.get(key);
    if (idx !== undefined) {
      this.get(idx);
      return;
    }
    this.byte(OP.GLOBAL);
    this.bytes(encoder.encode(key));
    const token = {}; // globals are memoized by name, not by a JS object
    this.put(token);
    this.globals.set(key, this.memo.get(token)!);
  }

  private int(v: bigint): void {
    if (v >= 0n && v < 256n) {
      this.byte(OP.BININT1);
      this.byte(Number(v));
      return;
    }
    if (v >= 0n && v < 65536n) {
      this.byte(OP.BININT2);
      this.byte(Number(v) & 0xff);
      this.byte(Number(v) >> 8);
      return;
    }
    if (v >= -(2n ** 31n) && v < 2n ** 31n) {
      this.byte(OP.BININT);
      this.ensure(4);
      new DataView(this.buf.buffer).setInt32(this.len, Number(v), true);
      this.len += 4;
      return;
    }
    const enc = encodeLong(v);
    if (enc.length < 256) {
      this.byte(OP.LONG1);
      this.byte(enc.length);
    } else {
      this.byte(OP.LONG4);
      this.u32(enc.length);
    }
    this.bytes(enc);
  }

  private float(v: number): void {
    this.byte(OP.BINFLOAT);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, false); // big-endian, pickle.py save_float
    this.len += 8;
  }

  private str(s: string): void {
    const b = encoder.encode(s);
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.bytes(b);
  }

  /** Emits the tuple of already-written items: TUPLE1-3 or MARK ... TUPLE. */
  private tuple(items: readonly PyWritable[], path: string[]): void {
    if (items.length === 0) {
      this.byte(OP.EMPTY_TUPLE);
      return;
    }
    if (items.length > 3) this.byte(OP.MARK);
    items.forEach((v, i) => this.save(v, [...path, String(i)]));
    this.byte(items.length > 3 ? OP.TUPLE : OP.TUPLE1 + items.length - 1);
  }

  private dictItems(entries: Iterable<[PyWritable, PyWritable]>, path: string[]): void {
    let batch: [PyWritable, PyWritable][] = [];
    const flush = (): void => {
      if (batch.length === 0) return;
      if (batch.length > 1) this.byte(OP.MARK);
      for (const [k, v] of batch) {
        const seg = typeof k === 'string' || typeof k === 'number' ? String(k) : `<${typeof k} key>`;
        this.save(k, [...path, `${seg}(key)`]);
        this.save(v, [...path, seg]);
      }
      this.byte(batch.length > 1 ? OP.SETITEMS : OP.SETITEM);
      batch = [];
    };
    for (const e of entries) {
      batch.push(e);
      if (batch.length === BATCH) flush();
    }
    flush();
  }

  private listItems(items: readonly PyWritable[], path: string[]): void {
    for (let i = 0; i < items.length; i += BATCH) {
      const chunk = items.slice(i, i + BATCH);
      if (chunk.length > 1) this.byte(OP.MARK);
      chunk.forEach((v, j) => this.save(v, [...path, String(i + j)]));
      this.byte(chunk.length > 1 ? OP.APPENDS : OP.APPEND);
    }
  }

  private storageId(storage: TorchStorage, path: string[]): void {
    let key = this.storages.get(storage);
    if (key === undefined) {
      if (this.options.storageKey === undefined)
        this.fail(path, 'tensors can only be written inside a checkpoint (writePth)');
      key = this.options.storageKey(storage);
      this.storages.set(storage, key);
    }
    this.byte(OP.MARK);
    this.str('storage');
    this.global('torch', DTYPE_STORAGE[storage.dtype]);
    this.str(key);
    this.str('cpu');
    this.int(BigInt(storage.numel));
    this.byte(OP.TUPLE);
    this.byte(OP.BINPERSID);
  }

  private tensor(t: StoredTensor, path: string[]): void {
    checkStored(t, `pickle: tensor at ${path.join('.') || '<root>'}`);
    let view = storageViewOf(t.data);
    if (view !== undefined && view.storage.dtype !== t.dtype) view = undefined;
    let storage = view?.storage;
    if (storage === undefined) {
      storage = this.ownStorage.get(t.data);
      if (storage === undefined || storage.dtype !== t.dtype) {
        storage = new TorchStorage(t.dtype, t.data);
        this.ownStorage.set(t.data, storage);
      }
    }
    if (t.data.byteLength % DTYPE_SIZE[t.dtype] !== 0)
      this.fail(path, `tensor ${formatShape(t.shape)} has a partial element`);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(OP.MARK);
    this.storageId(storage, path);
    this.int(BigInt(view?.offset ?? 0));
    this.tuple(t.shape, path);
    this.tuple(contiguousStrides(t.shape), path);
    this.byte(t.requiresGrad === true ? OP.NEWTRUE : OP.NEWFALSE);
    this.global('collections', 'OrderedDict'); // backward_hooks: an empty OrderedDict, as torch writes
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.byte(OP.TUPLE);
    this.byte(OP.REDUCE);
  }

  save(v: PyWritable, path: string[]): void {
    if (v === null) {
      this.byte(OP.NONE);
      return;
    }
    if (typeof v === 'boolean') {
      this.byte(v ? OP.NEWTRUE : OP.NEWFALSE);
      return;
    }
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(BigInt(v));
      else this.float(v);
      return;
    }
    if (typeof v === 'bigint') {
      this.int(v);
      return;
    }
    if (typeof v === 'string') {
      this.str(v);
      return;
    }
    if (typeof v !== 'object') this.fail(path, `cannot pickle a JS ${typeof v}`);
    if (v instanceof PyFloat) {
      this.float(v.value);
      return;
    }
    if (v instanceof TorchDType) {
      this.global('torch', v.name);
      return;
    }
    if (v instanceof PyGlobalRef) {
      if (!isAllowedGlobal(v.qualifiedName))
        this.fail(path, `refusing to write global '${v.qualifiedName}' (not in the allow-list)`);
      this.global(v.module, v.name);
      return;
    }
    if (v instanceof TorchStorage) {
      this.storageId(v, path);
      return;
    }

    const seen = this.memo.get(v);
    if (seen !== undefined) {
      this.get(seen);
      return;
    }
    if (this.inProgress.has(v)) this.fail(path, 'a tuple, set or tensor contains itself');
    this.inProgress.add(v);
    try {
      this.saveObject(v, path);
    } finally {
      this.inProgress.delete(v);
    }
  }

  private saveObject(v: object, path: string[]): void {
    if (isStoredTensor(v)) {
      this.tensor(v, path);
      this.put(v);
      return;
    }
    if (v instanceof Uint8Array) {
      this.global('_codecs', 'encode');
      let s = '';
      for (let i = 0; i < v.length; i += 8192) s += String.fromCharCode(...v.subarray(i, i + 8192));
      this.str(s);
      this.str('latin1');
      this.byte(OP.TUPLE2);
      this.byte(OP.REDUCE);
      this.put(v);
      return;
    }
    if (v instanceof PyTuple) {
      this.tuple(v.items, path);
      this.put(v);
      return;
    }
    if (v instanceof TorchDevice) {
      this.global('torch', 'device');
      this.tuple(v.index === null ? [v.type] : [v.type, v.index], path);
      this.byte(OP.REDUCE);
      this.put(v);
      return;
    }
    if (Array.isArray(v)) {
      this.byte(OP.EMPTY_LIST);
      this.put(v);
      this.listItems(v as PyWritable[], path);
      return;
    }
    if (v instanceof Set) {
      this.global('__builtin__', 'set');
      this.byte(OP.EMPTY_LIST);
      this.listItems([...(v as Set<PyWritable>)], path);
      this.byte(OP.TUPLE1);
      this.byte(OP.REDUCE);
      this.put(v);
      return;
    }
    if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict');
      this.byte(OP.EMPTY_TUPLE);
      this.byte(OP.REDUCE);
      this.put(v);
      this.dictItems(v as Map<PyWritable, PyWritable>, path);
      if (v.attrs !== undefined && v.attrs.size > 0) {
        this.save(v.attrs as Map<PyWritable, PyWritable>, [...path, '<attrs>']);
        this.byte(OP.BUILD);
      }
      return;
    }
    if (v instanceof Map) {
      this.byte(OP.EMPTY_DICT);
      this.put(v);
      this.dictItems(v as Map<PyWritable, PyWritable>, path);
      return;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto === Object.prototype || proto === null) {
      this.byte(OP.EMPTY_DICT);
      this.put(v);
      this.dictItems(Object.entries(v as Record<string, PyWritable>), path);
      return;
    }
    this.fail(path, `cannot pickle a ${(v as { constructor?: { name?: string } }).constructor?.name ?? 'object'}`);
  }
}
