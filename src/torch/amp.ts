/**
 * Mixed precision, as torch.amp: `autocast` runs a function with libtorch's autocast on (ops in its
 * lower-precision list run in bf16/fp16, those in its fp32 list in fp32; the lists are libtorch's own, so the
 * casts are PyTorch's), and `GradScaler` keeps fp16 gradients out of underflow (torch/amp/grad_scaler.py).
 */
import type { Device } from './device.js';
import type { DType } from './dtype.js';
import { native } from './native.js';
import { noGrad } from './autograd.js';
import { tidy } from './scope.js';
import { callOp, type Tensor } from './tensor.js';
import { stack } from './ops/shape.js';

/** `--amp`: bf16 autocast, fp16 autocast with a gradient scaler, or full fp32. */
export type AmpMode = 'bf16' | 'fp16' | 'off';
export const AMP_MODES: readonly AmpMode[] = ['bf16', 'fp16', 'off'];

export function ampDType(mode: AmpMode): 'bfloat16' | 'float16' | null {
  return mode === 'bf16' ? 'bfloat16' : mode === 'fp16' ? 'float16' : null;
}

/**
 * Runs `fn` with autocast on for `device`'s type (as `with torch.autocast(device_type, dtype)`), restoring the
 * previous state after, even when `fn` throws. `fn` must be synchronous: autocast is thread-local state, and
 * an await would leave it on for whatever runs meanwhile. The cast cache empties when the outermost region
 * closes, as in PyTorch.
 */
export function autocast<T>(device: Device, dtype: DType, fn: () => T, enabled = true): T {
  if (dtype !== 'bfloat16' && dtype !== 'float16') {
    throw new Error(`autocast: dtype must be bfloat16 or float16, got ${dtype}`);
  }
  const type = device === 'cpu' ? 'cpu' : 'cuda';
  const prev = native.autocastEnter(type, enabled, dtype);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('autocast: the function must be synchronous (it returned a Promise)');
    return r;
  } finally {
    native.autocastExit(type, prev.enabled, prev.dtype);
  }
}

/** Whether autocast is on for `device`'s type, and its dtype (torch.is_autocast_enabled / get_autocast_dtype). */
export function autocastState(device: Device): { enabled: boolean; dtype: DType } {
  return native.autocastState(device === 'cpu' ? 'cpu' : 'cuda');
}

/** What GradScaler needs of an optimiser: its parameters and a step. */
export interface ScalableOptimizer {
  parameters(): Tensor[];
  step(): void;
}

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
  enabled?: boolean;
}

/** GradScaler's state dict, under PyTorch's keys (torch.amp.GradScaler.state_dict). */
export interface GradScalerState {
  scale: number;
  growth_factor: number;
  backoff_factor: number;
  growth_interval: number;
  _growth_tracker: number;
}

/**
 * Dynamic loss scaling (torch.amp.GradScaler): `scale(loss)` before backward, `unscale_(opt)` before clipping,
 * `step(opt)` skips the update when any gradient is inf/NaN, `update()` halves the scale after a skipped step
 * and doubles it after `growthInterval` clean ones. Defaults are PyTorch's (2^16, 2, 0.5, 2000).
 */
export class GradScaler {
  readonly enabled: boolean;
  #scale: number;
  readonly #growthFactor: number;
  readonly #backoffFactor: number;
  readonly #growthInterval: number;
  #growthTracker = 0;
  /** Optimisers unscaled since the last update, with whether their gradients held an inf/NaN. */
  readonly #unscaled = new Map<ScalableOptimizer, boolean>();

  constructor(o: GradScalerOptions = {}) {
    this.enabled = o.enabled ?? true;
    this.#scale = o.initScale ?? 2 ** 16;
    this.#growthFactor = o.growthFactor ?? 2;
    this.#backoffFactor = o.backoffFactor ?? 0.5;
    this.#growthInterval = o.growthInterval ?? 2000;
    if (
      !(this.#scale > 0) ||
      !(this.#growthFactor > 1) ||
      !(this.#backoffFactor > 0 && this.#backoffFactor < 1) ||
      !Number.isInteger(this.#growthInterval) ||
      this.#growthInterval < 1
    ) {
      throw new Error(
        `GradScaler: need initScale > 0, growthFactor > 1, 0 < backoffFactor < 1 and an integer ` +
          `growthInterval >= 1; got ${this.#scale}, ${this.#growthFactor}, ${this.#backoffFactor}, ${this.#growthInterval}`,
      );
    }
  }

  /** The current scale (1 when disabled). */
  get scaleValue(): number {
    return this.enabled ? this.#scale : 1;
  }

  /** `loss * scale` (the loss itself when disabled, as PyTorch returns its outputs unchanged). */
  scale(loss: Tensor): Tensor {
    return this.enabled ? loss.mul(this.#scale) : loss;
  }

  /**
   * Divides the optimiser's gradients by the scale in place and records whether any was inf/NaN (PyTorch's
   * _amp_foreach_non_finite_check_and_unscale_, which checks the values before dividing). Once per step.
   */
  unscale_(optimizer: ScalableOptimizer): void {
    if (!this.enabled) return;
    if (this.#unscaled.has(optimizer)) {
      throw new Error('GradScaler.unscale_: already called on this optimiser since the last update()');
    }
    // PyTorch takes the reciprocal in float64 and rounds it to float32 (self._scale.double().reciprocal().float()).
    const inv = Math.fround(1 / this.#scale);
    const found = noGrad(() =>
      tidy(() => {
        const grads = optimizer
          .parameters()
          .map((p) => p.grad)
          .filter((g): g is Tensor => g !== null);
        if (grads.length === 0) return false;
        // One flag per gradient, read back once: a single host sync per step, as PyTorch's _maybe_opt_step.
        const finite = stack(grads.map((g) => callOp('aten::all', '', [callOp('aten::isfinite', '', [g])])));
        for (const g of grads) g.mul_(inv);
        return callOp('aten::all', '', [finite]).item() === 0;
      }),
    );
    this.#unscaled.set(optimizer, found);
  }

  /** Unscales (unless already done) and steps the optimiser unless its gradients held an inf/NaN; true if stepped. */
  step(optimizer: ScalableOptimizer): boolean {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    if (!this.#unscaled.has(optimizer)) this.unscale_(optimizer);
    if (this.#unscaled.get(optimizer) === true) return false;
    optimizer.step();
    return true;
  }

  /** Adjusts the scale after a step (torch._amp_update_scale_) and forgets which optimisers were unscaled. */
  update(): void {
    if (!this.enabled) return;
    if (this.#unscaled.size === 0)
      throw new Error('GradScaler.update: no optimiser was stepped or unscaled since the last update()');
    const foundInf = [...this.#unscaled.values()].some((f) => f);
    this.#unscaled.clear();
    if (foundInf) {
      this.#scale *= this.#backoffFactor;
      this.#growthTracker = 0;
    } else if (++this.#growthTracker === this.#growthInterval) {
      this.#scale *= this.#growthFactor;
      this.#growthTracker = 0;
    }
  }

  stateDict(): GradScalerState {
    return {
      scale: this.#scale,
      growth_factor: this.#growthFactor,
      backoff_factor: this.#backoffFactor,
      growth_interval: this.#growthInterval,
      _growth_tracker: this.#growthTracker,
    };
  }

  /** Restores the scale and growth tracker saved by `stateDict` (or PyTorch's GradScaler.state_dict()). */
  loadStateDict(sd: Partial<GradScalerState>): void {
    if (typeof sd.scale !== 'number' || !(sd.scale > 0)) {
      throw new Error(`GradScaler.loadStateDict: 'scale' must be a positive number, got ${String(sd.scale)}`);
    }
    this.#scale = sd.scale;
    this.#growthTracker = typeof sd._growth_tracker === 'number' ? sd._growth_tracker : 0;
  }
}
