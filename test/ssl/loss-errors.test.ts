/**
 * Bad inputs to the losses and the monitor fail with errors that name the function, the shapes and what was
 * expected: fewer than 2 samples for VICReg's variance, mismatched shapes, rank != 2, integer embeddings,
 * bad coefficients.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';

function throwsWith(fn: () => unknown, pattern: RegExp): void {
  torch.tidy(() => {
    assert.throws(fn, (err: Error) => {
      assert.match(err.message, pattern);
      return true;
    });
  });
}

describe('loss argument checks', () => {
  it('vicregLoss: mismatched shapes name both', () => {
    throwsWith(
      () => ssl.vicregLoss(torch.randn([8, 512]), torch.randn([8, 256])),
      /^vicregLoss: z1 \[8,512\] and z2 \[8,256\] must have the same shape$/,
    );
    throwsWith(
      () => ssl.vicregLoss(torch.randn([8, 16]), torch.randn([6, 16])),
      /vicregLoss: z1 \[8,16\] and z2 \[6,16\] must have the same shape/,
    );
  });

  it('vicregLoss: one sample is not enough for the variance', () => {
    throwsWith(
      () => ssl.vicregLoss(torch.randn([1, 16]), torch.randn([1, 16])),
      /vicregLoss: .*at least 2 samples.*\[1,16\]/,
    );
  });

  it('vicregLoss: rank != 2 and integer embeddings', () => {
    throwsWith(
      () => ssl.vicregLoss(torch.randn([4, 8, 2]), torch.randn([4, 8, 2])),
      /vicregLoss: z1 must be a \[N,D\] matrix of embeddings, got rank 3 \[4,8,2\]/,
    );
    throwsWith(() => ssl.vicregLoss(torch.randn([16]), torch.randn([16])), /vicregLoss: z1 .*rank 1 \[16\]/);
    throwsWith(() => ssl.vicregLoss(torch.randn([4, 8]), torch.randn([4, 8, 1])), /vicregLoss: z2 .*rank 3/);
    throwsWith(
      () => ssl.vicregLoss(torch.ones([4, 8], { dtype: 'int64' }), torch.ones([4, 8], { dtype: 'int64' })),
      /vicregLoss: z1 \[4,8\] must be floating point, got int64/,
    );
  });

  it('vicregLoss: coefficients must be non-negative numbers', () => {
    throwsWith(
      () => ssl.vicregLoss(torch.randn([4, 8]), torch.randn([4, 8]), { covCoeff: -1 }),
      /vicregLoss: covCoeff must be a number in \[0, .*\], got -1/,
    );
    throwsWith(
      () => ssl.vicregLoss(torch.randn([4, 8]), torch.randn([4, 8]), { eps: Number.NaN }),
      /vicregLoss: eps .* got NaN/,
    );
  });

  it('byolLoss and simsiamLoss: mismatched predictions and targets', () => {
    const [a, b] = [() => torch.randn([4, 8]), () => torch.randn([4, 6])];
    throwsWith(() => ssl.byolLoss(a(), a(), a(), b()), /byolLoss: p1 \[4,8\] and t2 \[4,6\] must have the same shape/);
    throwsWith(() => ssl.byolLoss(a(), b(), b(), b()), /byolLoss: p1 \[4,8\] and t2 \[4,6\]/);
    throwsWith(() => ssl.byolLoss(a(), b(), b(), a()), /byolLoss: p1 \[4,8\] and p2 \[4,6\]/);
    throwsWith(() => ssl.simsiamLoss(a(), a(), torch.randn([4, 8, 1]), a()), /simsiamLoss: z1 .*rank 3/);
    throwsWith(
      () => ssl.simsiamLoss(a(), a(), a(), torch.randn([3, 8])),
      /simsiamLoss: p1 \[4,8\] and z2 \[3,8\] must have the same shape/,
    );
  });

  it('maskedReconstructionLoss: shapes of prediction, target and mask', () => {
    throwsWith(
      () =>
        ssl.maskedReconstructionLoss(
          torch.randn([2, 1, 4, 8, 8]),
          torch.randn([2, 1, 4, 8, 9]),
          torch.ones([2, 1, 4, 8, 8]),
        ),
      /maskedReconstructionLoss: pred \[2,1,4,8,8\] and target \[2,1,4,8,9\] must have the same shape/,
    );
    throwsWith(
      () =>
        ssl.maskedReconstructionLoss(
          torch.randn([2, 3, 4, 8, 8]),
          torch.randn([2, 3, 4, 8, 8]),
          torch.ones([2, 2, 4, 8, 8]),
        ),
      /maskedReconstructionLoss: mask \[2,2,4,8,8\] must be \[2,1,4,8,8\] or \[2,3,4,8,8\]/,
    );
  });

  it('randomBlockMask: input shape, block size and ratio', () => {
    throwsWith(() => ssl.randomBlockMask([2, 8, 8]), /randomBlockMask: expected an input shape \[N,C,D,H,W\]/);
    throwsWith(
      () => ssl.randomBlockMask([2, 1, 4, 8, 8], { ratio: 0 }),
      /randomBlockMask: ratio must be in \(0, 1\], got 0/,
    );
    throwsWith(
      () => ssl.randomBlockMask([2, 1, 4, 8, 8], { blockSize: [2, 0, 2] }),
      /randomBlockMask: blockSize .*\[2,0,2\]/,
    );
  });

  it('embeddingStd and collapseStatus', () => {
    throwsWith(() => ssl.embeddingStd(torch.randn([1, 8])), /embeddingStd: needs at least 2 embeddings .*\[1,8\]/);
    throwsWith(() => ssl.embeddingStd(torch.randn([8])), /embeddingStd: z must be a \[N,D\] matrix/);
    assert.throws(() => ssl.collapseStatus(0.1, 0), /collapseStatus: dim must be a positive integer, got 0/);
  });

  it('byolMomentum and afterOptimizerStep: progress outside [0, 1]', () => {
    assert.throws(() => ssl.byolMomentum(1.5), /byolMomentum: progress must be k\/K in \[0, 1\], got 1.5/);
    assert.throws(
      () => ssl.byolMomentum(0.5, 1.2),
      /byolMomentum: base momentum must be a number in \[0, 1\], got 1.2/,
    );
  });
});
