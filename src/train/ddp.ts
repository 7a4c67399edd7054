/**
 * Data-parallel training over c10d (Gloo on CPU), the part of torch.nn.parallel.DistributedDataParallel a
 * training loop needs, as a small object any trainer can use:
 *
 *   const dp = await DataParallel.fromEnv();            // null for a single process
 *   if (dp) { model = dp.convertSyncBatchNorm(model); await dp.broadcastModules([model]); }
 *   for each epoch: order = seededPermutation(epoch); for (batch of pipeline.epoch(e, dp ? dp.shard(order) : order)) {
 *     dp ? dp.backward(loss, { sync: updating, op }) : loss.backward();   // after dp.attach(model), once
 *     if (updating) optimizer.step();
 *   }
 *   if (!dp || dp.isMain) save checkpoints, logs;  dp?.close();
 *
 * - Start: parameters and buffers are broadcast from rank 0 (DDP's `_sync_module_states`, broadcast_coalesced
 *   in buckets).
 * - Gradients: averaged by c10d's own Reducer, the engine of DDP (torch/csrc/distributed/c10d/reducer.cpp), in
 *   25 MB buckets after a 1 MiB first one, last layers first. Its hooks on the parameters' gradient accumulators
 *   start a bucket's allreduce as soon as backward has produced that bucket's gradients, so communication
 *   overlaps the rest of backward; when backward returns, every .grad holds the average. Only the backward of the
 *   last micro-batch before an optimiser step synchronises (DDP's `no_sync()` on the others).
 * - Buffers (BatchNorm running statistics) are not re-broadcast every forward (DDP's broadcast_buffers=True):
 *   rank 0 alone saves checkpoints, and its buffers are what DDP would save too; with SyncBatchNorm they are
 *   identical on every rank anyway.
 * - Sampling: `shard(order)` = torch.utils.data.DistributedSampler with drop_last: the same global permutation,
 *   rank r takes positions r, r+W, r+2W, ... of its first floor(N/W)*W entries. With per-rank batch B the k-th
 *   step of all ranks together covers exactly the k-th global batch of 2B a single worker would take.
 * - Failure: every collective rejects within the group's timeout when a peer dies; the errors here name the
 *   rank, the operation and what was expected.
 */
import { performance } from 'node:perf_hooks';
import { noGrad, reachedBy } from '../torch/autograd.js';
import { DTYPE_SIZE } from '../torch/dtype.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { type GradientReducer, initProcessGroup, launchEnv, type ProcessGroup } from '../torch/distributed.js';
import type { Module } from '../torch/nn/module.js';
import { convertSyncBatchNorm } from '../torch/nn/sync-batchnorm.js';

export interface DataParallelOptions {
  /** Rendezvous and collective timeout (default 300 s, PyTorch's default). */
  timeoutMs?: number;
  /** Gradient bucket size in MiB (default 25, DDP's bucket_cap_mb). */
  bucketCapMB?: number;
  /** Where to read RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface DataParallelInit extends DataParallelOptions {
  rank: number;
  worldSize: number;
  localRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

/** A collective failed (a peer died, timed out or disagreed); the message names the rank and the operation. */
export class DistributedError extends Error {
  constructor(
    message: string,
    readonly rank: number,
    readonly worldSize: number,
    readonly op: string,
  ) {
    super(message);
    this.name = 'DistributedError';
  }
}

export interface AttachOptions {
  /** DDP's find_unused_parameters (default false): for models whose loss uses different parameters from step to step. */
  findUnusedParameters?: boolean;
  /** Called once the Reducer exists (first synchronised backward): its buckets, and the parameters left out. */
  onReady?: (info: { bucketBytes: number[]; excluded: string[] }) => void;
}

type ModuleSet = Module | readonly Module[] | Readonly<Record<string, Module>>;

function modulesOf(m: ModuleSet): Module[] {
  if (Array.isArray(m)) return [...m] as Module[];
  if (typeof (m as Module).stateDict === 'function') return [m as Module];
  return Object.values(m as Record<string, Module>);
}

/** What c10d/Gloo failures say (a peer gone, a timeout), as opposed to an ordinary error inside a step. */
const COMM_FAILURE = /gloo|c10d|\(rank \d+ of \d+\)|connection (reset|closed|refused)|timed? ?out|peer/i;

const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly bucketCapBytes: number;
  readonly timeoutMs: number;
  #attached: { named: [string, Tensor][]; findUnused: boolean; onReady: AttachOptions['onReady'] } | null = null;
  #reducer: GradientReducer | null = null;
  /** The parameters the Reducer averages (in its index order), and the attached ones it leaves out. */
  #reduced: [string, Tensor][] = [];
  #excluded: [string, Tensor][] = [];
  #closed = false;

  private constructor(
    readonly pg: ProcessGroup,
    init: { localRank: number; bucketCapMB: number; timeoutMs: number },
  ) {
    this.rank = pg.rank;
    this.worldSize = pg.size;
    this.localRank = init.localRank;
    this.bucketCapBytes = Math.round(init.bucketCapMB * 1024 * 1024);
    this.timeoutMs = init.timeoutMs;
  }

  /** Rank 0: the one that writes checkpoints, logs and reports. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Joins the rendezvous at masterAddr:masterPort (rank 0 hosts it) and returns once every rank has arrived. */
  static async create(o: DataParallelInit): Promise<DataParallel> {
    const timeoutMs = o.timeoutMs ?? 300_000;
    const bucketCapMB = o.bucketCapMB ?? 25;
    if (!Number.isInteger(o.worldSize) || o.worldSize < 1)
      throw new Error(`DataParallel: worldSize must be a positive integer, got ${o.worldSize}`);
    if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize)
      throw new Error(`DataParallel: rank ${o.rank} is outside 0..${o.worldSize - 1} (WORLD_SIZE ${o.worldSize})`);
    if (!(bucketCapMB > 0)) throw new Error(`DataParallel: bucketCapMB must be positive, got ${bucketCapMB}`);
    const addr = o.masterAddr ?? '127.0.0.1';
    const port = o.masterPort ?? 29500;
    const t0 = performance.now();
    let pg: ProcessGroup;
    try {
      pg = await initProcessGroup({
        rank: o.rank,
        worldSize: o.worldSize,
        masterAddr: addr,
        masterPort: port,
        timeoutMs,
      });
    } catch (err) {
      throw new DistributedError(
        `DataParallel: rendezvous at ${addr}:${port} failed on rank ${o.rank} of ${o.worldSize} after ${seconds(t0)} s ` +
          `(expected ${o.worldSize} workers to join within ${timeoutMs / 1000} s): ${(err as Error).message}`,
        o.rank,
        o.worldSize,
        'rendezvous',
      );
    }
    return new DataParallel(pg, { localRank: o.localRank ?? o.rank, bucketCapMB, timeoutMs });
  }

  /**
   * From the launcher's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, as torchrun, Slurm
   * scripts or Kubernetes set them); null when WORLD_SIZE is unset or 1 (a single process).
   */
  static async fromEnv(opts: DataParallelOptions = {}): Promise<DataParallel | null> {
    const env = launchEnv(opts.env ?? process.env);
    if (env === null || env.worldSize === 1) return null;
    return DataParallel.create({
      ...opts,
      rank: env.rank,
      worldSize: env.worldSize,
      localRank: env.localRank,
      masterAddr: env.masterAddr,
      masterPort: env.masterPort,
    });
  }

  /**
   * This rank's part of a global order (the same on every rank): positions rank, rank+W, ... of the first
   * floor(N/W)*W entries, so every rank gets the same number of items and no item is seen twice
   * (DistributedSampler with drop_last=True).
   */
  shard<T>(order: readonly T[]): T[] {
    const usable = order.length - (order.length % this.worldSize);
    const out: T[] = [];
    for (let i = this.rank; i < usable; i += this.worldSize) out.push(order[i]!);
    return out;
  }

  /** Overwrites every parameter and buffer of `modules` with rank `root`'s values (coalesced per dtype). */
  async broadcastModules(modules: ModuleSet, root = 0): Promise<void> {
    const tensors: Tensor[] = [];
    for (const m of modulesOf(modules)) tensors.push(...m.parameters(), ...m.buffers());
    await this.broadcastTensors(tensors, 'module parameters and buffers', root);
  }

  /** Overwrites `tensors` in place with rank `root`'s values, flattened into buckets of one dtype each. */
  async broadcastTensors(tensors: readonly Tensor[], what: string, root = 0): Promise<void> {
    const groups: Tensor[][] = [];
    const byDtype = new Map<string, { list: Tensor[]; bytes: number }>();
    for (const t of tensors) {
      const bytes = t.numel * DTYPE_SIZE[t.dtype];
      let cur = byDtype.get(t.dtype);
      if (!cur || (cur.list.length > 0 && cur.bytes + bytes > Math.max(this.bucketCapBytes, 64 * 1024 * 1024))) {
        cur = { list: [], bytes: 0 };
        groups.push(cur.list);
        byDtype.set(t.dtype, cur);
      }
      cur.list.push(t);
      cur.bytes += bytes;
    }
    const scope = torch.scope();
    try {
      const flats = noGrad(() => groups.map((g) => torch.cat(g.map((t) => t.detach().reshape([-1])))));
      await this.collective(
        `broadcast of ${what} (${tensors.length} tensors in ${flats.length} buckets) from rank ${root}`,
        `receive rank ${root}'s values`,
        () => this.pg.broadcast(flats, root),
      );
      noGrad(() =>
        groups.forEach((g, i) => {
          let offset = 0;
          for (const t of g) {
            t.copy_(flats[i]!.slice(0, offset, offset + t.numel).view(t.shape));
            offset += t.numel;
          }
        }),
      );
    } finally {
      scope.close();
    }
  }

  /**
   * Hands the parameters of `module` that require grad (the same ones in the same order on every rank) to c10d's
   * Reducer, which averages their gradients during each synchronised `backward`. Call once, after the start-up
   * broadcast and any checkpoint loading. The Reducer is built at the first synchronised backward: without
   * `findUnusedParameters` it takes only the parameters that loss's graph reaches (a head the loss never uses is
   * left out, and must stay out: a later gradient for it is an error); `onReady` then gets the buckets.
   */
  attach(module: Module, o: AttachOptions = {}): void {
    if (this.#attached)
      throw new Error(`DataParallel.attach: rank ${this.rank} already averages gradients for a set of parameters`);
    const trainable = [...module.namedParameters()].filter(([, p]) => p.requiresGrad);
    if (!trainable.length) throw new Error(`DataParallel.attach: none of the module's parameters requires grad`);
    this.#attached = { named: trainable, findUnused: o.findUnusedParameters ?? false, onReady: o.onReady };
  }

  /** The Reducer (after the first synchronised backward), for its bucket sizes and gradient timings. */
  get reducer(): GradientReducer {
    if (!this.#reducer)
      throw new Error(
        `DataParallel: rank ${this.rank} has no gradient reducer yet (attach(module), then a synchronised backward)`,
      );
    return this.#reducer;
  }

  /**
   * `loss.backward()` for one micro-batch. With `sync` (the last micro-batch before an optimiser step) the
   * Reducer averages the attached parameters' gradients over the ranks while backward runs; without it they
   * accumulate locally. Every rank must make the same calls. Failures become DistributedErrors naming `op`.
   */
  async backward(loss: Tensor, o: { sync: boolean; op: string }): Promise<void> {
    const reducer = o.sync ? await this.#reducerFor(loss, o.op) : null;
    try {
      this.guard(o.op, () => {
        if (reducer) {
          reducer.prepareForForward();
          reducer.prepareForBackward(loss);
        }
        loss.backward();
      });
    } catch (err) {
      // The Reducer's own check (reducer.cpp ensure_prior_reduction_finished), reworded for inkwell's settings.
      const message = err instanceof Error ? err.message : String(err);
      if (!/finished reduction in the prior iteration/.test(message)) throw err;
      const indices =
        /did not receive grad for rank \d+: ([\d ]+)/.exec(message)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
      throw this.#unusedError(
        o.op,
        indices.map((i) => this.#reduced[i]?.[0] ?? `#${i}`),
        'got no gradient in the previous synchronised backward, so their gradient buckets never completed',
      );
    }
    if (reducer) {
      const strays = this.#excluded.filter(([, p]) => p.grad !== null).map(([k]) => k);
      if (strays.length)
        throw this.#unusedError(
          o.op,
          strays,
          'got a gradient now but none in the first synchronised backward, so they are not averaged',
        );
    }
  }

  #unusedError(op: string, names: readonly string[], what: string): Error {
    return new Error(
      `DataParallel: ${op} on rank ${this.rank}: ${names.length ? `parameter(s) ${names.join(', ')}` : 'some parameters'} ${what}. ` +
        "Set distributed.findUnusedParameters=true (DDP's find_unused_parameters) for a model whose loss does not use the same parameters every step.",
    );
  }

  /** The Reducer, built at the first synchronised backward from the parameters that loss reaches on any rank. */
  async #reducerFor(loss: Tensor, op: string): Promise<GradientReducer> {
    if (this.#reducer) return this.#reducer;
    const a = this.#attached;
    if (!a)
      throw new Error(
        `DataParallel.backward: rank ${this.rank} has no parameters to average (call attach(module) first)`,
      );
    let keep = a.named.map(() => true);
    if (!a.findUnused) {
      const local = reachedBy(
        loss,
        a.named.map(([, p]) => p),
      );
      const counts = await this.allreduceNumbers(
        local.map((r) => (r ? 1 : 0)),
        'sum',
        'which parameters the loss reaches',
      );
      const partial = a.named.filter((_, i) => counts[i]! > 0 && counts[i]! < this.worldSize).map(([k]) => k);
      if (partial.length) throw this.#unusedError(op, partial, `take part in the loss on some workers only`);
      keep = counts.map((c) => c > 0);
      if (!keep.some(Boolean))
        throw new Error(
          `DataParallel.backward (${op}): the loss reaches none of the ${a.named.length} attached parameters`,
        );
    }
    this.#reduced = a.named.filter((_, i) => keep[i]);
    this.#excluded = a.named.filter((_, i) => !keep[i]);
    this.#reducer = this.pg.reducer(
      this.#reduced.map(([, p]) => p),
      {
        bucketCapBytes: this.bucketCapBytes,
        findUnusedParameters: a.findUnused,
        names: this.#reduced.map(([k]) => k),
      },
    );
    a.onReady?.({ bucketBytes: this.#reducer.bucketBytes(), excluded: this.#excluded.map(([k]) => k) });
    return this.#reducer;
  }

  /** Replaces every BatchNorm1d/2d/3d of `module` by a SyncBatchNorm over this group (same tensors, same names). */
  convertSyncBatchNorm(module: Module): Module {
    return convertSyncBatchNorm(module, this.pg);
  }

  /**
   * Every rank's `x` concatenated along dim 0, with gradients: backward sums the gradient over ranks and keeps
   * this rank's slice (VICReg's FullGatherLayer). Blocking; every rank must call it.
   */
  gather(x: Tensor): Tensor {
    return this.pg.gather(x);
  }

  /** Reduces a few numbers over the ranks (float64): losses for logging, flags. */
  async allreduceNumbers(
    values: readonly number[],
    op: 'sum' | 'avg' | 'max' | 'min' = 'avg',
    what = 'numbers',
  ): Promise<number[]> {
    const scope = torch.scope();
    try {
      const t = torch.fromTypedArray(Float64Array.from(values), [values.length]);
      await this.collective(`allreduce (${op}) of ${what}`, `contribute their ${what}`, () =>
        this.pg.allreduce([t], op),
      );
      return Array.from(t.toTypedArray() as Float64Array);
    } finally {
      scope.close();
    }
  }

  /** Rank `root`'s bytes on every rank (others pass null): e.g. a checkpoint file only rank 0 can read. */
  async broadcastBytes(bytes: Uint8Array | null, root = 0, what = 'bytes'): Promise<Uint8Array> {
    if (this.rank === root && bytes === null)
      throw new Error(`DataParallel.broadcastBytes: rank ${root} is the root and must pass the ${what}`);
    const [n] = await this.broadcastNumbers([this.rank === root ? bytes!.length : 0], root, `the size of ${what}`);
    const scope = torch.scope();
    try {
      const t =
        this.rank === root
          ? torch.fromTypedArray(Uint8Array.from(bytes!), [n!])
          : torch.zeros([n!], { dtype: 'uint8' });
      if (n! > 0)
        await this.collective(
          `broadcast of ${what} (${n} bytes) from rank ${root}`,
          `receive rank ${root}'s ${what}`,
          () => this.pg.broadcast([t], root),
        );
      return n === 0 ? new Uint8Array(0) : Uint8Array.from(t.toTypedArray() as Uint8Array);
    } finally {
      scope.close();
    }
  }

  /** Rank `root`'s numbers (float64) on every rank. */
  async broadcastNumbers(values: readonly number[], root = 0, what = 'numbers'): Promise<number[]> {
    const scope = torch.scope();
    try {
      const t = torch.fromTypedArray(Float64Array.from(values), [values.length]);
      await this.collective(`broadcast of ${what} from rank ${root}`, `receive rank ${root}'s ${what}`, () =>
        this.pg.broadcast([t], root),
      );
      return Array.from(t.toTypedArray() as Float64Array);
    } finally {
      scope.close();
    }
  }

  /**
   * A collective check after a stage that can fail on some ranks only (opening the run folder, loading a
   * checkpoint): every rank passes its own error or null; the failing ranks rethrow theirs, the others throw an
   * error naming the ranks that failed, so nobody waits for a peer that has given up.
   */
  async agree(stage: string, error: unknown): Promise<void> {
    const flags = new Array<number>(this.worldSize).fill(0);
    if (error) flags[this.rank] = 1;
    const all = await this.allreduceNumbers(flags, 'sum', `${stage} status`);
    if (error) throw error;
    const failed = all.flatMap((v, r) => (v > 0 ? [r] : []));
    if (failed.length) {
      throw new DistributedError(
        `DataParallel: ${stage} failed on rank ${failed.join(', ')} of ${this.worldSize}; rank ${this.rank} stops too (see rank ${failed[0]}'s error)`,
        this.rank,
        this.worldSize,
        stage,
      );
    }
  }

  /**
   * Runs a synchronous step that holds collectives inside autograd (SyncBatchNorm, `gather`: forward or
   * backward) and turns a communication failure into a DistributedError naming this rank and `op`; other errors
   * pass through unchanged.
   */
  guard<T>(op: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (err instanceof DistributedError || !COMM_FAILURE.test(message)) throw err;
      throw new DistributedError(
        `DataParallel: ${op} failed on rank ${this.rank} of ${this.worldSize} after ${seconds(t0)} s (its SyncBatchNorm and gather collectives expected ` +
          `all ${this.worldSize} workers; timeout ${this.timeoutMs / 1000} s). Another worker has probably died or stopped; the launcher names it. Cause: ${message}`,
        this.rank,
        this.worldSize,
        op,
      );
    }
  }

  async barrier(): Promise<void> {
    await this.collective('barrier', 'reach the barrier', () => this.pg.barrier());
  }

  /** Leaves the group (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reducer?.close();
    this.pg.shutdown();
  }

  private async collective<T>(op: string, expected: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed)
      throw new DistributedError(
        `DataParallel: ${op} on rank ${this.rank}: the group is closed`,
        this.rank,
        this.worldSize,
        op,
      );
    const t0 = performance.now();
    try {
      return await fn();
    } catch (err) {
      throw new DistributedError(
        `DataParallel: ${op} failed on rank ${this.rank} of ${this.worldSize} after ${seconds(t0)} s (expected all ${this.worldSize} workers to ` +
          `${expected}; timeout ${this.timeoutMs / 1000} s). Another worker has probably died or stopped; the launcher names it. Cause: ${(err as Error).message}`,
        this.rank,
        this.worldSize,
        op,
      );
    }
  }
}

/** One line on the Reducer a trainer's workers built (AttachOptions.onReady), for its log. */
export function describeReducer(info: { bucketBytes: number[]; excluded: string[] }): string {
  const mb = info.bucketBytes.reduce((n, b) => n + b, 0) / 1e6;
  const left = info.excluded.length;
  return (
    `gradients averaged during backward by c10d's Reducer in ${info.bucketBytes.length} bucket(s), ${mb.toFixed(1)} MB in all` +
    (left
      ? `; ${left} parameter(s) outside the loss are left out: ${info.excluded.slice(0, 6).join(', ')}${left > 6 ? ', ...' : ''}`
      : '')
  );
}

/**
 * Runs `fn` in the data-parallel group `given`, or (when undefined) in one joined from the launcher's variables
 * for the duration of the call (null for a single process): the trainers' shared entry.
 */
export async function withDataParallel<T>(
  given: DataParallel | null | undefined,
  cfg: { timeoutSeconds: number; bucketCapMB: number },
  fn: (dp: DataParallel | null) => Promise<T>,
): Promise<T> {
  if (given !== undefined) return fn(given);
  const dp = await DataParallel.fromEnv({ timeoutMs: cfg.timeoutSeconds * 1000, bucketCapMB: cfg.bucketCapMB });
  try {
    return await fn(dp);
  } finally {
    dp?.close();
  }
}
