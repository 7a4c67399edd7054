/**
 * Pickle opcodes and their argument layouts, after CPython's `Lib/pickletools.py` (the `opcodes` table) and
 * `Lib/pickle.py`. Shared by the unpickler, the end-of-pickle scanner and the writer.
 */

export const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/** Opcode byte -> name, for error messages. */
export const OP_NAME: ReadonlyMap<number, string> = new Map(Object.entries(OP).map(([k, v]) => [v, k]));

/**
 * How each opcode's argument is laid out in the stream: a fixed byte count, a length prefix of 1/4/8 bytes
 * followed by that many bytes, one newline-terminated line, or two lines (GLOBAL, INST).
 */
export type ArgLayout = { fixed: number } | { prefixed: 1 | 4 | 8 } | { lines: 1 | 2 };

const NONE: ArgLayout = { fixed: 0 };
export const ARG_LAYOUT: ReadonlyMap<number, ArgLayout> = new Map<number, ArgLayout>([
  ...[
    OP.MARK,
    OP.STOP,
    OP.POP,
    OP.POP_MARK,
    OP.DUP,
    OP.NONE,
    OP.BINPERSID,
    OP.REDUCE,
    OP.APPEND,
    OP.BUILD,
    OP.DICT,
    OP.EMPTY_DICT,
    OP.APPENDS,
    OP.LIST,
    OP.EMPTY_LIST,
    OP.OBJ,
    OP.SETITEM,
    OP.TUPLE,
    OP.EMPTY_TUPLE,
    OP.SETITEMS,
    OP.NEWOBJ,
    OP.TUPLE1,
    OP.TUPLE2,
    OP.TUPLE3,
    OP.NEWTRUE,
    OP.NEWFALSE,
    OP.EMPTY_SET,
    OP.ADDITEMS,
    OP.FROZENSET,
    OP.NEWOBJ_EX,
    OP.STACK_GLOBAL,
    OP.MEMOIZE,
    OP.NEXT_BUFFER,
    OP.READONLY_BUFFER,
  ].map((op) => [op, NONE] as [number, ArgLayout]),
  [OP.BININT1, { fixed: 1 }],
  [OP.BININT2, { fixed: 2 }],
  [OP.BININT, { fixed: 4 }],
  [OP.BINFLOAT, { fixed: 8 }],
  [OP.BINPUT, { fixed: 1 }],
  [OP.LONG_BINPUT, { fixed: 4 }],
  [OP.BINGET, { fixed: 1 }],
  [OP.LONG_BINGET, { fixed: 4 }],
  [OP.PROTO, { fixed: 1 }],
  [OP.EXT1, { fixed: 1 }],
  [OP.EXT2, { fixed: 2 }],
  [OP.EXT4, { fixed: 4 }],
  [OP.FRAME, { fixed: 8 }],
  [OP.SHORT_BINUNICODE, { prefixed: 1 }],
  [OP.SHORT_BINBYTES, { prefixed: 1 }],
  [OP.SHORT_BINSTRING, { prefixed: 1 }],
  [OP.LONG1, { prefixed: 1 }],
  [OP.BINUNICODE, { prefixed: 4 }],
  [OP.BINBYTES, { prefixed: 4 }],
  [OP.BINSTRING, { prefixed: 4 }],
  [OP.LONG4, { prefixed: 4 }],
  [OP.BINUNICODE8, { prefixed: 8 }],
  [OP.BINBYTES8, { prefixed: 8 }],
  [OP.BYTEARRAY8, { prefixed: 8 }],
  [OP.INT, { lines: 1 }],
  [OP.LONG, { lines: 1 }],
  [OP.FLOAT, { lines: 1 }],
  [OP.STRING, { lines: 1 }],
  [OP.UNICODE, { lines: 1 }],
  [OP.PUT, { lines: 1 }],
  [OP.GET, { lines: 1 }],
  [OP.PERSID, { lines: 1 }],
  [OP.GLOBAL, { lines: 2 }],
  [OP.INST, { lines: 2 }],
]);

/** A bounds-checked cursor over pickle bytes; every read names the file and the offset when it runs out. */
export class ByteCursor {
  pos: number;
  private readonly dv: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly where: string,
    start = 0,
  ) {
    this.pos = start;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string): never {
    throw new Error(`unpickle(${this.where}): ${message}`);
  }

  need(n: number, what: string): number {
    const at = this.pos;
    if (n > this.bytes.length - at)
      this.fail(`truncated at byte ${at}: ${what} needs ${n} bytes, ${this.bytes.length - at} left`);
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.bytes[this.need(1, what)]!;
  }
  u16(what: string): number {
    return this.dv.getUint16(this.need(2, what), true);
  }
  i32(what: string): number {
    return this.dv.getInt32(this.need(4, what), true);
  }
  u32(what: string): number {
    return this.dv.getUint32(this.need(4, what), true);
  }
  /** An unsigned 64-bit length; lengths past 2^53 cannot be in memory anyway. */
  u64(what: string): number {
    const v = this.dv.getBigUint64(this.need(8, what), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what}: length ${v} is impossible`);
    return Number(v);
  }
  f64be(what: string): number {
    return this.dv.getFloat64(this.need(8, what), false);
  }
  take(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }
  /** One newline-terminated line (text opcodes), without the newline, decoded as latin-1 / ASCII. */
  line(what: string): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) this.fail(`truncated at byte ${this.pos}: ${what} needs a newline-terminated argument`);
    const text = latin1(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return text;
  }
}

export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
export function decodeUtf8(bytes: Uint8Array, cur: ByteCursor, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return cur.fail(`${what}: invalid UTF-8 at byte ${cur.pos - bytes.length}`);
  }
}

/**
 * Offset just past the STOP opcode of the pickle that starts at `start`, found without building anything
 * (the legacy format stores the storages' bytes after the object pickle, so it must be skipped first).
 */
export function pickleEnd(bytes: Uint8Array, start: number, where: string): number {
  const cur: ByteCursor = new ByteCursor(bytes, where, start);
  for (;;) {
    const at = cur.pos;
    const op = cur.u8('opcode');
    const layout = ARG_LAYOUT.get(op);
    if (layout === undefined) cur.fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
    const name = OP_NAME.get(op) ?? '?';
    if ('fixed' in layout) cur.need(layout.fixed, name);
    else if ('lines' in layout) {
      for (let i = 0; i < layout.lines; i++) cur.line(name);
    } else {
      const n = layout.prefixed === 1 ? cur.u8(name) : layout.prefixed === 4 ? cur.u32(name) : cur.u64(name);
      cur.need(n, name);
    }
    if (op === OP.STOP) return cur.pos;
  }
}
