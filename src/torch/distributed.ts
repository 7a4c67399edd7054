/**
 * torch.distributed over libtorch's c10d (the engine behind PyTorch's DDP): a TCPStore rendezvous and a Gloo
 * process group on CPU. Collectives are async (they run off the event loop) and reject within the group's
 * timeout when a peer dies. Ranks and addresses come from options or from the standard launcher variables
 * (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), as torchrun, Slurm scripts or Kubernetes set them.
 */
import { native, type ProcessGroupHandle, type ReducerHandle } from './native.js';
import { Tensor } from './tensor.js';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

export interface InitOptions {
  backend?: 'gloo' | 'nccl';
  rank?: number;
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Rendezvous and collective timeout (default 5 minutes, as PyTorch's). */
  timeoutMs?: number;
}

export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

function envInt(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`distributed: ${name}=${v} is not a non-negative integer`);
  return n;
}

/** The launcher's variables, or null when WORLD_SIZE is not set (a single-process run). */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  const worldSize = envInt('WORLD_SIZE', env);
  if (worldSize === undefined) return null;
  const rank = envInt('RANK', env);
  if (rank === undefined) throw new Error('distributed: WORLD_SIZE is set but RANK is not');
  return {
    rank,
    worldSize,
    localRank: envInt('LOCAL_RANK', env) ?? rank,
    masterAddr: env['MASTER_ADDR'] ?? '127.0.0.1',
    masterPort: envInt('MASTER_PORT', env) ?? 29500,
  };
}

export class ProcessGroup {
  constructor(private readonly handle: ProcessGroupHandle) {}
  get rank(): number {
    return this.handle.rank;
  }
  get size(): number {
    return this.handle.size;
  }

  /** Reduces `tensors` in place across ranks; 'avg' is a sum divided by the world size (Gloo has no AVG). */
  async allreduce(tensors: readonly Tensor[], op: ReduceOp = 'sum'): Promise<void> {
    await this.handle.allreduce(
      tensors.map((t) => t.handle),
      op === 'avg' ? 'sum' : op,
    );
    if (op === 'avg' && this.size > 1) for (const t of tensors) t.div_(this.size);
  }

  /** Overwrites `tensors` on every rank with rank `root`'s values. */
  async broadcast(tensors: readonly Tensor[], root = 0): Promise<void> {
    await this.handle.broadcast(
      tensors.map((t) => t.handle),
      root,
    );
  }

  /** Every rank's `t` (same shape everywhere), in rank order; new tensors owned by the current scope. */
  async allgather(t: Tensor): Promise<Tensor[]> {
    const handles = await this.handle.allgather(t.handle);
    return handles.map((h) => Tensor.fromHandle(h));
  }

  async barrier(): Promise<void> {
    await this.handle.barrier();
  }

  /**
   * Batch norm in training mode with mean and variance over the whole global batch (every rank's samples), as
   * torch.nn.SyncBatchNorm; backward allreduces too, so the gradient is that of the sum of every rank's loss.
   * Updates `runningMean`/`runningVar` in place (unbiased variance, as BatchNorm). Blocking: every rank must call it.
   */
  syncBatchNorm(
    x: Tensor,
    o: {
      weight?: Tensor | null;
      bias?: Tensor | null;
      runningMean?: Tensor | null;
      runningVar?: Tensor | null;
      momentum?: number;
      eps?: number;
    } = {},
  ): Tensor {
    const h = (t: Tensor | null | undefined) => (t ? t.handle : null);
    return Tensor.fromHandle(
      this.handle.syncBatchNorm(
        x.handle,
        h(o.weight),
        h(o.bias),
        h(o.runningMean),
        h(o.runningVar),
        o.momentum ?? 0.1,
        o.eps ?? 1e-5,
      ),
    );
  }

  /**
   * Every rank's `x` concatenated along dim 0 (same shape on every rank), with gradients: backward sums the
   * incoming gradient over ranks and returns this rank's slice (VICReg's FullGatherLayer). Blocking.
   */
  gather(x: Tensor): Tensor {
    return Tensor.fromHandle(this.handle.gather(x.handle));
  }

  /**
   * c10d's Reducer, the gradient engine of PyTorch's DistributedDataParallel, over `params` (leaf tensors that
   * require grad, the same ones in the same order on every rank): see GradientReducer.
   */
  reducer(params: readonly Tensor[], opts: ReducerOptions = {}): GradientReducer {
    const names = opts.names ?? [];
    if (names.length && names.length !== params.length)
      throw new Error(`reducer: ${names.length} names for ${params.length} parameters`);
    const findUnused = opts.findUnusedParameters ?? false;
    const handle = this.handle.reducer(
      params.map((p) => p.handle),
      opts.bucketCapBytes ?? 25 * 1024 * 1024,
      findUnused,
      [...names],
    );
    return new GradientReducer(handle, findUnused);
  }

  shutdown(): void {
    this.handle.shutdown();
  }
}

export interface ReducerOptions {
  /** Bucket size cap in bytes (default 25 MiB, DDP's bucket_cap_mb); the first bucket holds at most 1 MiB, as DDP's (or the cap, if smaller). */
  bucketCapBytes?: number;
  /**
   * Search each backward's graph for parameters that get no gradient (DDP's find_unused_parameters); without
   * it every parameter must get a gradient in every synchronised backward.
   */
  findUnusedParameters?: boolean;
  /** Parameter names, for the Reducer's own error messages. */
  names?: readonly string[];
}

/**
 * Averages gradients over the ranks during backward, as DDP does: after prepareForBackward(), each parameter's
 * gradient-accumulator hook copies its gradient (divided by the world size) into a bucket, and a full bucket's
 * allreduce starts while backward goes on with earlier layers; when backward returns, every .grad holds the
 * average. Backwards without prepareForBackward() accumulate locally only (DDP's no_sync()).
 */
export class GradientReducer {
  #closed = false;
  constructor(
    private readonly handle: ReducerHandle,
    readonly findUnusedParameters: boolean,
  ) {}

  /** Call before the forward of a synchronised step (rebuilds the buckets once, after the first). */
  prepareForForward(): boolean {
    return this.handle.prepareForForward();
  }

  /** Call before `loss.backward()` when that backward should average gradients. */
  prepareForBackward(loss: Tensor): void {
    this.handle.prepareForBackward(this.findUnusedParameters ? [loss.handle] : []);
  }

  /** Each bucket's size in bytes, in allreduce order. */
  bucketBytes(): number[] {
    return this.handle.bucketBytes();
  }

  /** Per parameter, milliseconds from prepareForBackward until its gradient was ready in the last backward. */
  gradientReadyMs(): number[] {
    return this.handle.backwardStats().map((ns) => ns / 1e6);
  }

  /** Removes the hooks from the parameters (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.handle.close();
  }
}

/**
 * The buckets DDP's Reducer starts with for `params` (its compute_bucket_assignment_by_size with a first bucket
 * of at most 1 MiB, then `capBytes`): parameter indices per bucket, in allreduce order (last layers first).
 */
export function ddpBuckets(params: readonly Tensor[], capBytes = 25 * 1024 * 1024): number[][] {
  return native.ddpBuckets(
    params.map((p) => p.handle),
    capBytes,
  );
}

/** Backends this build of the addon can use. */
export function availableBackends(): string[] {
  return native.distributedBackends.split(' ').filter((b) => b.length > 0);
}

/** Joins (rank 0: hosts) the rendezvous and returns the process group once every rank has arrived. */
export async function initProcessGroup(opts: InitOptions = {}): Promise<ProcessGroup> {
  const env = launchEnv();
  const backend = opts.backend ?? 'gloo';
  if (!availableBackends().includes(backend)) {
    throw new Error(
      `initProcessGroup: backend '${backend}' is not built into this addon (available: ${availableBackends().join(', ')}; ` +
        'NCCL needs a CUDA libtorch, built on a machine with an NVIDIA driver: see docs/gpu.md)',
    );
  }
  const rank = opts.rank ?? env?.rank;
  const worldSize = opts.worldSize ?? env?.worldSize;
  if (rank === undefined || worldSize === undefined) {
    throw new Error('initProcessGroup: rank and worldSize must be given, or RANK and WORLD_SIZE set by the launcher');
  }
  const handle = await native.initProcessGroup({
    backend,
    rank,
    worldSize,
    masterAddr: opts.masterAddr ?? env?.masterAddr ?? '127.0.0.1',
    masterPort: opts.masterPort ?? env?.masterPort ?? 29500,
    timeoutMs: opts.timeoutMs ?? 300_000,
  });
  return new ProcessGroup(handle);
}
