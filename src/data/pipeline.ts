/**
 * A prefetching batch pipeline over worker threads: while the consumer `for await`s batch k, workers read and
 * augment batches k+1 .. k+prefetch. Samples come from a "sample source" named by a module and JSON options
 * (the module exports `createSource(options)`), so any reader - synthetic tiles now, the volume readers
 * later - plugs in without the pipeline knowing it.
 *
 * Guarantees:
 *  - Results do not depend on the number of workers or on timing: sample i of epoch e gets the seed
 *    deriveSeed(seed, e, i) and batches are yielded in order.
 *  - Bounded: at most `prefetch` batches are dispatched but not yet handed to the consumer (backpressure).
 *  - Typed arrays come back transferred, not copied (each batch's arrays are fresh buffers in the worker).
 *  - An error in a sample source rejects the consumer's `for await` with an Error naming the sample, batch,
 *    epoch and worker; a crashed worker breaks the pipeline with an Error naming what it was working on.
 *  - `close()` (or breaking out of the loop, then closing) stops the workers.
 * `workers: 0` runs the source in the calling thread (no prefetch), with identical results.
 * On a GPU the trainers hand each batch over through DeviceRuntime.input (src/train/device.ts): pinned host
 * memory and a non-blocking copy, so that reading and augmenting the next batch overlaps the GPU's step.
 */
import { Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deriveSeed } from './augment/random.js';

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;
export type Scalar = number | string | boolean | null;
export type SampleValue = TypedArray | Scalar;
/** One sample: named typed arrays (stacked into the batch) and scalars (listed). */
export type Sample = Record<string, SampleValue>;

export type JsonValue = Scalar | JsonValue[] | { [key: string]: JsonValue };

/** What a source module's `createSource(options)` returns. */
export interface SampleSource {
  readonly length: number;
  get(index: number, seed: number): Sample | Promise<Sample>;
  close?(): void | Promise<void>;
}

/** A source module (path, file: URL or data: URL) exporting `createSource(options)` (or a default export). */
export interface SampleSourceSpec {
  module: string;
  options?: JsonValue;
}

export interface Batch {
  epoch: number;
  /** Position of the batch within the epoch. */
  index: number;
  /** Source indices of the samples, in order, and the seed each was produced with. */
  indices: number[];
  seeds: number[];
  size: number;
  /** Per typed-array key: the samples' arrays concatenated (size x lengths[key] values). */
  arrays: Record<string, TypedArray>;
  lengths: Record<string, number>;
  /** Per scalar key: one value per sample. */
  values: Record<string, Scalar[]>;
}

export interface PipelineOptions {
  source: SampleSourceSpec;
  batchSize: number;
  seed: number;
  /** Worker threads (default 1: this machine has 2 cores and the trainer needs one); 0 = inline. */
  workers?: number;
  /** Batches dispatched ahead of the consumer (default 2 per worker). */
  prefetch?: number;
  /** Drop a last, incomplete batch. */
  dropLast?: boolean;
}

export interface PipelineStats {
  dispatched: number;
  completed: number;
  yielded: number;
  /** The most batches that were dispatched but not yet handed to the consumer at any time. */
  maxAhead: number;
  workers: number;
}

/** The seed of sample `index` in `epoch`: independent of workers, batch size and timing. */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  return deriveSeed(seed, epoch, index);
}

function isTypedArray(v: unknown): v is TypedArray {
  return (
    ArrayBuffer.isView(v) &&
    !(v instanceof DataView) &&
    !(typeof BigInt64Array !== 'undefined' && (v instanceof BigInt64Array || v instanceof BigUint64Array))
  );
}

/** Stacks samples: typed arrays concatenated per key (same type and length required), scalars listed. */
export function collate(
  samples: readonly Sample[],
  indices: readonly number[],
): Pick<Batch, 'arrays' | 'lengths' | 'values'> {
  const first = samples[0];
  if (first === undefined) throw new Error('collate: no samples');
  const keys = Object.keys(first).sort();
  const arrays: Record<string, TypedArray> = {};
  const lengths: Record<string, number> = {};
  const values: Record<string, Scalar[]> = {};
  samples.forEach((s, k) => {
    const sk = Object.keys(s).sort();
    if (sk.join(',') !== keys.join(',')) {
      throw new Error(
        `collate: sample ${indices[k]} has keys [${sk.join(', ')}], expected [${keys.join(', ')}] like sample ${indices[0]}`,
      );
    }
  });
  for (const key of keys) {
    const v0 = first[key];
    if (isTypedArray(v0)) {
      const Ctor = v0.constructor as new (n: number) => TypedArray;
      const len = v0.length;
      const out = new Ctor(len * samples.length);
      samples.forEach((s, k) => {
        const v = s[key];
        if (!isTypedArray(v) || v.constructor !== v0.constructor || v.length !== len) {
          const got = isTypedArray(v) ? `${v.constructor.name}(${v.length})` : JSON.stringify(v);
          throw new Error(
            `collate: sample ${indices[k]} key '${key}' is ${got}, expected ${v0.constructor.name}(${len}) like sample ${indices[0]}`,
          );
        }
        out.set(v as never, k * len);
      });
      arrays[key] = out;
      lengths[key] = len;
    } else {
      values[key] = samples.map((s, k) => {
        const v = s[key];
        if (isTypedArray(v) || (v !== null && typeof v === 'object'))
          throw new Error(`collate: sample ${indices[k]} key '${key}' mixes arrays and scalars`);
        return v as Scalar;
      });
    }
  }
  return { arrays, lengths, values };
}

/** The buffers to transfer for a collated batch (each once; never a SharedArrayBuffer). */
export function transferables(arrays: Record<string, TypedArray>): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const a of Object.values(arrays)) if (a.buffer instanceof ArrayBuffer) set.add(a.buffer);
  return [...set];
}

/** Resolves a module path (relative to the working directory) or URL to a URL string a worker can import. */
export function moduleUrl(module: string): string {
  if (/^(file|data|node):/.test(module)) return module;
  return pathToFileURL(resolve(module)).href;
}

/** Imports a source module and creates its source. */
export async function loadSource(spec: SampleSourceSpec): Promise<SampleSource> {
  const url = moduleUrl(spec.module);
  let mod: { createSource?: unknown; default?: unknown };
  try {
    mod = (await import(url)) as typeof mod;
  } catch (err) {
    throw new Error(`pipeline: cannot load sample source ${spec.module}: ${(err as Error).message}`);
  }
  const factory = (mod.createSource ?? mod.default) as
    | ((o: unknown) => SampleSource | Promise<SampleSource>)
    | undefined;
  if (typeof factory !== 'function')
    throw new Error(`pipeline: sample source ${spec.module} exports no createSource(options) function`);
  const source = await factory(spec.options ?? {});
  if (
    source === null ||
    typeof source !== 'object' ||
    typeof source.get !== 'function' ||
    !Number.isInteger(source.length) ||
    source.length < 0
  ) {
    throw new Error(
      `pipeline: ${spec.module}'s createSource returned ${JSON.stringify(source)}, expected { length, get(index, seed) }`,
    );
  }
  return source;
}

/** Messages between the pipeline and its workers. */
export type ToWorker =
  | { type: 'batch'; gen: number; epoch: number; batch: number; indices: number[]; seeds: number[] }
  | { type: 'cancel'; gen: number }
  | { type: 'close' };
export type FromWorker =
  | { type: 'ready'; length: number }
  | { type: 'init-error'; message: string }
  | { type: 'batch'; gen: number; batch: number; payload: Pick<Batch, 'arrays' | 'lengths' | 'values'> }
  | { type: 'error'; gen: number; batch: number; sample: number | null; message: string; stack: string };

interface WorkerSlot {
  index: number;
  worker: Worker;
  inFlight: Set<number>;
  exited: boolean;
}

interface EpochState {
  gen: number;
  epoch: number;
  ready: Map<number, Batch>;
  batches: number[][];
  seeds: number[][];
  waiting: { batch: number; resolve: (b: Batch) => void; reject: (e: Error) => void } | null;
  error: Error | null;
}

const WORKER_URL = new URL('./pipeline-worker.js', import.meta.url);

export class PrefetchPipeline {
  readonly length: number;
  private readonly opts: Required<Omit<PipelineOptions, 'source'>> & { source: SampleSourceSpec };
  private readonly slots: WorkerSlot[];
  private readonly inline: SampleSource | null;
  private gen = 0;
  private current: EpochState | null = null;
  private broken: Error | null = null;
  private closed = false;
  private counters = { dispatched: 0, completed: 0, yielded: 0, maxAhead: 0 };

  private constructor(
    opts: PrefetchPipeline['opts'],
    length: number,
    slots: WorkerSlot[],
    inline: SampleSource | null,
  ) {
    this.opts = opts;
    this.length = length;
    this.slots = slots;
    this.inline = inline;
    for (const slot of slots) this.watch(slot);
  }

  /** Starts the workers and loads the source in each; rejects if any cannot load it. */
  static async open(options: PipelineOptions): Promise<PrefetchPipeline> {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 0)
      throw new Error(`pipeline: workers must be a non-negative integer, got ${workers}`);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw new Error(`pipeline: batchSize must be a positive integer, got ${options.batchSize}`);
    const prefetch = options.prefetch ?? 2 * Math.max(1, workers);
    if (!Number.isInteger(prefetch) || prefetch < 1)
      throw new Error(`pipeline: prefetch must be a positive integer, got ${prefetch}`);
    if (!Number.isFinite(options.seed)) throw new Error(`pipeline: seed must be a finite number, got ${options.seed}`);
    const opts = {
      source: options.source,
      batchSize: options.batchSize,
      seed: options.seed,
      workers,
      prefetch,
      dropLast: options.dropLast ?? false,
    };
    if (workers === 0) {
      const src = await loadSource(options.source);
      return new PrefetchPipeline(opts, src.length, [], src);
    }
    const spec: SampleSourceSpec = {
      module: moduleUrl(options.source.module),
      ...(options.source.options === undefined ? {} : { options: options.source.options }),
    };
    const slots: WorkerSlot[] = [];
    const lengths: number[] = [];
    try {
      for (let i = 0; i < workers; i++) {
        const worker = new Worker(WORKER_URL, { workerData: { spec, workerIndex: i } });
        slots.push({ index: i, worker, inFlight: new Set(), exited: false });
      }
      await Promise.all(
        slots.map(
          (slot) =>
            new Promise<void>((ok, fail) => {
              const onMessage = (m: FromWorker) => {
                cleanup();
                if (m.type === 'ready') {
                  lengths.push(m.length);
                  ok();
                } else if (m.type === 'init-error') fail(new Error(`pipeline: worker ${slot.index}: ${m.message}`));
                else fail(new Error(`pipeline: worker ${slot.index} sent '${m.type}' before it was ready`));
              };
              const onError = (err: Error) => {
                cleanup();
                fail(new Error(`pipeline: worker ${slot.index} failed to start: ${err.message}`));
              };
              const onExit = (code: number) => {
                cleanup();
                fail(new Error(`pipeline: worker ${slot.index} exited with code ${code} while starting`));
              };
              const cleanup = () => {
                slot.worker.off('message', onMessage);
                slot.worker.off('error', onError);
                slot.worker.off('exit', onExit);
              };
              slot.worker.on('message', onMessage);
              slot.worker.on('error', onError);
              slot.worker.on('exit', onExit);
            }),
        ),
      );
    } catch (err) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw err;
    }
    if (new Set(lengths).size !== 1)
      throw new Error(`pipeline: workers report different source lengths (${lengths.join(', ')})`);
    return new PrefetchPipeline(opts, lengths[0] as number, slots, null);
  }

  /** Number of batches an epoch over `order` (default: every index) yields. */
  batchesPerEpoch(order?: readonly number[]): number {
    const n = order?.length ?? this.length;
    return this.opts.dropLast ? Math.floor(n / this.opts.batchSize) : Math.ceil(n / this.opts.batchSize);
  }

  stats(): PipelineStats {
    return { ...this.counters, workers: this.slots.length };
  }

  private split(epoch: number, order: readonly number[]): { batches: number[][]; seeds: number[][] } {
    const bs = this.opts.batchSize;
    const batches: number[][] = [];
    for (let i = 0; i < order.length; i += bs) {
      const b = order.slice(i, i + bs);
      if (b.length < bs && this.opts.dropLast) break;
      batches.push(b);
    }
    for (const idx of order) {
      if (!Number.isInteger(idx) || idx < 0 || idx >= this.length)
        throw new Error(`pipeline: index ${idx} is outside the source (0..${this.length - 1})`);
    }
    return { batches, seeds: batches.map((b) => b.map((i) => sampleSeed(this.opts.seed, epoch, i))) };
  }

  /**
   * The batches of one epoch, in order. `order` lists the source indices to visit (a shuffled permutation for
   * training); default 0..length-1. One epoch at a time: break out of (or finish) the loop before the next.
   */
  async *epoch(epoch: number, order?: readonly number[]): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('pipeline: closed');
    if (this.broken) throw this.broken;
    if (this.current)
      throw new Error(`pipeline: epoch ${this.current.epoch} is still being iterated; finish or break out of it first`);
    const { batches, seeds } = this.split(epoch, order ?? Array.from({ length: this.length }, (_, i) => i));
    if (this.inline) {
      yield* this.inlineEpoch(epoch, batches, seeds);
      return;
    }
    const st: EpochState = { gen: ++this.gen, epoch, ready: new Map(), batches, seeds, waiting: null, error: null };
    this.current = st;
    let next = 0;
    let want = 0;
    const dispatch = () => {
      while (next < batches.length && next - want < this.opts.prefetch) {
        const live = this.slots.filter((s) => !s.exited);
        if (live.length === 0) break;
        const slot = live.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
        slot.inFlight.add(next);
        const msg: ToWorker = {
          type: 'batch',
          gen: st.gen,
          epoch,
          batch: next,
          indices: batches[next] as number[],
          seeds: seeds[next] as number[],
        };
        slot.worker.postMessage(msg);
        this.counters.dispatched++;
        next++;
        this.counters.maxAhead = Math.max(this.counters.maxAhead, next - want);
      }
    };
    let finished = false;
    try {
      while (want < batches.length) {
        dispatch();
        const b = await this.take(st, want);
        want++;
        this.counters.yielded++;
        dispatch();
        yield b;
      }
      finished = true;
    } finally {
      if (!finished) {
        // Cancelled (break) or failed: workers drop queued batches of this generation; late results are ignored.
        for (const slot of this.slots)
          if (!slot.exited) slot.worker.postMessage({ type: 'cancel', gen: st.gen } satisfies ToWorker);
      }
      this.current = null;
    }
  }

  private async *inlineEpoch(
    epoch: number,
    batches: number[][],
    seeds: number[][],
  ): AsyncGenerator<Batch, void, undefined> {
    const src = this.inline as SampleSource;
    for (let b = 0; b < batches.length; b++) {
      const indices = batches[b] as number[];
      const bseeds = seeds[b] as number[];
      const samples: Sample[] = [];
      for (let k = 0; k < indices.length; k++) {
        try {
          samples.push(await src.get(indices[k] as number, bseeds[k] as number));
        } catch (err) {
          throw new Error(
            `pipeline: sample ${indices[k]} (batch ${b} of epoch ${epoch}) failed in the main thread: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      this.counters.dispatched++;
      this.counters.completed++;
      this.counters.yielded++;
      this.counters.maxAhead = Math.max(this.counters.maxAhead, 1);
      yield { epoch, index: b, indices, seeds: bseeds, size: indices.length, ...collate(samples, indices) };
    }
  }

  private take(st: EpochState, batch: number): Promise<Batch> {
    if (st.error) return Promise.reject(st.error);
    const b = st.ready.get(batch);
    if (b) {
      st.ready.delete(batch);
      return Promise.resolve(b);
    }
    return new Promise((ok, fail) => {
      st.waiting = { batch, resolve: ok, reject: fail };
    });
  }

  private fail(st: EpochState, err: Error): void {
    if (st.error) return;
    st.error = err;
    st.ready.clear();
    const w = st.waiting;
    st.waiting = null;
    w?.reject(err);
  }

  private watch(slot: WorkerSlot): void {
    slot.worker.on('message', (m: FromWorker) => {
      const st = this.current;
      if (m.type === 'batch' || m.type === 'error') slot.inFlight.delete(m.batch);
      if (!st || (m.type !== 'batch' && m.type !== 'error') || m.gen !== st.gen) return; // stale: cancelled epoch
      if (m.type === 'error') {
        const what =
          m.sample === null ? `batch ${m.batch}` : `sample ${m.sample} (batch ${m.batch} of epoch ${st.epoch})`;
        const remote = Object.assign(new Error(m.message), { stack: m.stack });
        this.fail(st, new Error(`pipeline: ${what} failed in worker ${slot.index}: ${m.message}`, { cause: remote }));
        return;
      }
      this.counters.completed++;
      const batch: Batch = {
        epoch: st.epoch,
        index: m.batch,
        indices: st.batches[m.batch] as number[],
        seeds: st.seeds[m.batch] as number[],
        size: (st.batches[m.batch] as number[]).length,
        ...m.payload,
      };
      if (st.waiting && st.waiting.batch === m.batch) {
        const w = st.waiting;
        st.waiting = null;
        w.resolve(batch);
      } else {
        st.ready.set(m.batch, batch);
      }
    });
    const died = (why: string) => {
      if (slot.exited) return;
      slot.exited = true;
      if (this.closed) return;
      const pending = [...slot.inFlight].sort((a, b) => a - b);
      const err = new Error(
        `pipeline: worker ${slot.index} ${why}${pending.length ? ` while producing batch${pending.length > 1 ? 'es' : ''} ${pending.join(', ')}` : ''}`,
      );
      this.broken = err;
      if (this.current) this.fail(this.current, err);
    };
    slot.worker.on('error', (err) => died(`crashed: ${err.message}`));
    slot.worker.on('exit', (code) => died(`exited unexpectedly (code ${code})`));
  }

  /** Stops the workers (they close their sources first); idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.current) this.fail(this.current, new Error('pipeline: closed while an epoch was being iterated'));
    if (this.inline) await this.inline.close?.();
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.exited) return;
        const exited = new Promise<void>((ok) => slot.worker.once('exit', () => ok()));
        slot.worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timer = new Promise<'timeout'>((ok) => setTimeout(() => ok('timeout'), 2000).unref());
        if ((await Promise.race([exited, timer])) === 'timeout') await slot.worker.terminate();
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens a pipeline, iterates one epoch and closes it: for one-shot use. */
export async function* prefetchBatches(
  options: PipelineOptions & { epoch?: number; order?: readonly number[] },
): AsyncGenerator<Batch, void, undefined> {
  const p = await PrefetchPipeline.open(options);
  try {
    yield* p.epoch(options.epoch ?? 0, options.order);
  } finally {
    await p.close();
  }
}
