/**
 * The device side of a training or inference run, in small pieces a loop calls: the config keys (`device`,
 * `amp`, `channelsLast3d`, `cudnnBenchmark`), `DeviceRuntime.open` (checks the device, sets cuDNN's autotuner),
 * moving modules and batches there, the autocast region around a forward, the GradScaler order around an
 * optimiser step (scale, backward, unscale, clip, step or skip, update), and out-of-memory errors that say
 * what to change. See docs/devices.md.
 */
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { nn } from '../torch/index.js';
import type { AmpMode, ScalableOptimizer } from '../torch/amp.js';
import type { AnyTypedArray } from '../torch/dtype.js';

/** The config keys every trainer and inference command shares (spread into their zod schemas). */
export const DEVICE_CONFIG_FIELDS = {
  /** Where the model runs: 'cpu', 'cuda' (the current GPU) or 'cuda:N'. */
  device: z
    .string()
    .default('cpu')
    .refine(torch.isDevice, { message: "expected 'cpu', 'cuda' or 'cuda:N'" })
    .transform((s) => s as torch.Device),
  /** Mixed precision: bf16 autocast, fp16 autocast with a gradient scaler, or full fp32 ('off'). */
  amp: z.enum(['bf16', 'fp16', 'off']).default('off'),
  /** Lay weights and inputs out as channels_last_3d (NDHWC), which cuDNN's fastest 3D kernels want. */
  channelsLast3d: z.boolean().default(false),
  /** Let cuDNN time its convolution algorithms per input shape and keep the fastest (fixed shapes only). */
  cudnnBenchmark: z.boolean().default(false),
};

export interface DeviceConfig {
  device: torch.Device;
  amp: AmpMode;
  channelsLast3d: boolean;
  cudnnBenchmark: boolean;
}

export const DEFAULT_DEVICE_CONFIG: DeviceConfig = {
  device: 'cpu',
  amp: 'off',
  channelsLast3d: false,
  cudnnBenchmark: false,
};

/** `--device` and `--amp` as `--set` overrides for the config-driven commands (pretrain, finetune, probe). */
export function deviceOverrides(o: { device?: string; amp?: string }): string[] {
  return [...(o.device ? [`device=${o.device}`] : []), ...(o.amp ? [`amp=${o.amp}`] : [])];
}

/** Parses `--amp`. */
export function parseAmp(s: string, what = '--amp'): AmpMode {
  if (s === 'bf16' || s === 'fp16' || s === 'off') return s;
  throw new Error(`${what}: '${s}' is not a precision mode; expected bf16, fp16 or off`);
}

export class DeviceRuntime {
  readonly device: torch.Device;
  readonly amp: AmpMode;
  readonly channelsLast3d: boolean;
  /** fp16's loss scaler (null for bf16 and fp32, whose range needs none). */
  readonly scaler: torch.amp.GradScaler | null;
  readonly #pin: boolean;

  private constructor(cfg: DeviceConfig) {
    this.device = cfg.device;
    this.amp = cfg.amp;
    this.channelsLast3d = cfg.channelsLast3d;
    this.scaler = cfg.amp === 'fp16' ? new torch.amp.GradScaler() : null;
    this.#pin = cfg.device !== 'cpu';
  }

  /**
   * Checks that the device exists (one error naming what is missing: a CUDA build of libtorch, a driver, or
   * device N) and that the precision mode runs there, then applies the cuDNN setting. `what` names the command.
   * A data-parallel worker passes its `localRank`: bare 'cuda' then means its own GPU, cuda:<localRank>, as
   * torchrun scripts do with torch.cuda.set_device(local_rank).
   */
  static open(cfg: DeviceConfig, what: string, o: { localRank?: number } = {}): DeviceRuntime {
    if (cfg.device === 'cuda' && o.localRank !== undefined) cfg = { ...cfg, device: `cuda:${o.localRank}` };
    torch.requireDevice(cfg.device, `${what}: device`);
    if (cfg.amp === 'fp16' && cfg.device === 'cpu') {
      // CPU autocast runs bf16 only (libtorch turns an fp16 CPU autocast off with a warning).
      throw new Error(`${what}: amp fp16 needs a CUDA device; on the CPU use amp bf16 (or off)`);
    }
    if (cfg.cudnnBenchmark) torch.setCudnnBenchmark(true);
    return new DeviceRuntime(cfg);
  }

  /** Moves `module` to the device (and to channels_last_3d when asked), in place. */
  prepare<M extends nn.Module>(module: M): M {
    module.to(this.device);
    if (this.channelsLast3d) module.toChannelsLast3d();
    return module;
  }

  /** A batch array as a tensor on the device (see `place`). */
  input(data: AnyTypedArray, shape: readonly number[]): torch.Tensor {
    return torch.tidy(() => this.place(torch.fromTypedArray(data, shape)));
  }

  /**
   * A host tensor on the device, as a new reference. On a GPU the bytes go through pinned (page-locked) host
   * memory and a non-blocking copy, as DataLoader(pin_memory=True) with .to(device, non_blocking=True): CUDA's
   * caching host allocator keeps the pinned block until the copy has run, so the next batch cannot overwrite
   * it. 5-D inputs follow channelsLast3d.
   */
  place(host: torch.Tensor): torch.Tensor {
    const memoryFormat = this.channelsLast3d && host.rank === 5 ? ('channels_last_3d' as const) : ('preserve' as const);
    if (!this.#pin || host.device !== 'cpu') return host.to({ device: this.device, memoryFormat });
    return torch.tidy(() => host.pinMemory().to({ device: this.device, nonBlocking: true, memoryFormat }));
  }

  /** `model` as a TileModel-like forward for inference: input placed, autocast, float32 logits back. */
  inferenceForward(model: { forward(x: torch.Tensor): torch.Tensor }): (x: torch.Tensor) => torch.Tensor {
    return (x) => torch.tidy(() => this.forward(() => model.forward(this.place(x))).float());
  }

  /** Runs a (synchronous) forward inside the autocast region of this run's precision mode. */
  forward<T>(fn: () => T): T {
    const dtype = torch.amp.ampDType(this.amp);
    return dtype === null ? fn() : torch.amp.autocast(this.device, dtype, fn);
  }

  /** The loss to call backward on: scaled by fp16's scaler, else the loss itself. */
  scaleLoss(loss: torch.Tensor): torch.Tensor {
    return this.scaler ? this.scaler.scale(loss) : loss;
  }

  /**
   * One optimiser step in GradScaler's order: unscale the gradients, clip their global norm (`clip`, null for
   * none), step unless a gradient is inf/NaN (fp16 overflow: the scaler then lowers its scale), update the
   * scale. Returns whether the optimiser stepped.
   */
  step(optimizer: ScalableOptimizer, clip: number | null): boolean {
    const params = optimizer.parameters();
    if (!this.scaler) {
      if (clip !== null) torch.optim.clipGradNorm_(params, clip);
      optimizer.step();
      return true;
    }
    this.scaler.unscale_(optimizer);
    if (clip !== null) torch.optim.clipGradNorm_(params, clip);
    const stepped = this.scaler.step(optimizer);
    this.scaler.update();
    return stepped;
  }
}

const OOM_RE = /out of memory|can't allocate memory|not enough memory|std::bad_alloc/i;

/** True for libtorch's out-of-memory errors (CUDA's caching allocator and the CPU allocator). */
export function isOutOfMemory(err: unknown): boolean {
  return err instanceof Error && OOM_RE.test(err.message);
}

export interface OutOfMemoryContext {
  /** The command or step, e.g. 'pretrain: epoch 3, batch 7'. */
  what: string;
  batchSize: number;
  device: torch.Device;
  accumulation?: number;
}

/**
 * For an out-of-memory error, one that names the batch size and the way out (a smaller batch with gradient
 * accumulation keeps the effective batch); `err` itself otherwise. Throw what it returns.
 */
export function withMemoryHint(err: unknown, o: OutOfMemoryContext): unknown {
  if (!isOutOfMemory(err)) return err;
  const acc = o.accumulation ?? 1;
  const half = Math.max(1, Math.floor(o.batchSize / 2));
  const mem = torch.memory().cuda?.[torch.cudaIndex(o.device) ?? 0];
  const held = mem ? ` (${(mem.peakAllocated / 2 ** 30).toFixed(2)} GiB peak in tensors)` : '';
  return new Error(
    `${o.what}: out of memory on ${o.device} with a batch of ${o.batchSize}${held}. Lower the batch and ` +
      `accumulate gradients to keep the effective batch: e.g. --set train.batchSize=${half} ` +
      `--set train.gradAccumulation=${acc * Math.ceil(o.batchSize / half)}` +
      `${o.device === 'cpu' ? '' : ', or use --amp bf16'}. (${(err as Error).message.split('\n')[0]})`,
    { cause: err },
  );
}

/** Runs `fn` (sync or async), rethrowing an out-of-memory error through `withMemoryHint`. */
export async function explainOutOfMemory<T>(fn: () => T | Promise<T>, o: OutOfMemoryContext): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw withMemoryHint(err, o);
  }
}
