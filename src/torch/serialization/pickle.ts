/**
 * A safe unpickler for the subset of pickle that PyTorch checkpoints use (protocols 0-5 as far as torch.save and
 * friends emit them; opcode semantics after CPython's `Lib/pickle.py` and `Lib/pickletools.py`).
 *
 * Safe means: nothing in the file can run code. Module-level names (GLOBAL / STACK_GLOBAL) resolve only through
 * the allow-list in pickle-globals.ts, whose entries are TypeScript re-implementations; opcodes that build
 * arbitrary objects (INST, OBJ, EXT*) and out-of-band buffers are refused. Every read is bounds-checked, so a
 * truncated or corrupted pickle throws an Error naming the file and the offset.
 *
 * See pyvalue.ts for how Python values map to JS. The writer lives in pickle-write.ts.
 */
import { ByteCursor, decodeUtf8, latin1, OP, OP_NAME } from './pickle-ops.js';
import { PyCallable, resolveGlobal } from './pickle-globals.js';
import { PyFloat, PyOrderedDict, PyTuple, pyTypeName, type PyValue } from './pyvalue.js';

export { pickleEnd } from './pickle-ops.js';

export interface UnpickleOptions {
  /** Names the source in error messages, e.g. `model.pth:archive/data.pkl`. */
  where?: string;
  /** Byte offset where the pickle starts (the legacy format holds several pickles in a row). */
  start?: number;
  /** Resolves persistent ids (BINPERSID); torch uses them for storages. Without it, persistent ids are refused. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /**
   * Return every Python float as a PyFloat instead of a number, so that a value written back keeps 1.0 a float.
   * Off by default: plain numbers are easier to use.
   */
  preserveFloats?: boolean;
}

/** Unpickles one value. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PyValue {
  return unpickleWithEnd(bytes, options).value;
}

/** Unpickles one value and returns the offset just past its STOP opcode. */
export function unpickleWithEnd(bytes: Uint8Array, options: UnpickleOptions = {}): { value: PyValue; end: number } {
  return new Unpickler(bytes, options).run();
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Python int -> number when it is exactly representable, else bigint. */
export function pyInt(v: bigint): number | bigint {
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
}

/** Little-endian two's complement, as LONG1 / LONG4 store ints (pickle.py `decode_long`). */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = '';
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, '0');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return pyInt(v);
}

class Unpickler {
  private readonly cur: ByteCursor;
  private readonly stack: PyValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();

  constructor(
    bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.cur = new ByteCursor(bytes, options.where ?? 'buffer', options.start ?? 0);
  }

  private fail(message: string): never {
    return this.cur.fail(message);
  }

  private pop(op: string): PyValue {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
    if (this.stack.length <= floor) this.fail(`${op} at byte ${this.cur.pos - 1}: stack underflow`);
    return this.stack.pop()!;
  }

  private top(op: string): PyValue {
    if (this.stack.length === 0) this.fail(`${op} at byte ${this.cur.pos - 1}: empty stack`);
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(op: string): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail(`${op} at byte ${this.cur.pos - 1}: no MARK`);
    return this.stack.splice(m);
  }

  private float(v: number): PyValue {
    return this.options.preserveFloats ? new PyFloat(v) : v;
  }

  private memoGet(idx: number, op: string): PyValue {
    const v = this.memo.get(idx);
    if (v === undefined) this.fail(`${op} at byte ${this.cur.pos}: memo entry ${idx} was never stored`);
    return v;
  }

  private call(fn: PyValue, args: PyValue, op: string): PyValue {
    if (!(fn instanceof PyCallable)) this.fail(`${op}: cannot call ${pyTypeName(fn)}`);
    if (!(args instanceof PyTuple))
      this.fail(`${op} on ${fn.qualifiedName}: arguments must be a tuple, got ${pyTypeName(args)}`);
    return fn.call(args.items, this.options.where ?? 'buffer');
  }

  private build(state: PyValue, target: PyValue): void {
    // pickle.py load_build: state may be a dict, or (dict, slotstate); OrderedDict keeps it as attributes.
    let dict = state;
    if (state instanceof PyTuple && state.length === 2 && state.items[1] === null) dict = state.items[0] ?? null;
    if (dict === null) return;
    if (!(target instanceof PyOrderedDict) || !(dict instanceof Map)) {
      this.fail(`BUILD: cannot set state ${pyTypeName(dict)} on ${pyTypeName(target)}`);
    }
    const attrs = target.attrs ?? new Map<string, PyValue>();
    for (const [k, v] of dict) {
      if (typeof k !== 'string') this.fail(`BUILD: attribute name must be a str, got ${pyTypeName(k)}`);
      attrs.set(k, v);
    }
    target.attrs = attrs;
  }

  private persistent(pid: PyValue): PyValue {
    if (this.options.persistentLoad === undefined)
      this.fail('persistent id found but this file kind has no persistent storage');
    return this.options.persistentLoad(pid);
  }

  private textInt(text: string, op: string): PyValue {
    if (op === 'INT' && text === '00') return false;
    if (op === 'INT' && text === '01') return true;
    const m = /^\s*([+-]?\d+)L?\s*$/.exec(text);
    if (!m) this.fail(`${op}: bad integer literal '${text}'`);
    return pyInt(BigInt(m[1]!));
  }

  private memoIndex(text: string, op: string): number {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) this.fail(`${op}: bad memo index '${text}'`);
    return n;
  }

  run(): { value: PyValue; end: number } {
    const cur = this.cur;
    const s = this.stack;
    for (;;) {
      const at = cur.pos;
      const op = cur.u8('opcode');
      const name = OP_NAME.get(op) ?? `0x${op.toString(16).padStart(2, '0')}`;
      switch (op) {
        case OP.PROTO: {
          const v = cur.u8(name);
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case OP.FRAME: {
          const n = cur.u64(name);
          if (n > cur.bytes.length - cur.pos)
            this.fail(`truncated: FRAME at byte ${at} announces ${n} bytes, ${cur.bytes.length - cur.pos} left`);
          break;
        }
        case OP.STOP: {
          const value = this.pop(name);
          return { value, end: cur.pos };
        }
        case OP.MARK:
          this.marks.push(s.length);
          break;
        case OP.POP: {
          const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
          if (s.length > floor) s.pop();
          else this.popMark(name);
          break;
        }
        case OP.POP_MARK:
          this.popMark(name);
          break;
        case OP.DUP:
          s.push(this.top(name));
          break;
        case OP.NONE:
          s.push(null);
          break;
        case OP.NEWTRUE:
          s.push(true);
          break;
        case OP.NEWFALSE:
          s.push(false);
          break;
        case OP.INT:
        case OP.LONG:
          s.push(this.textInt(cur.line(name), name));
          break;
        case OP.BININT:
          s.push(cur.i32(name));
          break;
        case OP.BININT1:
          s.push(cur.u8(name));
          break;
        case OP.BININT2:
          s.push(cur.u16(name));
          break;
        case OP.LONG1:
          s.push(decodeLong(cur.take(cur.u8(name), name)));
          break;
        case OP.LONG4: {
          const n = cur.i32(name);
          if (n < 0) this.fail(`LONG4 at byte ${at}: negative length ${n}`);
          s.push(decodeLong(cur.take(n, name)));
          break;
        }
        case OP.FLOAT: {
          const text = cur.line(name);
          const v = Number(text);
          if (text.trim() === '' || (Number.isNaN(v) && !/^\s*[+-]?nan\s*$/i.test(text)))
            this.fail(`FLOAT: bad literal '${text}'`);
          s.push(this.float(v));
          break;
        }
        case OP.BINFLOAT:
          s.push(this.float(cur.f64be(name)));
          break;
        case OP.SHORT_BINSTRING:
          s.push(latin1(cur.take(cur.u8(name), name)));
          break;
        case OP.BINSTRING: {
          const n = cur.i32(name);
          if (n < 0) this.fail(`BINSTRING at byte ${at}: negative length ${n}`);
          s.push(latin1(cur.take(n, name)));
          break;
        }
        case OP.SHORT_BINUNICODE:
          s.push(decodeUtf8(cur.take(cur.u8(name), name), cur, name));
          break;
        case OP.BINUNICODE:
          s.push(decodeUtf8(cur.take(cur.u32(name), name), cur, name));
          break;
        case OP.BINUNICODE8:
          s.push(decodeUtf8(cur.take(cur.u64(name), name), cur, name));
          break;
        case OP.SHORT_BINBYTES:
          s.push(cur.take(cur.u8(name), name).slice());
          break;
        case OP.BINBYTES:
          s.push(cur.take(cur.u32(name), name).slice());
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          s.push(cur.take(cur.u64(name), name).slice());
          break;
        case OP.EMPTY_LIST:
          s.push([]);
          break;
        case OP.EMPTY_DICT:
          s.push(new Map());
          break;
        case OP.EMPTY_TUPLE:
          s.push(new PyTuple([]));
          break;
        case OP.EMPTY_SET:
          s.push(new Set());
          break;
        case OP.LIST:
          s.push(this.popMark(name));
          break;
        case OP.TUPLE:
          s.push(new PyTuple(this.popMark(name)));
          break;
        case OP.FROZENSET:
          s.push(new Set(this.popMark(name)));
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const n = op - OP.TUPLE1 + 1;
          const items: PyValue[] = [];
          for (let i = 0; i < n; i++) items.unshift(this.pop(name));
          s.push(new PyTuple(items));
          break;
        }
        case OP.DICT: {
          const items = this.popMark(name);
          if (items.length % 2 !== 0) this.fail(`DICT at byte ${at}: odd number of items`);
          const d = new Map<PyValue, PyValue>();
          for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
          s.push(d);
          break;
        }
        case OP.APPEND: {
          const v = this.pop(name);
          const list = this.top(name);
          if (!Array.isArray(list)) this.fail(`APPEND at byte ${at}: target is ${pyTypeName(list)}, not a list`);
          list.push(v);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark(name);
          const list = this.top(name);
          if (!Array.isArray(list)) this.fail(`APPENDS at byte ${at}: target is ${pyTypeName(list)}, not a list`);
          for (const v of items) list.push(v);
          break;
        }
        case OP.SETITEM:
        case OP.SETITEMS: {
          const items = op === OP.SETITEM ? [this.pop(name), this.pop(name)].reverse() : this.popMark(name);
          const d = this.top(name);
          if (!(d instanceof Map)) this.fail(`${name} at byte ${at}: target is ${pyTypeName(d)}, not a dict`);
          if (items.length % 2 !== 0) this.fail(`${name} at byte ${at}: odd number of items`);
          for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
          break;
        }
        case OP.ADDITEMS: {
          const items = this.popMark(name);
          const set = this.top(name);
          if (!(set instanceof Set)) this.fail(`ADDITEMS at byte ${at}: target is ${pyTypeName(set)}, not a set`);
          for (const v of items) set.add(v);
          break;
        }
        case OP.GLOBAL: {
          const module = cur.line(name);
          s.push(resolveGlobal(module, cur.line(name), this.options.where ?? 'buffer'));
          break;
        }
        case OP.STACK_GLOBAL: {
          const gname = this.pop(name);
          const module = this.pop(name);
          if (typeof module !== 'string' || typeof gname !== 'string')
            this.fail(`STACK_GLOBAL at byte ${at}: module and name must be str`);
          s.push(resolveGlobal(module, gname, this.options.where ?? 'buffer'));
          break;
        }
        case OP.REDUCE:
        case OP.NEWOBJ: {
          const args = this.pop(name);
          s.push(this.call(this.pop(name), args, name));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop(name);
          const args = this.pop(name);
          if (!(kwargs instanceof Map) || kwargs.size > 0)
            this.fail(`NEWOBJ_EX at byte ${at}: keyword arguments are not supported`);
          s.push(this.call(this.pop(name), args, name));
          break;
        }
        case OP.BUILD: {
          const state = this.pop(name);
          this.build(state, this.top(name));
          break;
        }
        case OP.BINPERSID:
          s.push(this.persistent(this.pop(name)));
          break;
        case OP.PERSID:
          s.push(this.persistent(cur.line(name)));
          break;
        case OP.BINPUT:
          this.memo.set(cur.u8(name), this.top(name));
          break;
        case OP.LONG_BINPUT:
          this.memo.set(cur.u32(name), this.top(name));
          break;
        case OP.PUT:
          this.memo.set(this.memoIndex(cur.line(name), name), this.top(name));
          break;
        case OP.MEMOIZE:
          this.memo.set(this.memo.size, this.top(name));
          break;
        case OP.BINGET:
          s.push(this.memoGet(cur.u8(name), name));
          break;
        case OP.LONG_BINGET:
          s.push(this.memoGet(cur.u32(name), name));
          break;
        case OP.GET:
          s.push(this.memoGet(this.memoIndex(cur.line(name), name), name));
          break;
        default:
          // INST/OBJ/EXT1-4 build arbitrary objects, STRING/UNICODE are protocol 0 escapes torch never writes,
          // NEXT_BUFFER/READONLY_BUFFER need out-of-band buffers: none belongs in a checkpoint.
          this.fail(`unsupported opcode ${name} at byte ${at}`);
      }
    }
  }
}
