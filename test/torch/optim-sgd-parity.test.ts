/**
 * SGD against torch.optim.SGD (PyTorch 1.13): the same initial parameters and gradients, parameters compared
 * after every step (test/fixtures/optim_fixtures.py writes PyTorch's trajectory).
 */
import assert from 'node:assert/strict';
import { describeReplay } from './optim-fixtures.js';

const CASES: [string, string][] = [
  ['sgd_plain', 'plain SGD'],
  ['sgd_momentum', 'momentum 0.9'],
  ['sgd_nesterov', 'Nesterov momentum with weight decay'],
  ['sgd_weight_decay', 'weight decay without momentum'],
  ['sgd_dampening', 'momentum with dampening and weight decay'],
  ['sgd_maximize', 'maximize, with momentum'],
  ['sgd_groups', 'two parameter groups with different lr, weight decay, momentum and nesterov'],
  ['sgd_missing_grads', 'parameters without a gradient are skipped (no update, no momentum step)'],
];

describeReplay('SGD matches torch.optim.SGD step by step', 'sgd_', CASES, {
  check: ({ name, opt, params }) => {
    if (name === 'sgd_missing_grads') {
      // Param 0 had no gradient at step 1 and 3 only: it has momentum state; none lacked one throughout.
      assert.ok(opt.stateOf(params[0]!)?.get('momentum_buffer'), 'momentum buffer of param 0');
    }
  },
});
