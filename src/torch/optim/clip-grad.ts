/** Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (torch/nn/utils/clip_grad.py, 1.13). */
import { noGrad } from '../autograd.js';
import { stack } from '../ops/shape.js';
import { tidy } from '../scope.js';
import { Tensor } from '../tensor.js';

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling the gradients by it (default false, as PyTorch 1.13). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `parameters` in place so that their joint `normType`-norm (as if all were concatenated
 * into one vector) is at most `maxNorm`; parameters without a gradient are ignored. Returns the total norm before
 * clipping (0 when no parameter has a gradient).
 *
 * As PyTorch: total = ||(||g_1||_p, ..., ||g_n||_p)||_p (max of max|g| for p = Infinity), then every gradient is
 * multiplied by min(maxNorm / (total + 1e-6), 1), computed in the gradients' dtype. In data-parallel training,
 * call it after the gradients are averaged across replicas, so every replica clips identically.
 */
export function clipGradNorm_(
  parameters: Tensor | Iterable<Tensor>,
  maxNorm: number,
  normType = 2,
  opts: ClipGradNormOptions = {},
): number {
  const params = parameters instanceof Tensor ? [parameters] : Array.from(parameters);
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm))
    throw new Error(`clipGradNorm_: maxNorm must be a number, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || Number.isNaN(normType))
    throw new Error(`clipGradNorm_: normType must be a number (Infinity for the max norm), got ${String(normType)}`);
  return noGrad(() =>
    tidy(() => {
      const grads: Tensor[] = [];
      for (const [i, p] of params.entries()) {
        if (!(p instanceof Tensor)) throw new Error(`clipGradNorm_: parameters[${i}] is not a Tensor`);
        const g = p.grad;
        if (g !== null) grads.push(g);
      }
      if (grads.length === 0) return 0;
      const device = grads[0]!.device;
      const onDevice = (t: Tensor): Tensor => (t.device === device ? t : t.to(device));
      let total: Tensor;
      if (normType === Infinity) {
        const norms = grads.map((g) => onDevice(g.abs().amax()));
        total = norms.length === 1 ? norms[0]! : stack(norms).amax();
      } else {
        total = stack(grads.map((g) => onDevice(g.norm(normType)))).norm(normType);
      }
      const totalNorm = total.item();
      if (opts.errorIfNonfinite && !Number.isFinite(totalNorm)) {
        throw new Error(
          `clipGradNorm_: the total norm of order ${normType} of the gradients is ${totalNorm}, so they cannot be clipped (errorIfNonfinite is set)`,
        );
      }
      // `max_norm / (total_norm + 1e-6)` is Tensor.__rtruediv__, i.e. reciprocal() * max_norm, clamped to 1 so that
      // gradients already within the bound are left as they are (multiplied by 1, without a host sync on GPUs).
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) g.mul_(g.device === device ? coef : coef.to(g.device));
      return totalNorm;
    }),
  );
}
