/**
 * Published-checkpoint loading and export, against PyTorch (test/fixtures/models_fixtures.py):
 * a Kinetics-format file (legacy format, {'epoch','arch','state_dict','optimizer'}, 'module.' keys, 3 channels,
 * a 7-class fc) loads into 1- and 2-channel headless encoders with conv1 summed / repeated-and-scaled, giving
 * PyTorch's features; a checkpoint of another architecture is refused with the mismatches and a description of
 * what it is; relaxed loading reports instead; exported .pth and .safetensors files load in PyTorch with strict=True
 * and reproduce inkwell's output.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  adaptConv1Weight,
  createEncoder,
  inferResNet3DArch,
  loadEncoderStateDict,
  loadEncoderWeights,
  ResNet3D,
} from '../../src/models/index.js';
import { runExport } from '../../src/cli/commands/export.js';
import * as torch from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON, runPython } from '../helpers/python.js';
import { assertRel, type Manifest, readManifest } from './helpers.js';

describe('Kinetics checkpoints and exports against PyTorch', {
  skip: hasTorchPython() ? false : NO_TORCH_REASON,
}, () => {
  let dir = '';
  let work = '';
  let manifest: Manifest;
  before(() => {
    dir = makeFixtures('models_fixtures.py');
    work = mkdtempSync(join(tmpdir(), 'inkwell-models-'));
    manifest = readManifest(dir);
  });
  after(() => {
    for (const d of [dir, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('a legacy Kinetics checkpoint (module. keys, 3 channels, fc) adapts to 1 channel by summing conv1, as PyTorch', async (t) => {
    const m = new ResNet3D({ ...manifest.kinetics.options, inChannels: 1, numClasses: null });
    try {
      const r = await loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth'));
      assert.deepEqual(r.adapted, { key: 'conv1.weight', from: 3, to: 1, method: 'sum' });
      assert.deepEqual(r.droppedKeys, ['fc.weight', 'fc.bias']);
      assert.deepEqual([r.missingKeys, r.unexpectedKeys, r.shapeMismatches], [[], [], []]);
      assert.equal(r.checkpointArch?.depth, 18);
      assert.equal(r.checkpointArch?.numClasses, 7);
      m.eval();
      let err = 0;
      torch.tidy(() =>
        torch.noGrad(() => {
          assertClose(
            m.conv1.weight,
            loadNpyTensor(join(dir, 'kinetics.conv1_sum.npy')),
            'conv1.weight.sum(1, keepdim=True)',
            { rtol: 1e-6, atol: 1e-7 },
          );
          err = assertRel(
            m.forward(loadNpyTensor(join(dir, 'kinetics.x1.npy'))),
            loadNpyTensor(join(dir, 'kinetics.pooled1.npy')),
            '1-channel features',
          );
        }),
      );
      t.diagnostic(`1-channel adapted features: relative error ${err.toExponential(1)}`);
    } finally {
      m.dispose();
    }
  });

  it('the same checkpoint adapts to 2 channels by repeating and scaling by 3/2 (timm adapt_input_conv), as PyTorch', async (t) => {
    const m = new ResNet3D({ ...manifest.kinetics.options, inChannels: 2, numClasses: null });
    try {
      const r = await loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth'));
      assert.equal(r.adapted?.method, 'repeat-scale');
      m.eval();
      let err = 0;
      torch.tidy(() =>
        torch.noGrad(() => {
          err = assertRel(
            m.forward(loadNpyTensor(join(dir, 'kinetics.x2.npy'))),
            loadNpyTensor(join(dir, 'kinetics.pooled2.npy')),
            '2-channel features',
          );
        }),
      );
      t.diagnostic(`2-channel adapted features: relative error ${err.toExponential(1)}`);
    } finally {
      m.dispose();
    }
  });

  it('a checkpoint of another architecture is refused (names, shapes, first mismatches, what it looks like); relaxed mode loads what fits', async () => {
    const m = createEncoder('resnet3d-50', { widenFactor: 0.25 });
    try {
      const before = torch.tidy(() => m.conv1.weight.clone().toFloat32Array());
      await assert.rejects(loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth')), (err: Error) => {
        assert.match(
          err.message,
          /loadEncoderWeights\(resnet3d-50 <- .*kinetics\.legacy\.pth\): the checkpoint does not fit this model/,
        );
        assert.match(err.message, /missing key\(s\) \(layer1\.0\.conv3\.weight, /);
        assert.match(
          err.message,
          /shape mismatch\(es\) \(layer1\.0\.conv1\.weight: expected \[16,16,1,1,1\], got \[16,16,3,3,3\]/,
        );
        assert.match(
          err.message,
          /the checkpoint looks like resnet3d-18 \(BasicBlock x \[2,2,2,2\], widen 0\.25, 3 input channel\(s\)/,
        );
        return true;
      });
      assert.deepEqual(
        torch.tidy(() => m.conv1.weight.toFloat32Array()),
        before,
        'nothing is copied when strict loading fails',
      );
      const r = await loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth'), { strict: false });
      assert.ok(r.missingKeys.length > 0 && r.shapeMismatches.length > 0 && r.loaded > 0);
      assert.deepEqual(r.adapted, { key: 'conv1.weight', from: 3, to: 1, method: 'sum' });
    } finally {
      m.dispose();
    }
  });

  it('a head of another class count: strict refuses, relaxed loads everything else and reports fc', async () => {
    const m = new ResNet3D({ ...manifest.kinetics.options, numClasses: 4 });
    try {
      await assert.rejects(
        loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth')),
        /shape mismatch\(es\) \(fc\.weight: expected \[4,128\], got \[7,128\]; fc\.bias/,
      );
      const r = await loadEncoderWeights(m, join(dir, 'kinetics.legacy.pth'), { strict: false });
      assert.deepEqual(
        r.shapeMismatches.map((s) => s.key),
        ['fc.weight', 'fc.bias'],
      );
      assert.equal(r.adapted, null);
    } finally {
      m.dispose();
    }
  });

  for (const ext of ['pth', 'safetensors'] as const) {
    it(`export to .${ext}: PyTorch loads the plain state dict with strict=True and reproduces inkwell's output`, async (t) => {
      const options = { depth: 50, widenFactor: 0.125, inChannels: 1, numClasses: 3 } as const;
      const out = join(work, `r3d50.${ext}`);
      const res = await runExport({
        arch: 'resnet3d-50',
        inChannels: 1,
        widenFactor: 0.125,
        numClasses: 3,
        seed: 5,
        out,
      });
      assert.equal(res.numClasses, 3);
      const xPath = join(work, 'x.npy');
      const yPath = join(work, `y.${ext}.npy`);
      torch.manualSeed(9);
      const x = torch.keep(torch.randn([2, 1, 10, 20, 20]));
      await torch.saveNpy(xPath, x);
      x.dispose();
      const report = JSON.parse(
        runPython('models_fixtures.py', ['--check-export', out, JSON.stringify(options), xPath, yPath]),
      ) as Record<string, unknown>;
      assert.equal(report['loaded'], true, `PyTorch refused the export: ${String(report['error'])}`);
      if (ext === 'pth') assert.equal(report['plain_state_dict'], true);
      const m = new ResNet3D(options);
      try {
        const r = await loadEncoderWeights(m, out);
        assert.deepEqual([r.missingKeys, r.unexpectedKeys, r.shapeMismatches, r.adapted], [[], [], [], null]);
        m.eval();
        let err = 0;
        torch.tidy(() =>
          torch.noGrad(() => {
            err = assertRel(m.forward(loadNpyTensor(xPath)), loadNpyTensor(yPath), `.${ext} export`);
          }),
        );
        t.diagnostic(`PyTorch on the exported .${ext} vs inkwell: relative error ${err.toExponential(1)}`);
      } finally {
        m.dispose();
      }
    });
  }
});

describe('checkpoint helpers without PyTorch', () => {
  it('adaptConv1Weight: sum for 1 channel, repeat + scale for more (a constant input keeps its response for whole multiples)', () => {
    torch.tidy(() => {
      torch.manualSeed(3);
      const w = torch.randn([4, 3, 3, 3, 3]);
      assertClose(adaptConv1Weight(w, 1), w.sum(1, true), 'sum');
      const w5 = adaptConv1Weight(w, 5);
      assert.deepEqual(w5.shape, [4, 5, 3, 3, 3]);
      assertClose(w5.slice(1, 0, 3), w.mul(3 / 5), 'first copy, scaled by in_old/in_new');
      assertClose(w5.slice(1, 3, 5), w.slice(1, 0, 2).mul(3 / 5), 'repeat order');
      // A constant input sees the sum over input channels: 6 = 2 x 3 channels scaled by 1/2 sum to the original.
      assertClose(adaptConv1Weight(w, 6).sum(1), w.sum(1), 'constant response', { rtol: 1e-5, atol: 1e-6 });
      assert.throws(() => adaptConv1Weight(w.sum(0), 1), /expected a Conv3d weight/);
    });
  });

  it('missing num_batches_tracked (pre-1.0 checkpoints) defaults to 0 as in PyTorch; a Lightning prefix is selected with prefix', () => {
    const src = new ResNet3D({ depth: 10, widenFactor: 0.125 });
    const dst = new ResNet3D({ depth: 10, widenFactor: 0.125 });
    try {
      torch.tidy(() => {
        const sd = new Map<string, torch.Tensor>();
        for (const [k, v] of src.stateDict()) if (!k.endsWith('num_batches_tracked')) sd.set(`backbone.${k}`, v);
        sd.set('projection_head.layers.0.weight', torch.zeros([2, 2]));
        const r = loadEncoderStateDict(dst, sd, { prefix: 'backbone.' });
        assert.equal(r.defaultedKeys.length, 12);
        assert.deepEqual(r.droppedKeys, ['projection_head.layers.0.weight']);
        assert.equal(inferResNet3DArch(src.stateDict())?.depth, 10);
        assertClose(
          dst.layer4.stateDict().get('0.conv2.weight')!,
          src.layer4.stateDict().get('0.conv2.weight')!,
          'loaded',
          { rtol: 0, atol: 0 },
        );
        assert.throws(() => loadEncoderStateDict(dst, sd, { prefix: 'model.' }), /no key starts with 'model\.'/);
      });
    } finally {
      src.dispose();
      dst.dispose();
    }
  });
});
