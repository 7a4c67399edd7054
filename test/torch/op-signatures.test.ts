/**
 * The op-signature convention (docs/ops-conventions.md) where the parity table does not already pin it:
 * PyTorch's defaults for arguments that are optional there, keyword-only arguments in the options object with
 * PyTorch's defaults, and "all dimensions" spelled by leaving `dim` out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { F } from '../../src/torch/index.js';

const values = (t: torch.Tensor) => Array.from(t.float().toTypedArray() as Float32Array);

describe('op signatures follow PyTorch', () => {
  it('dropout defaults to p = 0.5 in training mode: survivors are scaled by 2', () => {
    torch.tidy(() => {
      torch.manualSeed(7);
      const out = values(F.dropout(torch.ones([4000])));
      assert.ok(
        out.every((v) => v === 0 || v === 2),
        'every element is dropped or scaled by 1/(1-p) = 2',
      );
      const kept = out.filter((v) => v === 2).length / out.length;
      assert.ok(Math.abs(kept - 0.5) < 0.05, `kept fraction ${kept}, expected about 0.5`);
      assert.deepEqual(values(F.dropout(torch.ones([8]), 0.5, false)), Array(8).fill(1));
    });
  });

  it('batchNorm defaults to inference with the running statistics', () => {
    torch.tidy(() => {
      const x = torch.arange(0, 12).reshape([3, 2, 2]).float();
      const rm = torch.full([2], 1);
      const rv = torch.full([2], 4);
      const out = F.batchNorm(x, rm, rv, { eps: 0 });
      assert.deepEqual(values(out), values(x.sub(1).div(2)));
      assert.deepEqual(values(rm), [1, 1], 'running mean untouched outside training');
    });
  });

  it('keyword-only arguments default as in PyTorch when the options object is left out', () => {
    torch.tidy(() => {
      const a = torch.full([3], 5);
      const b = torch.full([3], 2);
      assert.deepEqual(values(a.add(b)), values(a.add(b, { alpha: 1 })));
      assert.deepEqual(values(a.sub(b, { alpha: 2 })), [1, 1, 1]);
      assert.deepEqual(values(a.clone().addcdiv_(a, b, { value: -2 })), [0, 0, 0]);
      assert.deepEqual(values(F.mseLoss(a, b)), [9]);
      assert.deepEqual(values(F.mseLoss(a, b, { reduction: 'sum' })), [27]);
    });
  });

  it('roll without dims rolls the flattened tensor and takes exactly one shift', () => {
    torch.tidy(() => {
      const x = torch.arange(0, 6).reshape([2, 3]);
      assert.deepEqual(values(torch.roll(x, 1)), [5, 0, 1, 2, 3, 4]);
      assert.deepEqual(torch.roll(x, 1).shape, [2, 3]);
      assert.throws(() => torch.roll(x, [1, 2]), /roll: 2 shifts for the flattened tensor/);
      assert.throws(() => torch.roll(x, [1, 2], [0]), /roll: 2 shifts for 1 dims/);
    });
  });

  it('bernoulli(input, p) draws with one probability over the shape of input; p is checked', () => {
    torch.tidy(() => {
      assert.deepEqual(values(torch.bernoulli(torch.zeros([5]), 1)), [1, 1, 1, 1, 1]);
      assert.deepEqual(values(torch.bernoulli(torch.ones([5]))), [1, 1, 1, 1, 1]);
      assert.throws(() => torch.bernoulli(torch.zeros([5]), 1.5), /bernoulli: probability must be in \[0, 1\]/);
    });
  });

  it('leaving dim out reduces over every dimension, for every reduction', () => {
    torch.tidy(() => {
      const x = torch.tensor([
        [1, -4],
        [3, 2],
      ]);
      assert.deepEqual(
        [x.sum(), x.mean(), x.amax(), x.amin(), x.argmax(), x.argmin(), x.norm(1)].map((t) => t.item()),
        [2, 0.5, 3, -4, 2, 1, 10],
      );
      assert.equal(x.var(undefined, { correction: 0 }).item(), 7.25);
      assert.ok(Math.abs(x.std().item() - Math.sqrt(29 / 3)) < 1e-6, "std with Bessel's correction");
    });
  });
});
