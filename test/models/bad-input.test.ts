/**
 * Clear errors for what users get wrong: unknown architectures (listing the known ones), inputs of the wrong
 * rank, channel count or dtype, inputs too small for the network's depth (with the minimum size), option values
 * out of range, decoders given the wrong feature maps, and state dicts of another architecture.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createEncoder,
  createSegmentationModel,
  ENCODER_ARCHS,
  loadEncoderStateDict,
  ProbeDecoder,
  ResNet3D,
  SegmentationModel,
  UNetDecoder,
} from '../../src/models/index.js';
import * as torch from '../../src/torch/index.js';

describe('model bad inputs', () => {
  it('an unknown architecture names the known ones', () => {
    assert.equal(ENCODER_ARCHS.length, 14);
    assert.throws(
      () => createEncoder('resnet3d-51'),
      /createEncoder: unknown architecture 'resnet3d-51'; known: resnet3d-10, resnet3d-10-reference, .*resnet3d-200-reference$/,
    );
    assert.throws(() => createEncoder('r3d50'), /unknown architecture 'r3d50'/);
    assert.throws(() => createSegmentationModel('unet', {}), /unknown architecture 'unet'/);
  });

  it('option values out of range are refused at construction', () => {
    assert.throws(
      () => new ResNet3D({ depth: 51 as 50 }),
      /depth must be one of 10, 18, 34, 50, 101, 152, 200, got 51/,
    );
    assert.throws(
      () => createEncoder('resnet3d-10', { widenFactor: 0.001 }),
      /widenFactor 0\.001 leaves stage widths \[0,0,0,0\]/,
    );
    assert.throws(
      () => createEncoder('resnet3d-10', { inChannels: 0 }),
      /inChannels must be a positive integer, got 0/,
    );
    assert.throws(() => createEncoder('resnet3d-10', { shortcut: 'C' as 'A' }), /shortcut must be 'A' or 'B', got 'C'/);
    assert.throws(
      () => createEncoder('resnet3d-10', { numClasses: 2.5 }),
      /numClasses must be a positive integer or null/,
    );
    assert.throws(
      () => createSegmentationModel('resnet3d-10', { decoder: 'fpn' as 'unet' }),
      /decoder must be 'unet' or 'probe', got 'fpn'/,
    );
  });

  it('inputs of the wrong rank, channels or dtype, and inputs too small for the depth, say what was expected', () => {
    const m = createEncoder('resnet3d-18', { widenFactor: 0.125 });
    const variant = createEncoder('resnet3d-18-reference', { widenFactor: 0.125 });
    const nomp = createEncoder('resnet3d-18', { widenFactor: 0.125, noMaxPool: true });
    try {
      torch.tidy(() => {
        assert.throws(
          () => m.forward(torch.zeros([2, 16, 64, 64])),
          /resnet3d-18\.forward: input must be rank 5 \[N,1,D,H,W\], got rank 4 \[2,16,64,64\] \(add the channel axis: x\.unsqueeze\(1\)\)/,
        );
        assert.throws(
          () => m.forward(torch.zeros([2, 3, 16, 64, 64])),
          /input \[2,3,16,64,64\] has 3 channels, this network takes 1 \(inChannels\)/,
        );
        assert.throws(
          () => m.forward(torch.zeros([2, 1, 16, 64, 64], { dtype: 'uint8' })),
          /input must be floating point, got uint8/,
        );
        assert.throws(
          () => m.stageFeatures(torch.zeros([2, 1, 8, 64, 64])),
          /resnet3d-18\.forwardFeatures: input \[2,1,8,64,64\] is too small for this network: D,H,W = 8,64,64, minimum 9,17,17 \(total stride D,H,W = 16,32,32/,
        );
        assert.throws(() => m.pooledFeatures(torch.zeros([1, 1, 16, 16, 64])), /minimum 9,17,17/);
        // The reference study's max pool keeps depth, so the reference-study variant takes shallower inputs; no max pool, smaller tiles.
        assert.deepEqual(variant.minInputSize(), [5, 17, 17]);
        assert.deepEqual(nomp.minInputSize(), [5, 9, 9]);
        assert.deepEqual(variant.forward(torch.zeros([2, 1, 5, 17, 17])).shape, [2, 512]);
        assert.throws(() => variant.forward(torch.zeros([2, 1, 4, 17, 17])), /minimum 5,17,17/);
      });
    } finally {
      m.dispose();
      variant.dispose();
      nomp.dispose();
    }
  });

  it('segmentation: rank-4 input only for one-channel encoders; decoders check their feature maps and widths', () => {
    const seg = createSegmentationModel('resnet3d-10', { widenFactor: 0.125, inChannels: 2 });
    const enc = createEncoder('resnet3d-10', { widenFactor: 0.125 });
    const dec = new UNetDecoder([8, 16, 32, 64]);
    try {
      torch.tidy(() => {
        assert.throws(
          () => seg.forward(torch.zeros([2, 16, 32, 32])),
          /input must be rank 5 \[N,2,D,H,W\], got rank 4/,
        );
        assert.throws(
          () => dec.decode([torch.zeros([1, 8, 8, 8]), torch.zeros([1, 16, 4, 4])], [32, 32]),
          /expected 4 feature maps \(one per stage\), got 2/,
        );
        assert.throws(
          () =>
            dec.decode(
              [
                torch.zeros([1, 8, 2, 8, 8]),
                torch.zeros([1, 16, 4, 4]),
                torch.zeros([1, 32, 2, 2]),
                torch.zeros([1, 64, 1, 1]),
              ],
              [32, 32],
            ),
          /feature map 0 must be \[N,8,H,W\] \(depth already pooled\), got \[1,8,2,8,8\]/,
        );
      });
      assert.throws(
        () => new SegmentationModel(enc, new ProbeDecoder([8, 16, 32, 128])),
        /the decoder expects 128 channels from layer4, resnet3d-10 gives 64/,
      );
      assert.throws(() => new UNetDecoder([8]), /needs at least 2 stages/);
    } finally {
      seg.dispose();
      enc.dispose();
      dec.dispose();
    }
  });

  it('a state dict that is not a 3D ResNet at all is refused as such', () => {
    const m = createEncoder('resnet3d-10', { widenFactor: 0.125 });
    try {
      torch.tidy(() => {
        const sd = new Map([
          ['0.weight', torch.zeros([4, 4])],
          ['0.bias', torch.zeros([4])],
        ]);
        assert.throws(
          () => loadEncoderStateDict(m, sd),
          /does not fit this model: .*missing key\(s\) \(conv1\.weight, .*2 unexpected key\(s\) \(0\.weight, 0\.bias\); the checkpoint is not a 3D ResNet state dict/,
        );
      });
    } finally {
      m.dispose();
    }
  });
});
