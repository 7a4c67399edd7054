/**
 * `inkwell bench distributed`: what data parallelism costs here, and a paper estimate for GPUs.
 *
 * Measured: VICReg pretraining steps of a 3D ResNet-18 (reference-study variant, BN projector, SyncBatchNorm, variance and
 * covariance on gathered embeddings, SGD) on W local workers over Gloo/loopback, against 1 worker that takes the
 * whole global batch with the same total threads. Gradients are averaged by c10d's Reducer (DDP's engine), which
 * starts each bucket's allreduce from autograd hooks while backward still runs. Each worker alternates
 * synchronised steps with local ones (DDP's no_sync: the same forward and backward, no gradient allreduce), so
 * `exposed_comm_ms_per_step` = backward(sync) - backward(local) is what the allreduce adds to a step, measured
 * side by side; `comm_ms_per_step` is the allreduce of the same buckets alone, what it would add with no overlap;
 * `overlap_fraction` = 1 - exposed / alone. SyncBatchNorm's and the gather's collectives run inside forward and
 * backward in both kinds of step and count as compute. On a 2-core machine the workers share the cores, so no
 * speed-up is possible: `scaling_efficiency` (1-worker step time / W-worker step time at the same global batch
 * and total threads) measures the overhead, 1 = none.
 *
 * Estimated: allreduce time per step on 8 GPUs with NCCL for the full-width network's gradient buckets (25 MB,
 * as DDP), ring algorithm: per bucket 2(n-1)/n x bytes / bus bandwidth + 2(n-1) x per-hop latency (NCCL's
 * "bus bandwidth" is defined so that this holds, nccl-tests doc/PERFORMANCE.md). The bandwidths are assumptions,
 * stated with the result.
 */
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createEncoder } from '../models/registry.js';
import { createMethod } from '../ssl/registry.js';
import type { VICRegMethod } from '../ssl/vicreg.js';
import * as torch from '../torch/index.js';
import { DataParallel } from '../train/ddp.js';
import { launch } from '../train/launch.js';
import { round } from './engine.js';
import { resnetForwardFlops } from './models.js';
import { median } from './python-peer.js';

export interface DistributedBenchOptions {
  /** Encoder (default 'resnet3d-18-reference'). */
  arch?: string;
  /** Stage-width multiplier of the timed network (default 0.5 for minutes on a CPU; the estimate always uses 1). */
  widenFactor?: number;
  /** Per-worker input [B,1,D,H,W] of each view (default [2,1,16,64,64]). */
  input?: number[];
  /** Projector widths after the encoder's features (default the reference study's VICReg head [256,256,512]). */
  projector?: number[];
  /** Local workers (default 2). */
  workers?: number;
  /** Total libtorch threads, split over the workers (default: the cores). */
  threads?: number;
  /** Timed steps per run (default 4), after `warmup` (default 1) untimed ones. */
  steps?: number;
  warmup?: number;
  syncBatchNorm?: boolean;
  bucketCapMB?: number;
  /** GPUs of the estimate (default 8). */
  gpus?: number;
  /** Per-GPU batch of the estimate's compute time (default the reference study's 150 at [1,20,128,128]). */
  gpuInput?: number[];
  /** Assumed sustained GPU throughput for 3D convolutions in mixed precision (default 100 TFLOP/s, ~1/3 of an A100's fp16 peak). */
  gpuTflops?: number;
  onProgress?: (msg: string) => void;
}

/** One interconnect of the estimate. */
export interface LinkEstimate {
  name: string;
  /** Assumed NCCL all-reduce bus bandwidth (GB/s) and per-hop latency (us). */
  bus_gbps: number;
  latency_us: number;
  /** Allreduce time of all buckets per optimiser step. */
  allreduce_ms: number;
  /** allreduce / (compute + allreduce) with no overlap (this engine's schedule). */
  share_no_overlap: number;
  /** allreduce left after hiding it behind the backward pass (2/3 of compute), as the Reducer's hooks allow, as a share of the step. */
  share_with_overlap: number;
}

export interface DistributedEstimate {
  gpus: number;
  model: string;
  parameters: number;
  gradient_bytes: number;
  bucket_bytes: number[];
  formula: string;
  gpu_input: number[];
  gpu_tflops: number;
  /** Forward + backward of two views at gpu_input on one GPU at gpu_tflops. */
  compute_ms: number;
  links: LinkEstimate[];
}

export interface DistributedBenchResult {
  arch: string;
  widen_factor: number;
  workers: number;
  threads_total: number;
  threads_per_worker: number;
  /** Per worker, each view. */
  input: number[];
  global_batch: number;
  sync_batchnorm: boolean;
  steps: number;
  /** W workers: median wall time of a synchronised step (rank 0). */
  step_ms: number;
  /** The allreduce of all gradient buckets alone (launched together, then awaited): its cost without overlap. */
  comm_ms_per_step: number;
  /** comm_ms_per_step / step_ms. */
  comm_fraction: number;
  /** Median backward of synchronised steps (the Reducer allreduces during it and waits at its end) and of local ones. */
  backward_ms: number;
  local_backward_ms: number;
  /** backward_ms - local_backward_ms: what the gradient allreduce adds to a step after overlap. */
  exposed_comm_ms_per_step: number;
  exposed_comm_fraction: number;
  /** 1 - exposed / alone, clamped to [0, 1]: the share of the allreduce hidden behind backward. */
  overlap_fraction: number;
  /**
   * Rank 0's last synchronised backward, from the Reducer: when its hooks received the first and the last
   * gradient (ms after backward began). Buckets fill, and their allreduces start, between the two.
   */
  gradient_ready_ms: [number, number];
  /** 1 worker with the global batch and every thread. */
  single_step_ms: number;
  /** single_step_ms / step_ms (same global batch, same total threads; 1 = no overhead). */
  scaling_efficiency: number;
  /** 1 worker with the global batch and one worker's threads. */
  single_worker_threads_step_ms: number;
  /** single_worker_threads_step_ms / (workers x step_ms): strong scaling over the added cores (1 = linear). */
  core_scaling_efficiency: number;
  /** The machine's 1-minute load average when the bench started (other processes skew every figure). */
  load_average: number;
  tiles_per_s: number;
  single_tiles_per_s: number;
  /** Gradient buckets of the timed network, allreduce order. */
  bucket_bytes: number[];
  gradient_bytes: number;
  /** Whether the allreduce measurably overlaps backward here (overlap_fraction of at least 0.2). */
  overlaps_backward: boolean;
  estimate: DistributedEstimate;
  notes: string[];
}

interface WorkerReport {
  rank: number;
  step_ms: number[];
  backward_ms: number[];
  local_backward_ms: number[];
  allreduce_ms: number[];
  bucket_bytes: number[];
  /** From the Reducer, last synchronised backward: when its first and last gradients arrived (ms after it began). */
  gradient_ready_ms: [number, number];
}

interface WorkerSpec {
  arch: string;
  widenFactor: number;
  input: number[];
  projector: number[];
  steps: number;
  warmup: number;
  syncBatchNorm: boolean;
  bucketCapMB: number;
}

const DEFAULTS = {
  arch: 'resnet3d-18-reference',
  widenFactor: 0.5,
  input: [2, 1, 16, 64, 64],
  projector: [256, 256, 512],
  steps: 4,
  warmup: 1,
};

/** The worker side: runs in each launched process (`node distributed.js --bench-worker SPEC`). */
async function worker(spec: WorkerSpec): Promise<void> {
  const dp = await DataParallel.fromEnv({ bucketCapMB: spec.bucketCapMB, timeoutMs: 120_000 });
  torch.manualSeed(0);
  const enc = createEncoder(spec.arch, { widenFactor: spec.widenFactor });
  const featureDim = enc.options.numClasses ?? enc.featureDim;
  const method = createMethod('vicreg', {
    encoder: () => enc,
    featureDim,
    projector: spec.projector,
    vicreg: { covCoeff: 5 },
  }) as VICRegMethod;
  if (dp && spec.syncBatchNorm) dp.convertSyncBatchNorm(method.modules);
  if (dp) await dp.broadcastModules([method.modules]);
  const params = method.modules.parameters();
  const opt = new torch.optim.SGD(params, { lr: 1e-3, momentum: 0.9 });
  const report: WorkerReport = {
    rank: dp?.rank ?? 0,
    step_ms: [],
    backward_ms: [],
    local_backward_ms: [],
    allreduce_ms: [],
    bucket_bytes: [],
    gradient_ready_ms: [0, 0],
  };
  dp?.attach(method.modules, {
    onReady: (info) => {
      report.bucket_bytes = info.bucketBytes;
    },
  });
  // Synchronised and local steps alternate, so both see the same machine load.
  for (let s = 0; s < 2 * (spec.warmup + spec.steps); s++) {
    const sync = s % 2 === 0 || !dp;
    const scope = torch.scope();
    try {
      const t0 = performance.now();
      const v1 = torch.rand(spec.input);
      const v2 = torch.rand(spec.input);
      const out = dp ? method.step(v1, v2, (z) => dp.gather(z)) : method.step(v1, v2);
      const t1 = performance.now();
      if (dp) await dp.backward(out.loss, { sync, op: `bench step ${s}` });
      else out.loss.backward();
      const backwardMs = performance.now() - t1;
      torch.tidy(() => {
        opt.step();
        opt.zeroGrad();
      });
      if (s >= 2 * spec.warmup) {
        if (sync) {
          report.step_ms.push(performance.now() - t0);
          report.backward_ms.push(backwardMs);
        } else {
          report.local_backward_ms.push(backwardMs);
        }
      }
    } finally {
      scope.close();
    }
  }
  if (dp) {
    const ready = dp.reducer.gradientReadyMs();
    report.gradient_ready_ms = [Math.min(...ready), Math.max(...ready)];
    // The same buckets allreduced alone, all launched before waiting as the Reducer does.
    const scope = torch.scope();
    try {
      const flats = report.bucket_bytes.map((b) => torch.rand([b / 4]));
      for (let s = 0; s < spec.warmup + spec.steps; s++) {
        const t0 = performance.now();
        await dp.pg.allreduce(flats, 'sum');
        if (s >= spec.warmup) report.allreduce_ms.push(performance.now() - t0);
      }
    } finally {
      scope.close();
    }
  }
  process.stdout.write(`BENCH ${JSON.stringify(report)}\n`);
  opt.dispose();
  method.dispose();
  dp?.close();
}

async function runWorkers(spec: WorkerSpec, workers: number, threadsPerWorker: number): Promise<WorkerReport[]> {
  const reports: WorkerReport[] = [];
  const buffers = new Map<number, string>();
  let stderr = '';
  const self = fileURLToPath(import.meta.url);
  try {
    await launch({
      nprocPerNode: workers,
      threadsPerWorker,
      command: [process.execPath, self, '--bench-worker', JSON.stringify(spec)],
      env: { ...process.env, INKWELL_NUM_THREADS: String(threadsPerWorker), OMP_NUM_THREADS: String(threadsPerWorker) },
      log: (l) => {
        stderr += l + '\n';
      },
      output: (rank, stream, chunk) => {
        if (stream === 'stderr') {
          stderr += chunk;
          return;
        }
        buffers.set(rank, (buffers.get(rank) ?? '') + chunk);
      },
    });
  } catch (err) {
    throw new Error(
      `bench distributed: ${workers} worker(s) failed: ${(err as Error).message}\n${stderr.slice(-2000)}`,
    );
  }
  for (const [rank, text] of buffers) {
    const line = text.split('\n').find((l) => l.startsWith('BENCH '));
    if (!line) throw new Error(`bench distributed: worker ${rank} printed no result\n${stderr.slice(-2000)}`);
    reports.push(JSON.parse(line.slice(6)) as WorkerReport);
  }
  return reports.sort((a, b) => a.rank - b.rank);
}

/** The 8-GPU NCCL estimate from the full-width network's buckets (see the file comment for the formula). */
export function estimateAllreduce(
  o: {
    arch?: string;
    projector?: number[];
    gpus?: number;
    bucketCapMB?: number;
    gpuInput?: number[];
    gpuTflops?: number;
  } = {},
): DistributedEstimate {
  const arch = o.arch ?? DEFAULTS.arch;
  const n = o.gpus ?? 8;
  const gpuInput = o.gpuInput ?? [150, 1, 20, 128, 128];
  const tflops = o.gpuTflops ?? 100;
  return torch.tidy(() => {
    const enc = createEncoder(arch, { widenFactor: 1 });
    const featureDim = enc.options.numClasses ?? enc.featureDim;
    const method = createMethod('vicreg', {
      encoder: () => enc,
      featureDim,
      projector: o.projector ?? DEFAULTS.projector,
    });
    try {
      const params = method.modules.parameters();
      const buckets = torch.distributed
        .ddpBuckets(params, (o.bucketCapMB ?? 25) * 1024 * 1024)
        .map((idx) => idx.reduce((n, i) => n + params[i]!.numel * 4, 0));
      const bytes = buckets.reduce((a, b) => a + b, 0);
      const f = resnetForwardFlops(enc, gpuInput);
      // Two views; backward = 2x forward except conv1, whose input needs no gradient (as bench models counts).
      const computeMs = ((2 * (3 * f.total - f.conv1)) / (tflops * 1e12)) * 1e3;
      const links: [string, number, number][] = [
        // Assumed figures: NVLink3 (A100 SXM) moves 300 GB/s per direction, NVLink4 (H100 SXM) 450; NCCL's measured
        // all-reduce bus bandwidth on a full 8-GPU NVSwitch node reaches roughly 75-80% of that. PCIe 4.0 x16: 32
        // GB/s raw, ~20 achieved. InfiniBand HDR (200 Gb/s, one NIC per GPU across nodes): 25 GB/s raw.
        ['NVLink3/NVSwitch (8x A100 SXM, one node)', 230, 2],
        ['NVLink4/NVSwitch (8x H100 SXM, one node)', 360, 2],
        ['PCIe 4.0 x16, no NVLink (one node)', 20, 5],
        ['InfiniBand HDR 200 Gb/s (8 nodes x 1 GPU)', 22, 5],
      ];
      return {
        gpus: n,
        model: `${arch} + VICReg projector [${(o.projector ?? DEFAULTS.projector).join(',')}]`,
        parameters: params.reduce((a, p) => a + p.numel, 0),
        gradient_bytes: bytes,
        bucket_bytes: buckets,
        formula: `t = sum over buckets of [2(n-1)/n x bytes / B_bus + 2(n-1) x alpha], n = ${n}`,
        gpu_input: gpuInput,
        gpu_tflops: tflops,
        compute_ms: round(computeMs, 1),
        links: links.map(([name, bus, alpha]) => {
          const ms = buckets.reduce(
            (t, b) => t + ((((2 * (n - 1)) / n) * b) / (bus * 1e9)) * 1e3 + (2 * (n - 1) * alpha) / 1e3,
            0,
          );
          const hidden = Math.max(0, ms - (2 / 3) * computeMs);
          return {
            name,
            bus_gbps: bus,
            latency_us: alpha,
            allreduce_ms: round(ms, 2),
            share_no_overlap: round(ms / (computeMs + ms), 4),
            share_with_overlap: round(hidden / (computeMs + hidden), 4),
          };
        }),
      };
    } finally {
      method.dispose();
    }
  });
}

export async function benchDistributed(opts: DistributedBenchOptions = {}): Promise<DistributedBenchResult> {
  const workers = opts.workers ?? 2;
  const threads = opts.threads ?? availableParallelism();
  const perWorker = Math.max(1, Math.floor(threads / workers));
  const input = opts.input ?? DEFAULTS.input;
  const spec: WorkerSpec = {
    arch: opts.arch ?? DEFAULTS.arch,
    widenFactor: opts.widenFactor ?? DEFAULTS.widenFactor,
    input,
    projector: opts.projector ?? DEFAULTS.projector,
    steps: opts.steps ?? DEFAULTS.steps,
    warmup: opts.warmup ?? DEFAULTS.warmup,
    syncBatchNorm: opts.syncBatchNorm ?? true,
    bucketCapMB: opts.bucketCapMB ?? 25,
  };
  if (!(workers >= 2)) throw new Error(`bench distributed: workers must be at least 2, got ${workers}`);
  const progressMsg = opts.onProgress ?? (() => undefined);
  const load = loadavg()[0] ?? 0;
  progressMsg(
    `${workers} workers x ${perWorker} thread(s), ${spec.arch} widen ${spec.widenFactor}, input ${JSON.stringify(input)} per worker`,
  );
  const parallel = await runWorkers(spec, workers, perWorker);
  const globalInput = [input[0]! * workers, ...input.slice(1)];
  progressMsg(`1 worker x ${perWorker * workers} thread(s), input ${JSON.stringify(globalInput)}`);
  const [single] = await runWorkers({ ...spec, input: globalInput }, 1, perWorker * workers);
  progressMsg(`1 worker x ${perWorker} thread(s), input ${JSON.stringify(globalInput)}`);
  const [singleFew] = await runWorkers({ ...spec, input: globalInput }, 1, perWorker);
  const main = parallel[0]!;
  // A synchronised step ends when the slowest worker's last bucket is in, so rank 0's wall time is the step time.
  const stepMs = median(main.step_ms);
  const commMs = median(main.allreduce_ms);
  const backwardMs = median(main.backward_ms);
  const localBackwardMs = median(main.local_backward_ms);
  const exposedMs = Math.max(0, backwardMs - localBackwardMs);
  const overlap = commMs > 0 ? Math.min(1, Math.max(0, 1 - exposedMs / commMs)) : 0;
  const singleMs = median(single!.step_ms);
  const singleFewMs = median(singleFew!.step_ms);
  const estimate = estimateAllreduce({
    arch: spec.arch,
    projector: spec.projector,
    bucketCapMB: spec.bucketCapMB,
    ...(opts.gpus === undefined ? {} : { gpus: opts.gpus }),
    ...(opts.gpuInput === undefined ? {} : { gpuInput: opts.gpuInput }),
    ...(opts.gpuTflops === undefined ? {} : { gpuTflops: opts.gpuTflops }),
  });
  return {
    arch: spec.arch,
    widen_factor: spec.widenFactor,
    workers,
    threads_total: perWorker * workers,
    threads_per_worker: perWorker,
    input,
    global_batch: input[0]! * workers,
    sync_batchnorm: spec.syncBatchNorm,
    steps: spec.steps,
    step_ms: round(stepMs, 1),
    comm_ms_per_step: round(commMs, 2),
    comm_fraction: round(commMs / stepMs, 4),
    backward_ms: round(backwardMs, 1),
    local_backward_ms: round(localBackwardMs, 1),
    exposed_comm_ms_per_step: round(exposedMs, 2),
    exposed_comm_fraction: round(exposedMs / stepMs, 4),
    overlap_fraction: round(overlap, 3),
    gradient_ready_ms: [round(main.gradient_ready_ms[0], 1), round(main.gradient_ready_ms[1], 1)],
    single_step_ms: round(singleMs, 1),
    scaling_efficiency: round(singleMs / stepMs, 3),
    single_worker_threads_step_ms: round(singleFewMs, 1),
    core_scaling_efficiency: round(singleFewMs / (workers * stepMs), 3),
    load_average: round(load, 2),
    tiles_per_s: round((input[0]! * workers) / (stepMs / 1000), 2),
    single_tiles_per_s: round((input[0]! * workers) / (singleMs / 1000), 2),
    bucket_bytes: main.bucket_bytes,
    gradient_bytes: main.bucket_bytes.reduce((a, b) => a + b, 0),
    overlaps_backward: overlap >= 0.2,
    estimate,
    notes: [
      "Gradients are averaged by c10d's Reducer (DDP's engine): hooks on the gradient accumulators start each bucket's allreduce during backward. " +
        'exposed_comm compares synchronised and local (no_sync) steps run alternately; both are medians and noisy on a shared machine.',
      "On a 2-core machine Gloo's loopback allreduce (copies and sums on the CPU) competes with backward for the same cores, so little of it can hide; on GPUs NCCL runs on its own streams.",
      'SyncBatchNorm and the VICReg embedding gather communicate inside forward/backward in every step; their cost is compute here, not comm.',
      `The workers share this machine's cores: scaling_efficiency compares equal total threads (${perWorker * workers}), so 1 means no overhead, not a speed-up; ` +
        "above 1 means the single process used its threads worse (libtorch's OpenMP with several threads stalls on a busy shared machine, docs/engine.md).",
      `core_scaling_efficiency compares against 1 worker with ${perWorker} thread(s): 1 would be linear scaling over the ${workers} workers' cores.`,
    ],
  };
}

export function printDistributed(
  r: DistributedBenchResult,
  write: (line: string) => void = (l) => console.log(l),
): void {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  write(
    `data parallel: ${r.arch} (widen ${r.widen_factor}) VICReg, ${r.workers} workers x ${r.threads_per_worker} thread(s), per-worker input ${JSON.stringify(r.input)}, SyncBatchNorm ${r.sync_batchnorm ? 'on' : 'off'}`,
  );
  write(
    `  ${r.workers} workers: step ${r.step_ms} ms; gradient allreduce alone ${r.comm_ms_per_step} ms = ${(100 * r.comm_fraction).toFixed(1)}% of the step; ${r.tiles_per_s} tiles/s`,
  );
  write(
    `  backward ${r.backward_ms} ms synchronised vs ${r.local_backward_ms} ms local: ${r.exposed_comm_ms_per_step} ms exposed = ${(100 * r.exposed_comm_fraction).toFixed(1)}% of the step; ` +
      `${(100 * r.overlap_fraction).toFixed(0)}% of the allreduce hidden behind backward; gradients reached the Reducer from ${r.gradient_ready_ms[0]} to ${r.gradient_ready_ms[1]} ms into backward`,
  );
  write(
    `  1 worker, batch ${r.global_batch}, ${r.threads_total} thread(s): step ${r.single_step_ms} ms; ${r.single_tiles_per_s} tiles/s`,
  );
  write(
    `  1 worker, batch ${r.global_batch}, ${r.threads_per_worker} thread(s): step ${r.single_worker_threads_step_ms} ms; core scaling efficiency ${r.core_scaling_efficiency}; load average ${r.load_average}`,
  );
  write(
    `  scaling efficiency (same total threads) ${r.scaling_efficiency}; gradients ${mb(r.gradient_bytes)} MB in ${r.bucket_bytes.length} bucket(s); overlap with backward: ${r.overlaps_backward ? 'yes' : 'no'}`,
  );
  const e = r.estimate;
  write(
    `estimate, ${e.gpus} GPUs with NCCL ring allreduce: ${e.model}, ${(e.parameters / 1e6).toFixed(1)} M parameters, ${mb(e.gradient_bytes)} MB of gradients in ${e.bucket_bytes.length} bucket(s)`,
  );
  write(
    `  ${e.formula}; compute ${e.compute_ms} ms per step for ${JSON.stringify(e.gpu_input)} x 2 views at an assumed ${e.gpu_tflops} TFLOP/s`,
  );
  for (const l of e.links) {
    write(
      `  ${l.name}: B_bus ${l.bus_gbps} GB/s, alpha ${l.latency_us} us -> ${l.allreduce_ms} ms per step, ${(100 * l.share_no_overlap).toFixed(2)}% of the step without overlap, ${(100 * l.share_with_overlap).toFixed(2)}% with the Reducer's overlap`,
    );
  }
  for (const n of r.notes) write(`  note: ${n}`);
}

// Entry for the launched workers.
if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url) &&
  process.argv[2] === '--bench-worker'
) {
  worker(JSON.parse(process.argv[3] ?? '{}') as WorkerSpec).catch((err: unknown) => {
    process.stderr.write(
      `bench distributed worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
