/**
 * Test-time augmentation and reduced-resolution outputs of `inkwell infer`: a rotation- and flip-equivariant
 * model gives the same map under every TTA; for models that are not, the result is the average of the
 * transformed-back probabilities (checked against rotations done in plain JS, and against closed forms for a
 * position-dependent model); half and quarter outputs are resized bilinearly to the tile and stitched into a
 * full-size map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import {
  arraySource,
  inferVolume,
  predictTiles,
  type TileModel,
  type TTA,
  ttaTransforms,
} from '../../src/infer/index.js';
import { resizeBilinear } from '../../src/infer/stitch.js';
import { createSegmentationModel } from '../../src/models/registry.js';

// One thread: OpenMP stalls on a shared 2-core machine stretch tiny convolutions far more than they gain.
torch.setNumThreads(1);

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return new Float32Array(n).map(() => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** A 1x3x3 convolution over each slice, ReLU, a second one, mean over depth. */
class SliceConv implements TileModel {
  readonly c1 = new torch.nn.Conv3d(1, 3, [1, 3, 3], { padding: [0, 1, 1] });
  readonly c2 = new torch.nn.Conv3d(3, 1, [1, 3, 3], { padding: [0, 1, 1] });
  /** Makes every kernel symmetric under rot90 and flips: [[a,b,a],[b,c,b],[a,b,a]]. */
  symmetrise(): this {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const conv of [this.c1, this.c2]) {
          const w = conv.weight;
          const sym = w
            .add(torch.rot90(w, 1, [3, 4]))
            .add(torch.rot90(w, 2, [3, 4]))
            .add(torch.rot90(w, 3, [3, 4]));
          const full = sym.add(torch.flip(sym, [4])).div(8);
          w.copy_(full);
        }
      }),
    );
    return this;
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.c2.forward(torch.F.relu(this.c1.forward(x))).mean(2));
  }
  dispose(): void {
    this.c1.dispose();
    this.c2.dispose();
  }
}

// ----- D4 transforms in plain JS on [planes, T, T] arrays (independent of the tensor code under test) -----
function rotJs(a: Float32Array, T: number): Float32Array {
  // out[i][j] = a[j][T-1-i] for every plane: a quarter turn.
  const out = new Float32Array(a.length);
  for (let p = 0; p < a.length; p += T * T)
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) out[p + i * T + j] = a[p + j * T + (T - 1 - i)]!;
  return out;
}
function unrotJs(a: Float32Array, T: number): Float32Array {
  return rotJs(rotJs(rotJs(a, T), T), T);
}
function flipWJs(a: Float32Array, T: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let p = 0; p < a.length; p += T * T)
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) out[p + i * T + j] = a[p + i * T + (T - 1 - j)]!;
  return out;
}

/** avg over g of g^-1(sigmoid(model(g x))) for one tile x [D,T,T], with g built from JS rotations and flips. */
function expectedTta(
  model: TileModel,
  x: Float32Array,
  D: number,
  T: number,
  group: { k: number; flip: boolean }[],
): Float32Array {
  const acc = new Float32Array(T * T);
  for (const { k, flip } of group) {
    let gx = flip ? flipWJs(x, T) : x;
    for (let i = 0; i < k; i++) gx = rotJs(gx, T);
    let y = torch.noGrad(() =>
      torch.tidy(() =>
        model
          .forward(torch.fromTypedArray(gx, [1, 1, D, T, T]))
          .sigmoid()
          .toFloat32Array(),
      ),
    );
    for (let i = 0; i < k; i++) y = unrotJs(y, T);
    if (flip) y = flipWJs(y, T);
    for (let i = 0; i < acc.length; i++) acc[i]! += y[i]! / group.length;
  }
  return acc;
}

function predictOne(model: TileModel, x: Float32Array, D: number, T: number, tta: TTA): Float32Array {
  return torch.tidy(() => predictTiles(model, torch.fromTypedArray(x, [1, 1, D, T, T]), tta));
}

test('TTA transform lists: none 1, rot90 4, flips 4, rot90+flips 8 distinct; unknown modes are refused', () => {
  const key = (t: { k: number; flipH: boolean; flipW: boolean }): string => `${t.k}${t.flipH}${t.flipW}`;
  for (const [mode, n] of [
    ['none', 1],
    ['rot90', 4],
    ['flips', 4],
    ['rot90+flips', 8],
  ] as const) {
    const list = ttaTransforms(mode);
    assert.equal(list.length, n);
    assert.equal(new Set(list.map(key)).size, n);
  }
  assert.throws(
    () => ttaTransforms('mirror' as TTA),
    /tta must be one of none, rot90, flips, rot90\+flips, got 'mirror'/,
  );
});

test('a rotation- and flip-equivariant model gives the same map under every TTA', async () => {
  torch.manualSeed(7);
  const net = new SliceConv().symmetrise();
  try {
    const [D, T] = [3, 12];
    const x = randomArray(D * T * T, 1);
    const plain = predictOne(net, x, D, T, 'none');
    for (const tta of ['rot90', 'flips', 'rot90+flips'] as const)
      assert.ok(maxDiff(predictOne(net, x, D, T, tta), plain) < 1e-6, tta);
    const [H, W] = [30, 26];
    const vol = randomArray(D * H * W, 2);
    const a = await inferVolume(arraySource(vol, D, H, W), net, { tile: T, border: 2, progress: false });
    const b = await inferVolume(arraySource(vol, D, H, W), net, { tile: T, border: 2, tta: 'rot90', progress: false });
    assert.ok(maxDiff(a.probabilities, b.probabilities) < 1e-6);
  } finally {
    net.dispose();
  }
});

test('for a model that is not equivariant, TTA averages the transformed-back probabilities', () => {
  torch.manualSeed(8);
  const net = new SliceConv();
  try {
    const [D, T] = [2, 10];
    const x = randomArray(D * T * T, 3);
    const rot = [0, 1, 2, 3].map((k) => ({ k, flip: false }));
    const flips = [
      { k: 0, flip: false },
      { k: 0, flip: true },
      { k: 2, flip: false },
      { k: 2, flip: true },
    ];
    const d4 = [0, 1, 2, 3].flatMap((k) => [
      { k, flip: false },
      { k, flip: true },
    ]);
    const plain = predictOne(net, x, D, T, 'none');
    for (const [tta, group] of [
      ['rot90', rot],
      ['flips', flips],
      ['rot90+flips', d4],
    ] as const) {
      const got = predictOne(net, x, D, T, tta);
      assert.ok(maxDiff(got, expectedTta(net, x, D, T, group)) < 1e-6, `${tta} vs the JS average`);
      assert.ok(maxDiff(got, plain) > 1e-4, `${tta} should differ from no TTA for a random kernel`);
    }
  } finally {
    net.dispose();
  }
});

test('a position-dependent model: TTA gives the closed-form averages of its ramp', () => {
  const T = 8;
  const a = 0.7;
  // logits[i][j] = a * j, whatever the input.
  const ramp: TileModel = {
    forward: (x) =>
      torch.tidy(() => torch.arange(0, T).mul(a).reshape([1, 1, 1, T]).expand([x.shape[0]!, 1, T, T]).contiguous()),
  };
  const x = new Float32Array(2 * T * T);
  const none = predictOne(ramp, x, 2, T, 'none');
  const flips = predictOne(ramp, x, 2, T, 'flips');
  const rot = predictOne(ramp, x, 2, T, 'rot90');
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const at = i * T + j;
      assert.ok(Math.abs(none[at]! - sig(a * j)) < 1e-6);
      assert.ok(Math.abs(flips[at]! - (sig(a * j) + sig(a * (T - 1 - j))) / 2) < 1e-6, `flips (${i}, ${j})`);
      const r = (sig(a * j) + sig(a * (T - 1 - j)) + sig(a * i) + sig(a * (T - 1 - i))) / 4;
      assert.ok(Math.abs(rot[at]! - r) < 1e-6, `rot90 (${i}, ${j}): ${rot[at]} vs ${r}`);
    }
  }
});

test('half and quarter outputs are resized bilinearly to the tile', () => {
  const T = 16;
  for (const s of [2, 4]) {
    const t = T / s;
    const grid = randomArray(t * t, s).map((v) => 4 * v - 2);
    const coarse: TileModel = {
      forward: (x) => torch.fromTypedArray(grid, [1, 1, t, t]).expand([x.shape[0]!, 1, t, t]).contiguous(),
    };
    const got = torch.tidy(() => predictTiles(coarse, torch.zeros([2, 1, 1, T, T])));
    assert.equal(got.length, 2 * T * T);
    const expected = resizeBilinear(grid.map(sig), t, t, T, T);
    assert.ok(maxDiff(got.subarray(0, T * T), expected) < 1e-6, `1/${s} output`);
    assert.ok(maxDiff(got.subarray(T * T), expected) < 1e-6);
  }
});

test('a SegmentationModel with half and quarter output stitches into a full-size map', async () => {
  const [D, H, W, T] = [9, 44, 40, 32];
  const vol = randomArray(D * H * W, 9);
  for (const output of ['half', 'quarter'] as const) {
    torch.manualSeed(1);
    const model = createSegmentationModel('resnet3d-18', { widenFactor: 0.125, output });
    try {
      model.eval();
      const r = await inferVolume(arraySource(vol, D, H, W), model, { tile: T, progress: false });
      assert.equal(r.probabilities.length, H * W);
      assert.ok(
        r.probabilities.every((p) => p > 0 && p < 1),
        `${output}: probabilities in (0, 1)`,
      );
    } finally {
      model.dispose();
    }
  }
});

test('a model whose output is not [N,1,t,t] is reported with both shapes', () => {
  const bad: TileModel = { forward: (x) => torch.zeros([x.shape[0]!, 2, 4, 4]) };
  assert.throws(
    () => torch.tidy(() => predictTiles(bad, torch.zeros([1, 1, 2, 8, 8]))),
    /the model turned input \[1, ?1, ?2, ?8, ?8\] into \[1, ?2, ?4, ?4\], expected logits \[1,1,t,t\] with t <= 8/,
  );
  assert.throws(
    () => torch.tidy(() => predictTiles(bad, torch.zeros([1, 1, 2, 8, 6]))),
    /expected a batch of square tiles/,
  );
});
