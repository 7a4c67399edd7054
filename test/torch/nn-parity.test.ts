/**
 * nn modules against PyTorch: the same net built after the same seed has the same state-dict names (in
 * order) and initial values; forward in training and eval mode, parameter gradients and batch-norm running
 * statistics agree (test/fixtures/module_fixtures.py).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

function buildNet(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv3d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm3d(4),
    new nn.ReLU(),
    new nn.MaxPool3d([1, 3, 3], { stride: [1, 2, 2], padding: [0, 1, 1] }),
    new nn.Conv3d(4, 8, 3, { stride: [1, 2, 2], padding: 1, bias: false }),
    new nn.GroupNorm(2, 8),
    new nn.GELU(),
    new nn.ConvTranspose3d(8, 4, 2, { stride: 2 }),
    new nn.InstanceNorm3d(4, { affine: true }),
    new nn.AdaptiveAvgPool3d(1),
    new nn.Flatten(),
    new nn.Linear(4, 6),
    new nn.BatchNorm1d(6),
    new nn.Linear(6, 3),
  );
}

describe('nn modules match PyTorch', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let dir = '';
  let manifest: { keys: string[]; params: string[] } = { keys: [], params: [] };
  before(() => {
    dir = makeFixtures('module_fixtures.py');
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as typeof manifest;
  });

  it('same seed: same state-dict names in the same order and the same initial values', () => {
    torch.manualSeed(7);
    const net = buildNet();
    try {
      const sd = net.stateDict();
      assert.deepEqual([...sd.keys()], manifest.keys);
      assert.deepEqual(
        Array.from(net.namedParameters(), ([k]) => k),
        manifest.params,
      );
      torch.tidy(() => {
        for (const [k, v] of sd)
          assertClose(v, loadNpyTensor(join(dir, `init.${k}.npy`)), `init ${k}`, { rtol: 0, atol: 0 });
      });
    } finally {
      net.dispose();
    }
  });

  it('forward (train and eval), parameter gradients and running statistics agree', () => {
    torch.manualSeed(7);
    const net = buildNet();
    try {
      torch.tidy(() => {
        const x = loadNpyTensor(join(dir, 'x.npy'));
        net.train();
        const y = net.forward(x);
        assertClose(y, loadNpyTensor(join(dir, 'y_train.npy')), 'train-mode output', { rtol: 1e-4, atol: 1e-5 });
        y.mul(loadNpyTensor(join(dir, 'gout.npy')))
          .sum()
          .backward();
        // atol 2e-4: the closing BatchNorm1d normalises over a batch of 3, which amplifies the float32
        // differences that come from PyTorch's 1 thread vs our 2 (reduction order) in the last layer's grads.
        for (const [k, p] of net.namedParameters()) {
          assertClose(p.grad!, loadNpyTensor(join(dir, `grad.${k}.npy`)), `grad ${k}`, { rtol: 1e-3, atol: 2e-4 });
        }
        for (const [k, b] of net.namedBuffers()) {
          assertClose(b, loadNpyTensor(join(dir, `after.${k}.npy`)), `buffer ${k} after a training forward`, {
            rtol: 1e-5,
            atol: 1e-6,
          });
        }
        net.eval();
        const ye = torch.noGrad(() => net.forward(x));
        assertClose(ye, loadNpyTensor(join(dir, 'y_eval.npy')), 'eval-mode output', { rtol: 1e-4, atol: 1e-5 });
      });
    } finally {
      net.dispose();
    }
  });

  it('a state dict saved by PyTorch loads strictly and reproduces its values', () => {
    torch.manualSeed(123); // different weights than the fixture's
    const net = buildNet();
    try {
      torch.tidy(() => {
        const sd = new Map(manifest.keys.map((k) => [k, loadNpyTensor(join(dir, `init.${k}.npy`))]));
        const report = net.loadStateDict(sd);
        assert.deepEqual(report, { missingKeys: [], unexpectedKeys: [], shapeMismatches: [] });
        for (const [k, v] of net.stateDict()) assertClose(v, sd.get(k)!, `loaded ${k}`, { rtol: 0, atol: 0 });
      });
    } finally {
      net.dispose();
    }
  });
});

describe('loadStateDict reports', () => {
  it('names missing, unexpected and mis-shaped keys, throws when strict, loads the rest otherwise', () => {
    const lin = new nn.Linear(3, 2);
    try {
      torch.tidy(() => {
        const bad = new Map<string, torch.Tensor>([
          ['weight', torch.ones([2, 4])],
          ['extra', torch.zeros([1])],
        ]);
        assert.throws(
          () => lin.loadStateDict(bad),
          /1 missing key\(s\) \(bias\); 1 unexpected key\(s\) \(extra\); 1 shape mismatch\(es\) \(weight: expected \[2,3\], got \[2,4\]\)/,
        );
        const good = new Map<string, torch.Tensor>([
          ['weight', torch.ones([2, 3])],
          ['extra', torch.zeros([1])],
        ]);
        const r = lin.loadStateDict(good, { strict: false });
        assert.deepEqual(r.missingKeys, ['bias']);
        assert.deepEqual(r.unexpectedKeys, ['extra']);
        assert.deepEqual(Array.from(lin.weight.toFloat32Array()), [1, 1, 1, 1, 1, 1]);
      });
    } finally {
      lin.dispose();
    }
  });

  it('freezing a subtree turns off requiresGrad of its parameters only', () => {
    const net = new nn.Sequential(new nn.Linear(2, 2), new nn.Linear(2, 1));
    try {
      net.layers[0]!.requiresGrad_(false);
      assert.deepEqual(
        Array.from(net.namedParameters(), ([k, p]) => `${k}:${p.requiresGrad}`),
        ['0.weight:false', '0.bias:false', '1.weight:true', '1.bias:true'],
      );
    } finally {
      net.dispose();
    }
  });
});
