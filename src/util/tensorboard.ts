/**
 * TensorBoard event files, so that `tensorboard --logdir runs/` shows inkwell's curves. Own writer: the
 * format is small (TFRecord framing + two protobuf messages) and the npm options either download libtensorflow
 * (@tensorflow/tfjs-node, which cannot install here) or pull a whole protobuf runtime.
 *
 * TFRecord (tensorflow/core/lib/io/record_writer.cc): uint64 length LE, uint32 masked CRC32C of the length,
 * data, uint32 masked CRC32C of the data; mask(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8.
 * Event (tensorflow/core/util/event.proto): wall_time double = 1, step int64 = 2, file_version string = 3,
 * summary Summary = 5, session_log SessionLog = 7; Summary.value repeated Value = 1; Value: tag string = 1,
 * simple_value float = 2; SessionLog: status = 1 (START = 1).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const CRC32C_TABLE = (() => {
  // Castagnoli polynomial, reflected: 0x82f63b78.
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `data`; crc32c('123456789') = 0xe3069283. */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function maskedCrc(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Frames one record as TFRecord bytes. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc(data), true);
  return out;
}

// ----- minimal protobuf encoding -----
function varint(n: bigint | number): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 negatives as ten-byte two's complement
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

function lengthDelimited(field: number, bytes: Uint8Array | number[]): number[] {
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

function scalarValue(tag: string, value: number): number[] {
  const f = new Uint8Array(4);
  new DataView(f.buffer).setFloat32(0, value, true);
  return [...lengthDelimited(1, new TextEncoder().encode(tag)), (2 << 3) | 5, ...f];
}

function event(wallTime: number, step: number, body: number[]): Uint8Array {
  const wt = new Uint8Array(8);
  new DataView(wt.buffer).setFloat64(0, wallTime, true);
  return Uint8Array.from([(1 << 3) | 1, ...wt, ...varint(2 << 3), ...varint(step), ...body]);
}

const FILE_VERSION = lengthDelimited(3, new TextEncoder().encode('brain.Event:2'));

export interface EventWriterOptions {
  /**
   * The step a resumed run continues from: TensorBoard discards the run's events at this step and after, which
   * an interrupted run wrote and the resumed one writes again (PyTorch's SummaryWriter(purge_step=...)).
   */
  purgeStep?: number;
}

/** Appends scalar summaries to `<logdir>/events.out.tfevents.<time>.<host>`; every write is flushed and fsynced. */
export class EventWriter {
  readonly path: string;
  #fd: number | null;

  constructor(logdir: string, opts: EventWriterOptions = {}) {
    mkdirSync(logdir, { recursive: true });
    const now = Date.now() / 1000;
    this.path = join(logdir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}.inkwell`);
    this.#fd = openSync(this.path, 'a');
    this.#write(event(now, 0, FILE_VERSION));
    const purge = opts.purgeStep;
    if (purge !== undefined) {
      if (!(Number.isInteger(purge) && purge >= 0))
        throw new Error(`EventWriter(${this.path}): purgeStep must be an integer >= 0, got ${purge}`);
      // As torch/utils/tensorboard/writer.py (SummaryWriter._get_file_writer): a file-version event and a
      // SessionLog(status=START) event, both at the purge step.
      this.#write(event(now, purge, FILE_VERSION));
      this.#write(event(now, purge, lengthDelimited(7, [(1 << 3) | 0, 1])));
    }
  }

  #write(ev: Uint8Array): void {
    if (this.#fd === null) throw new Error(`EventWriter(${this.path}): already closed`);
    writeSync(this.#fd, tfRecord(ev));
  }

  /** One event at `step` holding every scalar of `values` (non-finite values are written as they are). */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const summary: number[] = [];
    for (const [tag, v] of Object.entries(values)) summary.push(...lengthDelimited(1, scalarValue(tag, v)));
    this.#write(event(wallTime, step, lengthDelimited(5, summary)));
  }

  flush(): void {
    if (this.#fd !== null) fsyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd === null) return;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = null;
  }
}
