/** Grad-mode control, as torch.no_grad / torch.enable_grad. Grad mode is per thread in libtorch. */
import { native } from './native.js';

/** Runs `fn` with gradient recording off (no graph is built; results do not require grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with gradient recording on, even inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
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
