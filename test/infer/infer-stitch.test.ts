/**
 * The stitching core of `inkwell infer`: window placement covers the image with the last window flush, masks
 * skip windows without losing masked pixels, dropped edges are exactly the tiles' outer bands except on the
 * image border, and - with tensors - stitching a fully convolutional model with its receptive field inside the
 * dropped border reproduces one forward over the whole image; Gaussian blending reproduces it for a pointwise
 * model; bad geometries give clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { arraySource, inferVolume, type TileModel } from '../../src/infer/index.js';
import {
  checkGeometry,
  placeWindows,
  resizeBilinear,
  stitch,
  Stitcher,
  type StitchGeometry,
  windowStarts,
} from '../../src/infer/stitch.js';

// One thread: OpenMP stalls on a shared 2-core machine stretch tiny convolutions far more than they gain.
torch.setNumThreads(1);

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Two 3x3x3 convolutions (receptive field radius 2 in H and W), then the mean over depth: [N,1,D,H,W] -> [N,1,H,W]. */
class ConvNet implements TileModel {
  readonly c1 = new torch.nn.Conv3d(1, 4, 3, { padding: 1 });
  readonly c2 = new torch.nn.Conv3d(4, 1, 3, { padding: 1 });
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.c2.forward(torch.F.relu(this.c1.forward(x))).mean(2));
  }
  dispose(): void {
    this.c1.dispose();
    this.c2.dispose();
  }
}

/** A pointwise model: logit = 3 (mean over depth) - 1.5; no neighbourhood, so no window dependence. */
const pointwise: TileModel = { forward: (x) => torch.tidy(() => x.mean(2).mul(3).sub(1.5)) };

function randomVolume(d: number, h: number, w: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(d * h * w);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

/** sigmoid(model(whole image)) as [H*W]. */
function wholeImage(model: TileModel, data: Float32Array, d: number, h: number, w: number): Float32Array {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const x = torch.fromTypedArray(data, [1, 1, d, h, w]);
      return model.forward(x).sigmoid().toFloat32Array();
    }),
  );
}

test('window starts: multiples of the stride, the last flush with the end; a single window when tile = length', () => {
  assert.deepEqual(windowStarts(64, 16, 8), [0, 8, 16, 24, 32, 40, 48]);
  assert.deepEqual(windowStarts(45, 16, 8), [0, 8, 16, 24, 29]);
  assert.deepEqual(windowStarts(16, 16, 8), [0]);
  assert.deepEqual(windowStarts(17, 16, 16), [0, 1]);
});

test('every pixel is covered by a kept tile centre, for many geometries (edge and gaussian)', () => {
  const ones = (t: number): Float32Array => new Float32Array(t * t).fill(1);
  for (const [h, w, tile, stride, border] of [
    [37, 45, 16, 8, 2],
    [16, 16, 16, 8, 2],
    [50, 33, 12, 8, 2],
    [40, 41, 20, 6, 7],
    [29, 31, 9, 1, 4],
    [64, 64, 32, 32, 0],
  ] as const) {
    for (const blend of [
      { mode: 'edge' as const, border },
      { mode: 'gaussian' as const, sigma: tile / 4 },
    ]) {
      const g: StitchGeometry = { height: h, width: w, tile, stride, blend };
      const { probabilities, windows } = stitch(g, () => ones(tile));
      assert.equal(windows.length, windowStarts(h, tile, stride).length * windowStarts(w, tile, stride).length);
      assert.ok(
        probabilities.every((v) => Math.abs(v - 1) < 1e-6),
        `${JSON.stringify(g)}: a pixel is uncovered`,
      );
    }
  }
});

test('edge dropping keeps exactly the tile centres, and the outer band only on the image border', () => {
  const [H, W, T, S, B] = [41, 50, 16, 8, 3];
  // Each tile marks its own outer band with 1 and its centre with 0.
  const band = new Float32Array(T * T);
  for (let r = 0; r < T; r++)
    for (let c = 0; c < T; c++) band[r * T + c] = r < B || r >= T - B || c < B || c >= T - B ? 1 : 0;
  const { probabilities } = stitch(
    { height: H, width: W, tile: T, stride: S, blend: { mode: 'edge', border: B } },
    () => band,
  );
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const onBorder = y < B || y >= H - B || x < B || x >= W - B;
      assert.equal(probabilities[y * W + x], onBorder ? 1 : 0, `pixel (${y}, ${x})`);
    }
  }
});

test('a window-independent prediction comes back unchanged with both blends; overlaps are averaged', () => {
  const [H, W, T] = [30, 47, 12];
  const f = (y: number, x: number): number => Math.sin(y * 0.3) * Math.cos(x * 0.2) * 0.5 + 0.5;
  for (const blend of [
    { mode: 'edge' as const, border: 2 },
    { mode: 'gaussian' as const, sigma: 3 },
  ]) {
    const { probabilities } = stitch({ height: H, width: W, tile: T, stride: 5, blend }, (win) => {
      const t = new Float32Array(T * T);
      for (let r = 0; r < T; r++) for (let c = 0; c < T; c++) t[r * T + c] = f(win.y + r, win.x + c);
      return t;
    });
    let m = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) m = Math.max(m, Math.abs(probabilities[y * W + x]! - f(y, x)));
    assert.ok(m < 1e-6, `${blend.mode}: max error ${m}`);
  }
  // Two overlapping windows of constants 0 and 1 average to 0.5 where both keep the pixel.
  const st = new Stitcher({ height: 8, width: 12, tile: 8, stride: 4, blend: { mode: 'edge', border: 0 } });
  st.add({ y: 0, x: 0 }, new Float32Array(64).fill(0));
  st.add({ y: 0, x: 4 }, new Float32Array(64).fill(1));
  const m = st.finish();
  assert.deepEqual([m[0], m[5], m[11]], [0, 0.5, 1]);
  assert.throws(() => st.add({ y: 0, x: 0 }, new Float32Array(64)), /already finished/);
});

test('windows entirely outside the mask are skipped, masked pixels stay covered, outside is 0', () => {
  const [H, W, T, S] = [40, 64, 16, 8];
  const mask = new Uint8Array(H * W);
  // A disc of papyrus in the left part.
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) mask[y * W + x] = (y - 20) ** 2 + (x - 18) ** 2 < 15 ** 2 ? 1 : 0;
  const all = placeWindows({ height: H, width: W, tile: T, stride: S });
  const kept = placeWindows({ height: H, width: W, tile: T, stride: S }, mask);
  assert.ok(kept.length < all.length && kept.length > 0, `${kept.length} of ${all.length} windows kept`);
  for (const w of all) {
    let inside = false;
    for (let r = 0; r < T; r++) for (let c = 0; c < T; c++) inside ||= mask[(w.y + r) * W + w.x + c] === 1;
    assert.equal(
      kept.some((k) => k.y === w.y && k.x === w.x),
      inside,
      `window (${w.y}, ${w.x})`,
    );
  }
  const { probabilities } = stitch(
    { height: H, width: W, tile: T, stride: S, blend: { mode: 'edge', border: 2 }, mask },
    () => new Float32Array(T * T).fill(0.75),
  );
  for (let i = 0; i < H * W; i++) assert.equal(probabilities[i], mask[i] ? 0.75 : 0, `pixel ${i}`);
  assert.throws(
    () => placeWindows({ height: H, width: W, tile: T, stride: S }, new Uint8Array(10)),
    /mask has 10 pixels, expected 40x64/,
  );
});

test('stitching with dropped edges reproduces one forward of a fully convolutional model over the whole image', async () => {
  torch.manualSeed(3);
  const net = new ConvNet();
  try {
    const [D, H, W] = [4, 37, 45];
    const data = randomVolume(D, H, W, 11);
    const whole = wholeImage(net, data, D, H, W);
    // Receptive field radius 2 <= border: every kept pixel saw its whole context (zero padding only on the image border).
    const r = await inferVolume(arraySource(data, D, H, W), net, {
      tile: 16,
      stride: 8,
      border: 2,
      batch: 3,
      progress: false,
    });
    assert.equal(r.windows, 4 * 5);
    const d = maxDiff(r.probabilities, whole);
    assert.ok(d < 1e-5, `stitched vs whole-image forward: max |diff| ${d}`);
    // Without dropping edges, tile padding shows up inside the image.
    const raw = await inferVolume(arraySource(data, D, H, W), net, { tile: 16, stride: 8, border: 0, progress: false });
    assert.ok(maxDiff(raw.probabilities, whole) > 1e-3, 'border 0 should differ from the whole-image forward');
  } finally {
    net.dispose();
  }
});

test('gaussian blending equals the whole-image result for a pointwise model', async () => {
  const [D, H, W] = [3, 29, 52];
  const data = randomVolume(D, H, W, 5);
  const whole = wholeImage(pointwise, data, D, H, W);
  const r = await inferVolume(arraySource(data, D, H, W), pointwise, {
    tile: 16,
    stride: 6,
    blend: 'gaussian',
    progress: false,
  });
  assert.equal(r.geometry.blend.mode, 'gaussian');
  assert.ok(maxDiff(r.probabilities, whole) < 1e-6);
  const e = await inferVolume(arraySource(data, D, H, W), pointwise, { tile: 16, blend: 'edge', progress: false });
  assert.ok(maxDiff(e.probabilities, whole) < 1e-6);
});

test('band streaming reads only a band of rows and maps stored values through the lookup table', async () => {
  const [D, H, W, T] = [3, 40, 30, 16];
  const stored = new Uint8Array(D * H * W).map((_, i) => (i * 37) % 256);
  const lut = new Float32Array(256).map((_, v) => v / 255);
  const reads: number[][] = [];
  const src = arraySource(stored, D, H, W, lut);
  const spy = {
    ...src,
    read: (y0: number, y1: number, x0: number, x1: number) => {
      reads.push([y0, y1, x0, x1]);
      return src.read(y0, y1, x0, x1);
    },
  };
  const r = await inferVolume(spy, pointwise, { tile: T, progress: false });
  assert.ok(
    reads.every(([y0, y1]) => y1! - y0! === T),
    'every read is one tile high',
  );
  assert.equal(reads.length, windowStarts(H, T, 8).length, 'one read per row of windows');
  assert.equal(r.bandBytes, D * T * W);
  const floats = Float32Array.from(stored, (v) => v / 255);
  assert.ok(maxDiff(r.probabilities, wholeImage(pointwise, floats, D, H, W)) < 1e-6);
});

test('geometry errors name what was expected', async () => {
  const g = (o: Partial<StitchGeometry>): StitchGeometry => ({
    height: 40,
    width: 30,
    tile: 16,
    stride: 8,
    blend: { mode: 'edge', border: 2 },
    ...o,
  });
  assert.throws(() => checkGeometry(g({ tile: 32 })), /tile 32 is larger than the image \(40x30 HxW/);
  assert.throws(
    () => checkGeometry(g({ stride: 14, blend: { mode: 'edge', border: 2 } })),
    /stride 14 with border 2 leaves pixels that no tile keeps.*stride <= tile - 2\*border = 12/,
  );
  assert.throws(
    () => checkGeometry(g({ blend: { mode: 'edge', border: 8 } })),
    /border must be an integer with 0 <= border < tile\/2/,
  );
  assert.throws(() => checkGeometry(g({ stride: 0 })), /stride must be an integer in 1\.\.tile/);
  assert.throws(() => checkGeometry(g({ blend: { mode: 'gaussian', sigma: 0 } })), /sigma must be a positive number/);
  const src = arraySource(new Float32Array(2 * 20 * 20), 2, 20, 20);
  await assert.rejects(
    inferVolume(src, pointwise, { tile: 24, progress: false }),
    /inferVolume: tile 24 is larger than the image \(20x20/,
  );
  await assert.rejects(
    inferVolume(src, pointwise, { tile: 16, blend: 'gaussian', border: 2, progress: false }),
    /border applies to blend 'edge'/,
  );
  await assert.rejects(
    inferVolume(src, pointwise, { tile: 16, batch: 0, progress: false }),
    /batch must be a positive integer/,
  );
});

test('resizeBilinear: identity at equal size, exact on linear ramps, edge rows repeated at odd sizes', () => {
  const [h, w] = [5, 7];
  const src = new Float32Array(h * w).map((_, i) => 2 * Math.floor(i / w) + 3 * (i % w));
  assert.equal(resizeBilinear(src, h, w, h, w), src);
  // scale 0.5 view of an 11x15 disk image (floor sizes 5x7): disk pixel centres map to (Y + 0.5) * 0.5 - 0.5.
  const out = resizeBilinear(src, h, w, 11, 15, 0.5);
  const at = (s: number, n: number): number => Math.min(Math.max(s, 0), n - 1);
  for (let Y = 0; Y < 11; Y++) {
    for (let X = 0; X < 15; X++) {
      const e = 2 * at((Y + 0.5) * 0.5 - 0.5, h) + 3 * at((X + 0.5) * 0.5 - 0.5, w);
      assert.ok(Math.abs(out[Y * 15 + X]! - e) < 1e-5, `(${Y}, ${X}): ${out[Y * 15 + X]} vs ${e}`);
    }
  }
  assert.throws(() => resizeBilinear(src, 4, 7, 8, 14), /input has 35 values, expected 4x7 = 28/);
});
