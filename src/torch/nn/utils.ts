/** A flat view of parameters: one vector for all of them (torch.nn.utils.parameters_to_vector) and back. */
import { noGrad } from '../autograd.js';
import { formatShape } from '../dtype.js';
import { cat } from '../ops/shape.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/** All parameters concatenated into one new 1-D tensor (a copy). */
export function parametersToVector(params: readonly Tensor[]): Tensor {
  return tidy(() => noGrad(() => cat(params.map((p) => p.reshape([-1])))));
}

/** Copies consecutive slices of `vec` into `params` (the inverse of parametersToVector). */
export function vectorToParameters(vec: Tensor, params: readonly Tensor[]): void {
  const total = params.reduce((n, p) => n + p.numel, 0);
  if (vec.rank !== 1 || vec.numel !== total) {
    throw new Error(
      `vectorToParameters: expected a vector of ${total} elements for ${params.length} parameters, got ${formatShape(vec.shape)}`,
    );
  }
  copySlices(vec, params);
}

function copySlices(vec: Tensor, targets: readonly Tensor[]): void {
  tidy(() =>
    noGrad(() => {
      let offset = 0;
      for (const t of targets) {
        t.copy_(vec.slice(0, offset, offset + t.numel).view(t.shape));
        offset += t.numel;
      }
    }),
  );
}
