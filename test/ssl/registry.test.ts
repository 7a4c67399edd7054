/**
 * The method registry: the four names, building each method with its default heads from an encoder factory,
 * one uniform step / afterOptimizerStep / stateDict cycle on every method, and errors for unknown names and
 * bad options.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProjectionHead } from '../../src/models/heads.js';
import * as ssl from '../../src/ssl/index.js';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

const pooledEncoder = (): nn.Module =>
  new nn.Sequential(
    new nn.Conv3d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm3d(4),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool3d(1),
    new nn.Flatten(),
  );
const mapEncoder = (): nn.Module =>
  new nn.Sequential(new nn.Conv3d(1, 4, 3, { stride: 2, padding: 1 }), new nn.BatchNorm3d(4), new nn.ReLU());

describe('ssl registry', () => {
  it('maps the four method names to implementations', () => {
    assert.deepEqual(ssl.sslMethodNames(), ['vicreg', 'byol', 'simsiam', 'masked']);
    for (const name of ssl.sslMethodNames()) {
      const e = ssl.methodEntry(name);
      assert.equal(e.name, name);
      assert.ok(e.summary.length > 10 && e.source.length > 10);
    }
    assert.equal(ssl.isSslMethodName('byol'), true);
    assert.equal(ssl.isSslMethodName('toString'), false);
    assert.throws(
      () => ssl.createMethod('simclr', { encoder: pooledEncoder, featureDim: 4 }),
      /ssl: unknown method 'simclr' \(known: vicreg, byol, simsiam, masked\)/,
    );
  });

  it('builds every method with its default heads and drives them through the same interface', () => {
    const expected: Record<ssl.SslMethodName, { modules: string[]; terms: string[]; dim: number; classOf: unknown }> = {
      vicreg: {
        modules: ['encoder', 'projector'],
        terms: ['covariance', 'invariance', 'variance'],
        dim: 512,
        classOf: ssl.VICRegMethod,
      },
      byol: {
        modules: ['encoder', 'projector', 'predictor'],
        terms: ['view1', 'view2'],
        dim: 256,
        classOf: ssl.BYOLMethod,
      },
      simsiam: {
        modules: ['encoder', 'projector', 'predictor'],
        terms: ['view1', 'view2'],
        dim: 512,
        classOf: ssl.SimSiamMethod,
      },
      masked: {
        modules: ['encoder', 'decoder'],
        terms: ['hiddenFraction', 'reconstruction', 'view1', 'view2'],
        dim: 4,
        classOf: ssl.MaskedMethod,
      },
    };
    for (const name of ssl.sslMethodNames()) {
      torch.manualSeed(9);
      const method = ssl.createMethod(name, {
        encoder: name === 'masked' ? mapEncoder : pooledEncoder,
        featureDim: 4,
        masked: { mask: { blockSize: [2, 4, 4] } },
      });
      const want = expected[name];
      try {
        assert.equal(method.name, name);
        assert.ok(method instanceof (want.classOf as new (...a: never[]) => ssl.SslMethod));
        assert.deepEqual(method.modules.names(), want.modules);
        assert.ok(
          [...method.modules.stateDict().keys()].some((k) => k.startsWith('encoder.0.')),
          `${name}: keys under encoder.*`,
        );
        method.train();
        torch.tidy(() => {
          const out = method.step(torch.randn([4, 1, 4, 8, 8]), torch.randn([4, 1, 4, 8, 8]));
          assert.deepEqual(out.loss.shape, [], name);
          assert.ok(Number.isFinite(out.loss.item()), name);
          assert.deepEqual(Object.keys(out.terms).sort(), want.terms, name);
          for (const v of Object.values(out.terms))
            assert.ok(v.numel === 1 && !v.requiresGrad, `${name}: terms are detached scalars`);
          assert.deepEqual(out.embeddings.shape, [4, want.dim], name);
          out.loss.backward();
        });
        method.afterOptimizerStep(0.5);
        const extra = method.stateDict();
        assert.equal(extra.size > 0, name === 'byol', `${name}: only BYOL has state outside its modules`);
        method.loadStateDict(extra);
        if (name !== 'byol')
          assert.throws(
            () => method.loadStateDict({ 'x.weight': torch.ones([1]) }),
            /loadStateDict: this method keeps no state outside its modules/,
          );
        assert.throws(
          () => method.afterOptimizerStep(2),
          /afterOptimizerStep: progress must be k\/K in \[0, 1\], got 2/,
        );
        method.train(false);
        assert.equal(method.modules.get('encoder').training, false);
      } finally {
        method.dispose();
      }
    }
  });

  it('head widths, loss options and method options reach the built method', () => {
    const v = ssl.createMethod('vicreg', {
      encoder: pooledEncoder,
      featureDim: 4,
      projector: [8, 6],
      projectorBias: { hiddenBias: true, lastBias: false },
      vicreg: { covCoeff: 5 },
    }) as ssl.VICRegMethod;
    try {
      assert.deepEqual((v.modules.get('projector') as ProjectionHead).dims, [4, 8, 6]);
      const keys = v.modules.get('projector').stateDict();
      assert.ok(
        keys.has('layers.0.bias') && !keys.has('layers.3.bias'),
        'VICReg expander: hidden bias, last Linear without',
      );
      assert.deepEqual(v.lossOptions, { ...ssl.VICREG_REFERENCE });
    } finally {
      v.dispose();
    }
    const b = ssl.createMethod('byol', {
      encoder: pooledEncoder,
      featureDim: 4,
      projector: [8, 6],
      predictorHidden: [5],
      byol: { baseMomentum: 0.99 },
    }) as ssl.BYOLMethod;
    try {
      assert.deepEqual((b.modules.get('predictor') as ProjectionHead).dims, [6, 5, 6]);
      assert.equal(b.baseMomentum, 0.99);
    } finally {
      b.dispose();
    }
    const s = ssl.createMethod('simsiam', { encoder: pooledEncoder, featureDim: 4, projector: [8, 6] });
    try {
      const keys = [...s.modules.get('projector').stateDict().keys()];
      assert.ok(
        keys.includes('1.running_mean') && !keys.includes('1.weight'),
        'SimSiam projector ends in BatchNorm1d(affine=False)',
      );
      assert.ok(!keys.includes('0.layers.3.bias'), 'no bias before that BatchNorm');
    } finally {
      s.dispose();
    }
    assert.throws(
      () => ssl.createMethod('vicreg', { encoder: pooledEncoder, featureDim: 0 }),
      /createMethod\('vicreg'\): featureDim must be a positive integer, got 0/,
    );
  });

  it('a pooled method refuses an encoder that does not pool', () => {
    const m = ssl.createMethod('vicreg', { encoder: mapEncoder, featureDim: 4 });
    try {
      torch.tidy(() => {
        const x = torch.randn([2, 1, 4, 8, 8]);
        assert.throws(
          () => m.step(x, x),
          /VICRegMethod.step: the encoder must return pooled features \[N,F\] for input \[2,1,4,8,8\], got \[2,4,2,4,4\]/,
        );
      });
    } finally {
      m.dispose();
    }
  });
});
