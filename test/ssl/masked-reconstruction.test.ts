/**
 * Masked reconstruction: the random 3D block mask (shape, block structure, hidden fraction, seeded through
 * torch.manualSeed), a loss computed on hidden voxels only (wrong visible voxels with right hidden ones give
 * 0), the light decoder, and MaskedMethod's step with gradients reaching encoder and decoder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

function featureEncoder(): nn.Sequential {
  // A feature map at half resolution: [N,1,D,H,W] -> [N,6,D/2,H/2,W/2].
  return new nn.Sequential(new nn.Conv3d(1, 6, 3, { stride: 2, padding: 1 }), new nn.BatchNorm3d(6), new nn.ReLU());
}

describe('randomBlockMask', () => {
  it('hides whole blocks, round(ratio * blocks) per sample, as float32 [N,1,D,H,W]', () => {
    torch.tidy(() => {
      const mask = ssl.randomBlockMask([3, 2, 4, 8, 12], { blockSize: [2, 4, 4], ratio: 0.25 });
      assert.deepEqual(mask.shape, [3, 1, 4, 8, 12]);
      assert.equal(mask.dtype, 'float32');
      const v = mask.toArray() as number[][][][][];
      for (let n = 0; n < 3; n++) {
        let hiddenBlocks = 0;
        for (let bd = 0; bd < 2; bd++)
          for (let bh = 0; bh < 2; bh++)
            for (let bw = 0; bw < 3; bw++) {
              const first = v[n]![0]![bd * 2]![bh * 4]![bw * 4]!;
              for (let z = 0; z < 2; z++)
                for (let y = 0; y < 4; y++)
                  for (let x = 0; x < 4; x++) {
                    assert.equal(
                      v[n]![0]![bd * 2 + z]![bh * 4 + y]![bw * 4 + x],
                      first,
                      'a block is all hidden or all visible',
                    );
                  }
              hiddenBlocks += first;
            }
        assert.equal(hiddenBlocks, 3, `sample ${n}: round(0.25 * 12) blocks hidden`);
      }
    });
  });

  it('crops the border blocks and stays within bounds; ratio 1 hides everything', () => {
    torch.tidy(() => {
      const mask = ssl.randomBlockMask([2, 1, 5, 7, 9], { blockSize: 4, ratio: 0.5 });
      assert.deepEqual(mask.shape, [2, 1, 5, 7, 9]);
      const frac = mask.mean().item();
      assert.ok(frac > 0 && frac < 1, `hidden fraction ${frac}`);
      assert.equal(ssl.randomBlockMask([2, 1, 5, 7, 9], { blockSize: 4, ratio: 1 }).mean().item(), 1);
    });
  });

  it('is reproducible through torch.manualSeed and differs between samples and draws', () => {
    torch.tidy(() => {
      torch.manualSeed(5);
      const a = ssl.randomBlockMask([4, 1, 8, 16, 16], { blockSize: [2, 4, 4] });
      const b = ssl.randomBlockMask([4, 1, 8, 16, 16], { blockSize: [2, 4, 4] });
      torch.manualSeed(5);
      const c = ssl.randomBlockMask([4, 1, 8, 16, 16], { blockSize: [2, 4, 4] });
      assert.equal(a.sub(c).abs().sum().item(), 0, 'same seed, same mask');
      assert.ok(a.sub(b).abs().sum().item() > 0, 'the next draw differs');
      assert.ok(a.select(0, 0).sub(a.select(0, 1)).abs().sum().item() > 0, 'samples get their own mask');
      assert.equal(a.mean().item(), 0.5, 'default ratio 0.5 of 128 blocks per sample');
    });
  });
});

describe('maskedReconstructionLoss', () => {
  it('is 0 when the hidden voxels are right, however wrong the visible ones are', () => {
    torch.tidy(() => {
      torch.manualSeed(6);
      const target = torch.randn([2, 3, 4, 8, 8]);
      const mask = ssl.randomBlockMask(target.shape, { blockSize: 2, ratio: 0.4 });
      // Visible voxels off by 100, hidden ones exact.
      const pred = target.add(mask.neg().add(1).mul(100));
      assert.equal(ssl.maskedReconstructionLoss(pred, target, mask).item(), 0);
      // And the converse: an error on hidden voxels counts in full, averaged over hidden voxels x channels.
      const pred2 = target.add(mask.mul(3));
      assert.ok(Math.abs(ssl.maskedReconstructionLoss(pred2, target, mask).item() - 9) < 1e-5);
      // A per-channel (bool) mask works the same way.
      const full = mask.expand([2, 3, 4, 8, 8]).gt(0.5);
      assert.ok(Math.abs(ssl.maskedReconstructionLoss(pred2, target, full).item() - 9) < 1e-5);
      assert.equal(
        ssl.maskedReconstructionLoss(pred, target, torch.zerosLike(mask)).item(),
        0,
        'nothing hidden: 0, not NaN',
      );
    });
  });

  it('sends gradients to the hidden voxels only and none to the target', () => {
    torch.tidy(() => {
      const target = torch.randn([1, 1, 2, 4, 4]).requiresGrad_(true);
      const pred = torch.randn([1, 1, 2, 4, 4]).requiresGrad_(true);
      const mask = ssl.randomBlockMask(pred.shape, { blockSize: 2, ratio: 0.5 });
      ssl.maskedReconstructionLoss(pred, target, mask).backward();
      assert.equal(pred.grad!.mul(mask.neg().add(1)).abs().sum().item(), 0, 'no gradient on visible voxels');
      assert.ok(pred.grad!.mul(mask).abs().sum().item() > 0);
      assert.equal(target.grad, null);
    });
  });
});

describe('MaskedMethod', () => {
  it('step: masked views through encoder and LightDecoder3d, a scalar loss, gradients on both networks', () => {
    torch.manualSeed(7);
    const method = ssl.createMethod('masked', {
      encoder: featureEncoder,
      featureDim: 6,
      masked: { mask: { blockSize: [2, 4, 4], ratio: 0.5 } },
    });
    try {
      torch.tidy(() => {
        const v1 = torch.randn([2, 1, 4, 8, 8]);
        const out = method.step(v1, torch.randn([2, 1, 4, 8, 8]));
        assert.deepEqual(out.loss.shape, []);
        assert.deepEqual(Object.keys(out.terms).sort(), ['hiddenFraction', 'reconstruction', 'view1', 'view2']);
        assert.equal(out.terms['hiddenFraction']!.item(), 0.5);
        const mean = (out.terms['view1']!.item() + out.terms['view2']!.item()) / 2;
        assert.ok(Math.abs(out.loss.item() - mean) < 1e-6, 'the loss averages the two views');
        assert.deepEqual(out.embeddings.shape, [2, 6]);
        out.loss.backward();
        for (const name of ['encoder', 'decoder']) {
          assert.ok(
            method.modules
              .get(name)
              .parameters()
              .every((p) => p.grad !== null),
            `${name} gets gradients`,
          );
        }
        assert.deepEqual(method.modules.names(), ['encoder', 'decoder']);
        assert.deepEqual(method.stateDict().size, 0);
      });
    } finally {
      method.dispose();
    }
  });

  it('LightDecoder3d upsamples a feature map to the input size; a pooling encoder needs featureMap', () => {
    const dec = new ssl.LightDecoder3d(6, { hidden: 4, outChannels: 2 });
    try {
      torch.tidy(() => {
        const y = dec.forward(torch.randn([2, 6, 2, 3, 3]), torch.randn([2, 2, 5, 12, 11]));
        assert.deepEqual(y.shape, [2, 2, 5, 12, 11]);
        assert.throws(
          () => dec.forward(torch.randn([2, 5, 2, 3, 3]), torch.randn([2, 2, 5, 12, 11])),
          /LightDecoder3d: features must be \[N,6,d,h,w\], got \[2,5,2,3,3\]/,
        );
      });
    } finally {
      dec.dispose();
    }
    const pooled = () =>
      new nn.Sequential(new nn.Conv3d(1, 6, 3, { padding: 1 }), new nn.AdaptiveAvgPool3d(1), new nn.Flatten());
    const bad = ssl.createMethod('masked', { encoder: pooled, featureDim: 6 });
    try {
      torch.tidy(() => {
        const v = torch.randn([2, 1, 4, 16, 16]);
        assert.throws(
          () => bad.step(v, v),
          /MaskedMethod: the encoder must give a feature map \[N,C,d,h,w\] .*got \[2,6\] \(pass featureMap/,
        );
      });
    } finally {
      bad.dispose();
    }
    // The same pooling encoder works when featureMap stops before the pooling.
    const ok = ssl.createMethod('masked', {
      encoder: pooled,
      featureDim: 6,
      masked: {
        featureMap: (enc, x) => (enc as nn.Sequential).layers[0]!.forward(x),
        views: 'first',
        mask: { blockSize: [2, 8, 8] },
      },
    });
    try {
      torch.tidy(() => {
        const v = torch.randn([2, 1, 4, 16, 16]);
        const out = ok.step(v, v);
        assert.deepEqual(Object.keys(out.terms).sort(), ['hiddenFraction', 'reconstruction', 'view1']);
      });
    } finally {
      ok.dispose();
    }
  });
});
