/**
 * ResNet3D against its PyTorch twin (test/fixtures/models_fixtures.py, written to kenshohara's models/resnet.py):
 * the same seed gives the same names, order and initial weights; with the same weights (randomised BatchNorm
 * statistics) every stage, the pooled features and the head agree within 1e-4 relative error for depths 10, 18
 * and 50, both shortcut types, conv1 temporal size/stride, no max pool, 2 input channels and the reference study's variant;
 * training mode agrees on outputs, gradients and running statistics.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResNet3D, STAGES } from '../../src/models/index.js';
import * as torch from '../../src/torch/index.js';
import { loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';
import { assertRel, assertSeededInit, type Manifest, readManifest } from './helpers.js';

describe('ResNet3D matches its PyTorch twin', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let dir = '';
  let manifest: Manifest;
  before(() => {
    dir = makeFixtures('models_fixtures.py');
    manifest = readManifest(dir);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('same seed and options: kenshohara parameter names in PyTorch order and bit-identical initial weights', async () => {
    for (const c of manifest.encoders) {
      torch.manualSeed(c.seed);
      const m = new ResNet3D({ ...c.options });
      try {
        await assertSeededInit(dir, c, m);
      } finally {
        m.dispose();
      }
    }
  });

  it('eval mode: stem, layer1..4, pooled features and forward agree (depths 10/18/50, shortcuts A/B, no max pool, reference-study variant)', async (t) => {
    const errors: string[] = [];
    for (const c of manifest.encoders) {
      const m = new ResNet3D({ ...c.options });
      try {
        const report = m.loadStateDict(await torch.readStateDict(join(dir, `${c.name}.pth`)));
        assert.deepEqual(report, { missingKeys: [], unexpectedKeys: [], shapeMismatches: [] });
        m.eval();
        torch.tidy(() =>
          torch.noGrad(() => {
            const x = loadNpyTensor(join(dir, `${c.name}.x.npy`));
            const feats = m.stageFeatures(x);
            let worst = 0;
            for (const s of STAGES)
              worst = Math.max(
                worst,
                assertRel(feats[s], loadNpyTensor(join(dir, `${c.name}.${s}.npy`)), `${c.name} ${s}`),
              );
            worst = Math.max(
              worst,
              assertRel(m.pooledFeatures(x), loadNpyTensor(join(dir, `${c.name}.pooled.npy`)), `${c.name} pooled`),
            );
            worst = Math.max(
              worst,
              assertRel(m.forward(x), loadNpyTensor(join(dir, `${c.name}.forward.npy`)), `${c.name} forward`),
            );
            const sizes = m.stageSizes(x.shape.slice(2));
            for (const s of STAGES) assert.deepEqual(feats[s].shape.slice(2), sizes[s], `${c.name}: stageSizes(${s})`);
            errors.push(`${c.name} ${worst.toExponential(1)}`);
          }),
        );
      } finally {
        m.dispose();
      }
    }
    t.diagnostic(`max relative error per case: ${errors.join(', ')}`);
  });

  it('training mode: batch-statistics forward, gradients (shortcut A passes them on) and running means agree', async (t) => {
    const c = manifest.encoders.find((e) => e.name === manifest.train.name)!;
    const m = new ResNet3D({ ...c.options });
    try {
      m.loadStateDict(await torch.readStateDict(join(dir, `${c.name}.pth`)));
      m.train();
      const errs: number[] = [];
      torch.tidy(() => {
        const x = loadNpyTensor(join(dir, `${c.name}.x.npy`));
        const y = m.forward(x);
        errs.push(assertRel(y, loadNpyTensor(join(dir, 'train.forward.npy')), 'train forward'));
        y.mul(loadNpyTensor(join(dir, 'train.g.npy')))
          .sum()
          .backward();
        const params = new Map(m.namedParameters());
        for (const k of ['conv1.weight', 'layer1.0.conv1.weight', 'layer4.1.conv2.weight', 'fc.weight']) {
          errs.push(
            assertRel(params.get(k)!.grad!, loadNpyTensor(join(dir, `train.grad.${k}.npy`)), `grad ${k}`, 1e-3),
          );
        }
        const rm = m.stateDict().get('layer2.0.bn1.running_mean')!;
        errs.push(assertRel(rm, loadNpyTensor(join(dir, 'train.layer2.0.bn1.running_mean.npy')), 'running mean'));
      });
      m.zeroGrad();
      t.diagnostic(
        `train-mode relative errors (forward, 4 grads, running mean): ${errs.map((e) => e.toExponential(1)).join(', ')}`,
      );
    } finally {
      m.dispose();
    }
  });
});

describe('ResNet3D without PyTorch', () => {
  it('forward, features and pooled features leave no tensors behind', () => {
    torch.manualSeed(1);
    const m = new ResNet3D({ depth: 18, widenFactor: 0.125 });
    try {
      const x = torch.keep(torch.randn([2, 1, 10, 24, 24]));
      const before = torch.memory().liveTensors;
      torch.tidy(() => {
        m.forward(x);
        m.stageFeatures(x);
        m.forwardFeatures(x, { upTo: 'layer2' });
        m.pooledFeatures(x);
      });
      torch.tidy(() => m.forward(x).sum().backward());
      m.zeroGrad();
      assert.equal(torch.memory().liveTensors, before);
      x.dispose();
    } finally {
      m.dispose();
    }
  });

  it('forwardFeatures(upTo) computes only the stages asked for', () => {
    const m = new ResNet3D({ depth: 10, widenFactor: 0.125 });
    try {
      torch.tidy(() => {
        const f = m.forwardFeatures(torch.randn([1, 1, 10, 20, 20]), { upTo: 'layer2' });
        assert.deepEqual(Object.keys(f), ['stem', 'layer1', 'layer2']);
        assert.deepEqual(f.layer2!.shape, [1, 16, 3, 3, 3]);
      });
    } finally {
      m.dispose();
    }
  });

  it('stage strides, channels and parameter counts follow the depth table (ResNet-50 seed: 47.2 M)', () => {
    const m = new ResNet3D({
      depth: 50,
      maxPool: 'reference',
      globalPool: 'max',
      inputNorm: 'instance',
      numClasses: 512,
    });
    try {
      assert.equal(m.parameterCount(), 47_204_160);
      assert.deepEqual(m.channels, { stem: 64, layer1: 256, layer2: 512, layer3: 1024, layer4: 2048 });
      assert.deepEqual(m.stageStrides().layer4, [8, 32, 32]);
      assert.deepEqual(m.stageSizes([20, 128, 128]).layer4, [3, 4, 4]);
    } finally {
      m.dispose();
    }
    const k = new ResNet3D({ depth: 18, noMaxPool: true });
    try {
      assert.deepEqual(k.stageStrides(), {
        stem: [1, 2, 2],
        layer1: [1, 2, 2],
        layer2: [2, 4, 4],
        layer3: [4, 8, 8],
        layer4: [8, 16, 16],
      });
      assert.deepEqual(k.minInputSize(), [5, 9, 9]);
    } finally {
      k.dispose();
    }
  });
});
