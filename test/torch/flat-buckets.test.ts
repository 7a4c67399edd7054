/** Flat parameter vectors and gradient buckets, the units data-parallel training moves between processes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

describe('flat parameters and gradient buckets', () => {
  it('parametersToVector and vectorToParameters are inverse; sizes add up', () => {
    const net = new nn.Sequential(new nn.Linear(3, 4), new nn.Linear(4, 2));
    try {
      torch.tidy(() => {
        const vec = nn.utils.parametersToVector(net.parameters());
        assert.equal(vec.numel, net.parameterCount());
        assert.equal(vec.numel, 3 * 4 + 4 + 4 * 2 + 2);
        const doubled = vec.mul(2);
        nn.utils.vectorToParameters(doubled, net.parameters());
        assert.deepEqual(Array.from(nn.utils.parametersToVector(net.parameters()).toFloat32Array()), Array.from(doubled.toFloat32Array()));
        assert.throws(() => nn.utils.vectorToParameters(torch.zeros([5]), net.parameters()), /expected a vector of 26 elements for 4 parameters, got \[5\]/);
      });
    } finally {
      net.dispose();
    }
  });

  it('buckets respect the cap, go in reverse order, and round-trip gradients (averaging example)', () => {
    const net = new nn.Sequential(new nn.Linear(64, 64), new nn.Linear(64, 64), new nn.Linear(64, 8));
    try {
      const cap = 64 * 64 * 4 + 64 * 4; // one Linear(64,64) layer
      const buckets = nn.utils.gradBuckets(net.parameters(), cap);
      assert.ok(buckets.every((b) => b.bytes <= cap || b.params.length === 1));
      assert.equal(buckets.reduce((n, b) => n + b.numel, 0), net.parameterCount());
      assert.equal(buckets[0]!.params[0], net.parameters().at(-1), 'the last parameter goes first');
      torch.tidy(() => {
        net.forward(torch.randn([5, 64])).sum().backward();
        const before = net.parameters().map((p) => Array.from(p.grad!.toFloat32Array()));
        for (const b of buckets) {
          const flat = nn.utils.flattenGrads(b);
          assert.equal(flat.numel, b.numel);
          nn.utils.unflattenGrads(b, flat.div(2)); // as an allreduce-average over 2 identical ranks would
        }
        net.parameters().forEach((p, i) => {
          const after = Array.from(p.grad!.toFloat32Array());
          after.forEach((v, j) => assert.ok(Math.abs(v - before[i]![j]! / 2) < 1e-7));
        });
      });
    } finally {
      net.dispose();
    }
  });
});

describe('channels-last-3d memory format', () => {
  it('converts layout without changing values, and conv3d accepts it', () => {
    torch.tidy(() => {
      const x = torch.randn([2, 3, 4, 5, 6]);
      const cl = x.contiguous('channels_last_3d');
      assert.equal(cl.isContiguous('channels_last_3d'), true);
      assert.equal(cl.isContiguous(), false);
      assert.deepEqual(cl.strides, [360, 1, 90, 18, 3]);
      assert.deepEqual(Array.from(cl.toFloat32Array()), Array.from(x.toFloat32Array()));
      const w = torch.randn([4, 3, 3, 3, 3]);
      const a = torch.F.conv3d(x, w, null, { padding: 1 });
      const b = torch.F.conv3d(cl, w.contiguous('channels_last_3d'), null, { padding: 1 });
      const diff = a.sub(b).abs().amax().item();
      assert.ok(diff < 1e-4, `max diff ${diff}`);
    });
  });
});
