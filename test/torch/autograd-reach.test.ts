/** reachedBy: which leaves a backward from an output would give gradients (DDP's unused-parameter search). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

describe('autograd graph reach', () => {
  it('finds the parameters a loss uses, through every branch, and none for a constant', () => {
    const used = new nn.Linear(4, 3);
    const unused = new nn.Linear(4, 3);
    const shared = new nn.Linear(3, 2);
    try {
      torch.tidy(() => {
        const x = torch.randn([5, 4]);
        const h = used.forward(x).relu();
        const loss = shared
          .forward(h)
          .sum()
          .add(h.mul(shared.forward(h).mean()).sum());
        const params = [...used.parameters(), ...unused.parameters(), ...shared.parameters()];
        assert.deepEqual(torch.reachedBy(loss, params), [true, true, false, false, true, true]);
        // A leaf that does not require grad has no gradient accumulator; a constant output reaches nothing.
        assert.deepEqual(torch.reachedBy(loss, [x]), [false]);
        assert.deepEqual(
          torch.reachedBy(torch.ones([1]), params),
          params.map(() => false),
        );
        // The same question, answered by backward itself.
        loss.backward();
        assert.deepEqual(
          params.map((p) => p.grad !== null),
          [true, true, false, false, true, true],
        );
      });
    } finally {
      for (const m of [used, unused, shared]) m.dispose();
    }
  });
});
