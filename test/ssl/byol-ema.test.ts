/**
 * BYOL's target network: the cosine momentum schedule 0.996 -> 1 (values against the fixture script), one
 * EMA update of a small net against PyTorch, and BYOLMethod's target (a frozen copy of the online encoder
 * and projector made through the factory, moved by afterOptimizerStep, saved and restored via stateDict).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { ProjectionHead } from '../../src/models/heads.js';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

function smallNet(): nn.Sequential {
  return new nn.Sequential(new nn.Linear(6, 5), new nn.BatchNorm1d(5), new nn.ReLU(), new nn.Linear(5, 4));
}

function tinyEncoder(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv3d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm3d(4),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool3d(1),
    new nn.Flatten(),
  );
}

function byol(): ssl.BYOLMethod {
  return ssl.createMethod('byol', {
    encoder: tinyEncoder,
    featureDim: 4,
    projector: [8, 6],
    predictorHidden: [8],
  }) as ssl.BYOLMethod;
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.sub(b).abs().amax().item());
}

describe('BYOL momentum schedule and EMA update vs PyTorch', {
  skip: hasTorchPython() ? false : NO_TORCH_REASON,
}, () => {
  it('cosine schedule tau_k = 1 - (1 - 0.996)(cos(pi k/K) + 1)/2 for K = 10; one EMA update of a net', (t: TestContext) => {
    const dir = makeFixtures('ssl_fixtures.py');
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      momentum: number[];
      ema_momentum: number;
      ema_params: string[];
      ema_keys: string[];
    };
    m.momentum.forEach((expected, k) =>
      assert.ok(
        Math.abs(ssl.byolMomentum(k / 10) - expected) < 1e-15,
        `k=${k}: ${ssl.byolMomentum(k / 10)} vs ${expected}`,
      ),
    );
    assert.equal(ssl.byolMomentum(0), 0.996);
    assert.equal(ssl.byolMomentum(1), 1);

    const online = smallNet();
    const target = smallNet();
    try {
      const load = (prefix: string) =>
        new Map(m.ema_keys.map((k) => [k, torch.loadNpy(join(dir, `${prefix}.${k}.npy`))]));
      online.loadStateDict(load('ema_online'));
      target.loadStateDict(load('ema_target'));
      const runningBefore = torch.tidy(() => torch.keep(target.stateDict().get('1.running_mean')!.clone()));
      ssl.emaUpdate_(target, online, ssl.byolMomentum(0.3));
      assert.equal(ssl.byolMomentum(0.3), m.ema_momentum);
      let worst = 0;
      torch.tidy(() => {
        const params = new Map(target.namedParameters());
        assert.deepEqual([...params.keys()], m.ema_params);
        for (const k of m.ema_params)
          worst = Math.max(
            worst,
            assertClose(params.get(k)!, loadNpyTensor(join(dir, `ema_after.${k}.npy`)), `EMA ${k}`, {
              rtol: 1e-6,
              atol: 1e-7,
            }),
          );
        assert.equal(
          maxAbsDiff(target.stateDict().get('1.running_mean')!, runningBefore),
          0,
          'buffers are not averaged',
        );
      });
      runningBefore.dispose();
      t.diagnostic(`EMA update: max abs diff vs PyTorch ${worst.toExponential(2)}`);
    } finally {
      online.dispose();
      target.dispose();
    }
  });
});

describe('BYOLMethod target network', () => {
  it('starts as a frozen copy of the online encoder and projector, built by the factory', () => {
    torch.manualSeed(1);
    const method = byol();
    try {
      const online = new Map([...method.modules.get('encoder').stateDict()].map(([k, v]) => [`encoder.${k}`, v]));
      for (const [k, v] of method.modules.get('projector').stateDict()) online.set(`projector.${k}`, v);
      const target = method.target.stateDict();
      assert.deepEqual([...target.keys()], [...online.keys()]);
      for (const [k, v] of target) {
        assert.equal(maxAbsDiff(v.to('float32'), online.get(k)!.to('float32')), 0, k);
        assert.ok(!v.isAliasOf(online.get(k)!), `${k} must be a copy, not shared storage`);
      }
      assert.ok(
        method.target.parameters().every((p) => !p.requiresGrad),
        'target parameters require no grad',
      );
      assert.ok(method.modules.parameters().every((p) => p.requiresGrad));
    } finally {
      method.dispose();
    }
  });

  it('step leaves the target without gradients; afterOptimizerStep moves it by the scheduled momentum', () => {
    torch.manualSeed(2);
    const method = byol();
    try {
      torch.tidy(() => {
        const v1 = torch.randn([4, 1, 4, 6, 6]);
        const v2 = torch.randn([4, 1, 4, 6, 6]);
        const out = method.step(v1, v2);
        assert.deepEqual(out.loss.shape, []);
        assert.deepEqual(Object.keys(out.terms).sort(), ['view1', 'view2']);
        assert.deepEqual(out.embeddings.shape, [4, 6]);
        assert.ok(!out.embeddings.requiresGrad);
        const loss = out.loss.item();
        assert.ok(loss >= 0 && loss <= 8, `BYOL loss ${loss} in [0, 8]`);
        out.loss.backward();
        assert.ok(
          method.target.parameters().every((p) => p.grad === null),
          'no gradient reaches the target',
        );
        assert.ok(
          method.modules
            .get('predictor')
            .parameters()
            .every((p) => p.grad !== null),
          'the predictor is trained',
        );
        // A fake optimiser step on the online encoder, then the EMA with progress 0.5.
        torch.noGrad(() => {
          for (const p of method.modules.parameters()) p.add_(0.1);
        });
        const onlineW = method.modules.get('encoder').stateDict().get('0.weight')!;
        const targetW = method.target.stateDict().get('encoder.0.weight')!;
        const before = targetW.clone();
        method.afterOptimizerStep(0.5);
        const tau = 1 - (1 - 0.996) / 2;
        assert.equal(method.momentum, tau);
        const expected = before.mul(tau).add(onlineW.mul(1 - tau));
        assert.ok(maxAbsDiff(targetW, expected) < 1e-7);
        assert.ok(maxAbsDiff(targetW, before) > 1e-5, 'the target moved');
      });
    } finally {
      method.dispose();
    }
  });

  it('stateDict holds the target under target.*; loadStateDict restores it', () => {
    torch.manualSeed(3);
    const a = byol();
    torch.manualSeed(4);
    const b = byol();
    try {
      const sd = a.stateDict();
      assert.ok([...sd.keys()].every((k) => k.startsWith('target.encoder.') || k.startsWith('target.projector.')));
      assert.ok(sd.has('target.encoder.0.weight') && sd.has('target.projector.layers.0.weight'));
      b.loadStateDict(sd);
      torch.tidy(() => {
        for (const [k, v] of b.stateDict()) assert.equal(maxAbsDiff(v.to('float32'), sd.get(k)!.to('float32')), 0, k);
      });
      assert.throws(
        () => b.loadStateDict(new Map([['encoder.0.weight', sd.get('target.encoder.0.weight')!]])),
        /BYOLMethod.loadStateDict: expected keys starting with 'target.'/,
      );
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('a factory that returns the online networks or another architecture is refused', () => {
    const encoder = tinyEncoder();
    const projector = new ProjectionHead([4, 8, 6]);
    const predictor = new ProjectionHead([6, 8, 6]);
    try {
      assert.throws(
        () => new ssl.BYOLMethod({ encoder, projector, predictor, makeTarget: () => ({ encoder, projector }) }),
        /makeTarget must build new networks/,
      );
      assert.throws(
        () =>
          new ssl.BYOLMethod({
            encoder,
            projector,
            predictor,
            makeTarget: () => ({ encoder: tinyEncoder(), projector: new ProjectionHead([4, 9, 6]) }),
          }),
        /BYOLMethod: makeTarget must build the same architecture.*shape mismatch/,
      );
    } finally {
      for (const m of [encoder, projector, predictor]) m.dispose();
    }
  });
});
