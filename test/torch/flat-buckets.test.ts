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
        assert.deepEqual(
          Array.from(nn.utils.parametersToVector(net.parameters()).toFloat32Array()),
          Array.from(doubled.toFloat32Array()),
        );
        assert.throws(
          () => nn.utils.vectorToParameters(torch.zeros([5]), net.parameters()),
          /expected a vector of 26 elements for 4 parameters, got \[5\]/,
        );
      });
    } finally {
      net.dispose();
    }
  });

  it("DDP's bucket assignment (c10d compute_bucket_assignment_by_size): capped, small first bucket, last layers first", {
    skip: torch.distributed.availableBackends().includes('gloo') ? false : 'addon built without c10d',
  }, () => {
    const net = new nn.Sequential(new nn.Linear(64, 64), new nn.Linear(64, 64), new nn.Linear(64, 8));
    try {
      const params = net.parameters();
      const bytes = (idx: number[]) => idx.reduce((n, i) => n + params[i]!.numel * 4, 0);
      const cap = 64 * 64 * 4 + 64 * 4; // one Linear(64,64) layer
      const buckets = torch.distributed.ddpBuckets(params, cap);
      assert.deepEqual(
        buckets.flat().sort((a, b) => a - b),
        params.map((_, i) => i),
        'every parameter in one bucket',
      );
      assert.ok(
        buckets.every((b) => bytes(b) <= cap || b.length === 1),
        JSON.stringify(buckets),
      );
      assert.ok(buckets[0]!.includes(params.length - 1), "the last layer's bucket is allreduced first");
      assert.deepEqual(
        torch.distributed.ddpBuckets(params).map((b) => b.length),
        [params.length],
        'all in one 25 MB bucket by default',
      );
      assert.throws(
        () => torch.distributed.ddpBuckets(params, 0),
        /ddpBuckets: bucket cap must be positive, got 0 bytes/,
      );
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
