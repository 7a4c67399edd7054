/** Grad-mode control, as torch.no_grad / torch.enable_grad. Grad mode is per thread in libtorch. */
import { native } from './native.js';
import type { Tensor } from './tensor.js';

/** Runs `fn` with gradient recording off (no graph is built; results do not require grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/**
 * For each leaf (e.g. a parameter), whether backward from `output` would give it a gradient: a walk over the
 * autograd graph to the leaves' gradient accumulators, as DDP's find_unused_parameters does.
 */
export function reachedBy(output: Tensor, leaves: readonly Tensor[]): boolean[] {
  return native.reachedBy(
    output.handle,
    leaves.map((l) => l.handle),
  );
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = native.setGradEnabled(enabled);
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('noGrad/enableGrad: the function must be synchronous');
    return result;
  } finally {
    native.setGradEnabled(prev);
  }
}
