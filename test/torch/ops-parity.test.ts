/**
 * Every engine op against PyTorch: test/fixtures/engine_fixtures.py computes outputs and input gradients
 * with Debian's python3-torch; here the same inputs go through inkwell's ops, and outputs and gradients
 * must agree (float32 tolerances; most agree exactly since both run the same libtorch kernels).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

type CaseFn = (...inputs: Tensor[]) => Tensor | Tensor[];

const CASES: Record<string, CaseFn> = {
  conv3d: (x, w, b) => F.conv3d(x!, w!, b!, { stride: [1, 2, 2], padding: 1 }),
  conv3d_groups: (x, w) => F.conv3d(x!, w!, null, { padding: [1, 0, 2], dilation: [1, 1, 2], groups: 2 }),
  conv2d: (x, w, b) => F.conv2d(x!, w!, b!, { stride: 2, padding: 1 }),
  conv1d: (x, w, b) => F.conv1d(x!, w!, b!, { padding: 2 }),
  conv_transpose3d: (x, w, b) => F.convTranspose3d(x!, w!, b!, { stride: 2 }),
  conv_transpose2d: (x, w, b) => F.convTranspose2d(x!, w!, b!, { stride: 2, padding: 1, outputPadding: 1 }),
  batch_norm_train: (x, w, b) => {
    const rm = torch.zeros([3]);
    const rv = torch.ones([3]);
    return [
      F.batchNorm(x!, rm, rv, {
        weight: w!,
        bias: b!,
        training: true,
        momentum: 0.1,
        eps: 1e-5,
      }),
      rm,
      rv,
    ];
  },
  batch_norm_eval: (x, rv, rm, w, b) => F.batchNorm(x!, rm!, rv!, { weight: w!, bias: b!, training: false }),
  instance_norm: (x) => F.instanceNorm(x!),
  group_norm: (x, w, b) => F.groupNorm(x!, 3, w!, b!),
  layer_norm: (x, w, b) => F.layerNorm(x!, [7], w!, b!),
  relu: (x) => F.relu(x!),
  gelu: (x) => F.gelu(x!),
  gelu_tanh: (x) => F.gelu(x!, { approximate: 'tanh' }),
  sigmoid: (x) => x!.sigmoid(),
  tanh: (x) => x!.tanh(),
  softmax: (x) => F.softmax(x!, 1),
  log_softmax: (x) => F.logSoftmax(x!, -1),
  max_pool3d: (x) => F.maxPool3d(x!, 3, { stride: 2, padding: 1 }),
  max_pool3d_seed: (x) => F.maxPool3d(x!, [1, 3, 3], { stride: [1, 2, 2], padding: [0, 1, 1] }),
  avg_pool3d: (x) => F.avgPool3d(x!, 2),
  max_pool2d: (x) => F.maxPool2d(x!, 2),
  avg_pool2d: (x) => F.avgPool2d(x!, 3, { stride: 2, padding: 1 }),
  adaptive_avg_pool3d: (x) => F.adaptiveAvgPool3d(x!, 1),
  adaptive_max_pool3d: (x) => F.adaptiveMaxPool3d(x!, [1, 2, 3]),
  adaptive_avg_pool2d: (x) => F.adaptiveAvgPool2d(x!, [3, 4]),
  linear: (x, w, b) => F.linear(x!, w!, b!),
  matmul: (a, b) => a!.matmul(b!),
  bmm: (a, b) => F.bmm(a!, b!),
  einsum: (a, b) => F.einsum('ij,jk->ik', a!, b!),
  add_alpha: (a, b) => a!.add(b!, { alpha: 0.5 }),
  sub: (a, b) => a!.sub(b!),
  mul: (a, b) => a!.mul(b!),
  div: (a, b) => a!.div(b!),
  pow_scalar: (a) => a!.pow(2.5),
  pow_tensor: (a, b) => a!.pow(b!),
  unary: (a) => [a!.exp(), a!.log(), a!.sqrt(), a!.abs(), a!.neg(), a!.clamp(0.3, 1.2), a!.rsqrt(), a!.square()],
  compare: (a, b) => [a!.eq(b!), a!.lt(b!), a!.ge(b!), a!.gt(0.2), a!.ne(b!)],
  sum_dims: (x) => [x!.sum(), x!.sum([1, 3]), x!.sum(2, true)],
  mean_dims: (x) => [x!.mean(), x!.mean([0, 2])],
  var_std: (x) => [x!.var(0), x!.std([1, 2], { correction: 0 }), x!.var()],
  amax_amin: (x) => [x!.amax(1), x!.amin([2, 3], true)],
  argmax: (x) => [x!.argmax(1), x!.argmin(-1)],
  norm: (x) => [x!.norm(), x!.norm(1, 1), x!.norm(2, [2, 3], true)],
  permute_reshape: (x) => [
    x!.permute([0, 2, 1, 4, 3]).contiguous(),
    x!.reshape([6, -1]),
    x!.transpose(1, 3),
    x!.flatten(2),
  ],
  cat_stack: (a, b) => [torch.cat([a!, b!], 1), torch.stack([a!, b!], 0)],
  split: (x) => [...torch.split(x!, [1, 2], 1), ...torch.split(x!, 4, 3)],
  index_select: (x, i) => torch.indexSelect(x!, 1, i!.clamp(null, 2)),
  gather: (x, i) => torch.gather(x!, 1, i!),
  where_masked: (a, b) => [torch.where(a!.gt(0), a!, b!), torch.maskedFill(a!, b!.gt(0.5), -2.0)],
  flip_rot_roll: (x) => [
    torch.flip(x!, [2, 3]),
    torch.rot90(x!, 1, [2, 3]),
    torch.rot90(x!, 3, [2, 3]),
    torch.roll(x!, [2, -3], [2, 3]),
    torch.roll(x!, 5),
  ],
  pad: (x) => [
    F.pad(x!, [1, 2, 3, 0]),
    F.pad(x!, [2, 2, 1, 1], 'reflect'),
    F.pad(x!, [1, 1, 1, 1], 'replicate'),
    F.pad(x!, [1, 0], 'constant', 3.5),
  ],
  index_tensor: (x, i) => torch.index(x!, [i!.clamp(null, 1)]),
  interpolate_nearest: (x) => F.interpolate(x!, { scaleFactor: 2, mode: 'nearest' }),
  interpolate_trilinear: (x) => F.interpolate(x!, { size: [5, 11, 13], mode: 'trilinear', alignCorners: false }),
  interpolate_bilinear: (x) => [
    F.interpolate(x!, { scaleFactor: 0.5, mode: 'bilinear' }),
    F.interpolate(x!, { size: [20, 17], mode: 'bilinear', alignCorners: true }),
  ],
  interpolate_area: (x) => F.interpolate(x!, { size: [3, 5], mode: 'area' }),
  affine_grid_sample: (x, th) =>
    F.gridSample(x!, F.affineGrid(th!, [2, 3, 9, 10], false), {
      mode: 'bilinear',
      paddingMode: 'reflection',
      alignCorners: false,
    }),
  grid_sample_nearest: (x, th) =>
    F.gridSample(x!, F.affineGrid(th!, [2, 3, 7, 8], true), {
      mode: 'nearest',
      paddingMode: 'zeros',
      alignCorners: true,
    }),
  mse_loss: (a, b) => [F.mseLoss(a!, b!), F.mseLoss(a!, b!, { reduction: 'sum' })],
  bce_with_logits: (a, t) => [
    F.binaryCrossEntropyWithLogits(a!, t!),
    F.binaryCrossEntropyWithLogits(a!, t!.mul(0.8).add(0.1), { reduction: 'none' }),
  ],
  cross_entropy: (x, t) => [F.crossEntropy(x!, t!), F.crossEntropy(x!, t!, { labelSmoothing: 0.1 })],
  cross_entropy_2d: (x, t) => F.crossEntropy(x!, t!, { labelSmoothing: 0.3 }),
  cosine_similarity: (a, b) => F.cosineSimilarity(a!, b!, 1),
  normalize: (a) => F.normalize(a!, 2, 1),
  cdist: (a, b) => F.cdist(a!, b!),
  random_seeded: () => {
    torch.manualSeed(1234);
    return [
      torch.rand([3, 4]),
      torch.randn([5]),
      torch.randint(3, 17, [6]),
      torch.randperm(9),
      torch.bernoulli(torch.full([10], 0.3)),
      torch.bernoulli(torch.zeros([12]), 0.4),
    ];
  },
};

interface CaseInfo {
  inputs: number;
  outputs: number;
  gouts: number[];
  grads: number[];
}

describe('ops match PyTorch (outputs and gradients)', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let dir = '';
  let manifest: Record<string, CaseInfo> = {};
  before(() => {
    dir = makeFixtures('engine_fixtures.py');
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, CaseInfo>;
  });

  it('covers every fixture case and no more', () => {
    assert.deepEqual(Object.keys(manifest).sort(), Object.keys(CASES).sort());
  });

  for (const [name, fn] of Object.entries(CASES)) {
    it(name, () => {
      const info = manifest[name];
      assert.ok(info, `fixture case ${name} missing`);
      torch.tidy(() => {
        const inputs = Array.from({ length: info.inputs }, (_, i) => {
          const t = loadNpyTensor(join(dir, name, `in${i}.npy`));
          if (info.grads.includes(i)) t.requiresGrad = true;
          return t;
        });
        const result = fn(...inputs);
        const outs = Array.isArray(result) ? result : [result];
        assert.equal(outs.length, info.outputs, `${name}: number of outputs`);
        outs.forEach((o, i) => {
          const expected = loadNpyTensor(join(dir, name, `out${i}.npy`));
          assertClose(o, expected, `${name} output ${i}`, { rtol: 1e-5, atol: 1e-5 });
        });
        if (info.grads.length === 0) return;
        let loss: Tensor | null = null;
        for (const i of info.gouts) {
          const term = outs[i]!.mul(loadNpyTensor(join(dir, name, `gout${i}.npy`))).sum();
          loss = loss ? loss.add(term) : term;
        }
        loss!.backward();
        for (const i of info.grads) {
          const g = inputs[i]!.grad;
          assert.ok(g, `${name}: input ${i} got no gradient`);
          assertClose(g, loadNpyTensor(join(dir, name, `grad${i}.npy`)), `${name} grad of input ${i}`, {
            rtol: 1e-4,
            atol: 1e-5,
          });
        }
      });
    });
  }
});
