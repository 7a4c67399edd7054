/**
 * AdamW against torch.optim.AdamW (PyTorch 1.13): the same initial parameters and gradients, parameters compared
 * after every step (test/fixtures/optim_fixtures.py writes PyTorch's trajectory).
 */
import assert from 'node:assert/strict';
import { describeReplay } from './optim-fixtures.js';

const CASES: [string, string][] = [
  ['adamw_default', 'PyTorch defaults but lr 1e-2'],
  ['adamw_amsgrad', 'amsgrad with custom betas, eps and weight decay'],
  ['adamw_maximize', 'maximize without weight decay'],
  ['adamw_groups', 'two parameter groups with different lr, betas and weight decay'],
  ['adamw_missing_grads', 'parameters without a gradient keep their own step count (amsgrad)'],
];

describeReplay('AdamW matches torch.optim.AdamW step by step', 'adamw_', CASES, {
  check: ({ name, opt, params }) => {
    if (name === 'adamw_missing_grads') {
      // Gradients were missing for param 1 at steps 0 and 1, for param 2 at step 3 (of 6).
      assert.deepEqual(
        params.map((p) => opt.stateOf(p)?.get('step')),
        [6, 4, 5, 6],
      );
    }
  },
});
