/**
 * SGD against torch.optim.SGD (PyTorch 1.13): the same initial parameters and gradients, parameters compared
 * after every step (test/fixtures/optim_fixtures.py writes PyTorch's trajectory).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { disposeAll, Fixtures, initialParams, makeOptimizer, replay, SKIP_NO_TORCH } from './optim-fixtures.js';

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

describe('SGD matches torch.optim.SGD step by step', { skip: SKIP_NO_TORCH }, () => {
  let fx: Fixtures;
  before(() => { fx = new Fixtures('sgd_'); });
  after(() => fx?.cleanup());

  for (const [name, what] of CASES) {
    it(`${what} (${name})`, (t) => {
      const c = fx.optCase(name);
      const params = initialParams(fx, c);
      const opt = makeOptimizer(c, params);
      try {
        const worst = replay(fx, c, opt, params, 0, c.steps);
        t.diagnostic(`${name}: max |inkwell - PyTorch| = ${worst}`);
        if (name === 'sgd_missing_grads') {
          // Param 0 had no gradient at step 1 and 3 only: it has momentum state; none lacked one throughout.
          assert.ok(opt.stateOf(params[0]!)?.get('momentum_buffer'), 'momentum buffer of param 0');
        }
      } finally {
        opt.dispose();
        disposeAll(params);
      }
    });
  }
});
