/**
 * `inferDataset` and `inkwell infer` end to end on a tiny synthetic fragment (uint16 TIFF layers, scale 0.5)
 * with checkpoints written by saveSegmentationCheckpoint (random ResNet3D-18 at widen 0.125): 8- and 16-bit
 * PNGs of the on-disk size that src/eval/score-images.ts reads back, the mask respected (zero outside, windows outside
 * skipped), band streaming equal to inference over the loaded volume, half/quarter outputs at full size,
 * the thresholded mask, the CLI, and clear errors for bad weights, uncovered z-ranges and bad tiles.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { arraySource, encodeMaskPng, inferDataset, inferVolume } from '../../src/infer/index.js';
import { readBinaryMap, readProbabilityMap } from '../../src/eval/score-images.js';
import { synthesize } from '../../src/data/synth/write.js';
import { Volume } from '../../src/data/volume.js';
import {
  buildSegmentationModel,
  loadSegmentationModel,
  saveSegmentationCheckpoint,
  type SegmentationSpec,
} from '../../src/train/segmentation-checkpoint.js';
import { writeFileAtomic } from '../../src/util/atomic.js';
import { ROOT } from '../eval/harness.js';

type CliRun = { code: number; stdout: string; stderr: string };

const [DISK_H, DISK_W, LAYERS] = [160, 128, 24];
let dir = '';
let fragment = '';
const weights: Record<string, string> = {};

function spec(o: Partial<SegmentationSpec> = {}): SegmentationSpec {
  return {
    arch: 'resnet3d-18',
    inChannels: 1,
    widenFactor: 0.125,
    decoder: 'unet',
    output: 'full',
    depthPool: 'mean',
    depth: 10,
    z: [6, 18],
    tile: 32,
    normalize: 'none',
    ...o,
  };
}

async function checkpoint(name: string, s: SegmentationSpec): Promise<string> {
  torch.manualSeed(5);
  const model = buildSegmentationModel(s);
  const path = join(dir, `${name}.pth`);
  try {
    await saveSegmentationCheckpoint(path, model, s, { epoch: 2, step: 10 });
  } finally {
    model.dispose();
  }
  return path;
}

before(async () => {
  // One thread: OpenMP stalls on a shared 2-core machine stretch tiny convolutions far more than they gain.
  torch.setNumThreads(1);
  dir = mkdtempSync(join(tmpdir(), 'inkwell-infer-'));
  await synthesize({
    out: dir,
    fragments: 1,
    segments: 0,
    height: DISK_H,
    width: DISK_W,
    layers: LAYERS,
    seed: 4,
    progress: false,
  });
  fragment = join(dir, 'fragments', '1');
  weights['full'] = await checkpoint('full', spec());
  weights['half'] = await checkpoint('half', spec({ output: 'half' }));
  weights['quarter'] = await checkpoint('quarter', spec({ output: 'quarter' }));
  weights['deep'] = await checkpoint('deep', spec({ z: [20, 40] }));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('writes 8-bit and 16-bit probability PNGs of the on-disk size; zero outside the mask; thresholded mask', async () => {
  const p8 = join(dir, 'p8.png');
  const p16 = join(dir, 'p16.png');
  const r8 = await inferDataset({ weights: weights['full']!, input: fragment, output: p8, progress: false });
  assert.deepEqual(
    [r8.height, r8.width, r8.viewHeight, r8.viewWidth, r8.scale],
    [DISK_H, DISK_W, DISK_H / 2, DISK_W / 2, 0.5],
  );
  assert.deepEqual(r8.layers, [7, 17], 'depth 10 centred in layers 6:18');
  assert.deepEqual(
    [r8.tile, r8.stride, r8.blend],
    [32, 16, { mode: 'edge', border: 4 }],
    'defaults: the spec tile, stride tile/2, border tile/8',
  );
  assert.equal(r8.epoch, 2);
  assert.ok(r8.windows > 0 && r8.seconds > 0 && r8.timings.model_ms > 0);
  const diskMask = (await readBinaryMap(join(fragment, 'mask.png'))).data;

  // The same run at 16 bits; the median inside the mask as threshold gives both classes in the mask output.
  const inside = r8.probabilities.filter((_, i) => diskMask[i] === 1).sort();
  const t = inside[inside.length >> 1]!;
  const m = join(dir, 'm.png');
  const r16 = await inferDataset({
    weights: weights['full']!,
    input: fragment,
    output: p16,
    bits: 16,
    maskOutput: m,
    threshold: t,
    progress: false,
  });
  assert.deepEqual(r16.probabilities, r8.probabilities, 'inference is deterministic');

  const png8 = await readProbabilityMap(p8);
  const png16 = await readProbabilityMap(p16);
  assert.deepEqual(
    [png8.width, png8.height, png8.bits, png16.width, png16.height, png16.bits],
    [DISK_W, DISK_H, 8, DISK_W, DISK_H, 16],
  );
  let e8 = 0;
  let e16 = 0;
  for (let i = 0; i < r8.probabilities.length; i++) {
    const p = r8.probabilities[i]!;
    assert.ok(p >= 0 && p <= 1);
    if (diskMask[i] === 0)
      assert.ok(p === 0 && png8.data[i] === 0 && png16.data[i] === 0, `pixel ${i} outside the mask`);
    e8 = Math.max(e8, Math.abs(png8.data[i]! - p));
    e16 = Math.max(e16, Math.abs(png16.data[i]! - p));
  }
  assert.ok(e8 <= 0.5 / 255 + 1e-6, `8-bit quantisation error ${e8}`);
  assert.ok(e16 <= 0.5 / 65535 + 1e-6, `16-bit quantisation error ${e16}`);

  const mask = await readBinaryMap(m);
  assert.deepEqual([mask.width, mask.height], [DISK_W, DISK_H]);
  let ink = 0;
  for (let i = 0; i < mask.data.length; i++) {
    assert.equal(mask.data[i], r16.probabilities[i]! >= t && diskMask[i] === 1 ? 1 : 0, `mask pixel ${i}`);
    ink += mask.data[i]!;
  }
  assert.ok(ink > 0 && ink < diskMask.reduce((a, b) => a + b, 0), 'both classes inside the mask');
  assert.equal(r16.outputs.mask, m);
});

test('band streaming gives the same map as inference over the whole loaded volume (scale 1), reading one band at a time', async () => {
  const r = await inferDataset({
    weights: weights['full']!,
    input: fragment,
    scale: 1,
    stride: 24,
    border: 4,
    batch: 3,
    progress: false,
  });
  assert.deepEqual([r.height, r.width, r.viewHeight, r.viewWidth], [DISK_H, DISK_W, DISK_H, DISK_W]);
  const vol = await Volume.open(fragment, { z: [7, 17], scale: 1 });
  const { model } = await loadSegmentationModel(weights['full']!);
  try {
    model.eval();
    const whole = await vol.load();
    const lut = new Float32Array(256).map((_, v) => v / 255);
    const mem = await inferVolume(arraySource(whole.data, 10, DISK_H, DISK_W, lut), model, {
      tile: 32,
      stride: 24,
      border: 4,
      batch: 5,
      mask: await vol.readMask(),
      progress: false,
    });
    let d = 0;
    for (let i = 0; i < mem.probabilities.length; i++)
      d = Math.max(d, Math.abs(mem.probabilities[i]! - r.probabilities[i]!));
    assert.ok(d < 1e-5, `streamed vs in-memory: max |diff| ${d}`);
    // One band: 10 layers x 32 rows x at most the width, uint8; never the volume (10 x 160 x 128) or all 24 layers.
    assert.ok(r.bandBytes <= 10 * 32 * DISK_W, `band of ${r.bandBytes} bytes`);
  } finally {
    model.dispose();
    await vol.close();
  }
});

test('half and quarter output checkpoints write full-size maps; gaussian blending and TTA run end to end', async () => {
  for (const output of ['half', 'quarter'] as const) {
    const out = join(dir, `${output}.png`);
    const r = await inferDataset({
      weights: weights[output]!,
      input: fragment,
      output: out,
      blend: 'gaussian',
      tta: output === 'half' ? 'rot90' : 'none',
      progress: false,
    });
    assert.equal(r.spec.output, output);
    assert.equal(r.blend.mode, 'gaussian');
    const png = await readProbabilityMap(out);
    assert.deepEqual([png.width, png.height], [DISK_W, DISK_H], output);
    assert.ok(
      r.probabilities.some((p) => p > 0),
      `${output}: some probabilities inside the mask`,
    );
  }
});

test('windows entirely outside the mask are skipped and the map is zero there', async () => {
  const masked = join(dir, 'masked');
  cpSync(fragment, masked, { recursive: true });
  // Papyrus only in the top-left 60 x 40 disk pixels (30 x 20 at scale 0.5).
  const m = new Uint8Array(DISK_H * DISK_W);
  for (let y = 0; y < 60; y++) for (let x = 0; x < 40; x++) m[y * DISK_W + x] = 1;
  await writeFileAtomic(join(masked, 'mask.png'), await encodeMaskPng(m, DISK_W, DISK_H));
  const r = await inferDataset({ weights: weights['full']!, input: masked, progress: false });
  // View 80x64, tile 32, stride 16: rows 0,16,32,48 x columns 0,16,32; only rows 0,16 x columns 0,16 touch the mask.
  assert.deepEqual([r.windows, r.skipped], [4, 8]);
  for (let i = 0; i < m.length; i++) if (m[i] === 0) assert.equal(r.probabilities[i], 0, `pixel ${i}`);
  assert.ok(r.probabilities.some((p) => p > 0));
});

/**
 * Runs `inkwell infer ARGS` for each argument list through the command module, in one child process (the test
 * runner talks to its parent over this process's stdout, so stdout cannot be captured here), with
 * src/cli/main.ts's error handling.
 */
const RUN_INFER = `
import { Command, CommanderError } from 'commander';
const { registerInfer } = await import(process.argv[1]);
const realOut = process.stdout.write.bind(process.stdout);
const results = [];
for (const args of JSON.parse(process.argv[2])) {
  let stdout = '';
  let stderr = '';
  process.stdout.write = (c) => { stdout += String(c); return true; };
  const program = new Command('inkwell').exitOverride().configureOutput({ writeOut: (s) => { stdout += s; }, writeErr: (s) => { stderr += s; } });
  registerInfer(program);
  let code = 0;
  try {
    await program.parseAsync(['infer', ...args], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode;
    else { stderr += 'inkwell: ' + (e instanceof Error ? e.message : String(e)) + '\\n'; code = 1; }
  }
  process.stdout.write = realOut;
  results.push({ code, stdout, stderr });
}
realOut(JSON.stringify(results));`;

function cli(argLists: string[][]): { code: number; stdout: string; stderr: string }[] {
  const mod = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'commands', 'infer.js')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', RUN_INFER, mod, JSON.stringify(argLists)], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, INKWELL_PROGRESS: '0' },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`inkwell infer (child process): status ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { code: number; stdout: string; stderr: string }[];
}

test('inkwell infer: summary, --json, 16-bit output with TTA and mask output; option errors', async () => {
  const out = join(dir, 'cli.png');
  const mask = join(dir, 'cli-mask.png');
  const base = ['--weights', weights['full']!, '--input', fragment, '--output', join(dir, 'x.png'), '--threads', '1'];
  const [j, s, bits, blend, sigma, missing] = cli([
    [
      '--weights',
      weights['half']!,
      '--input',
      fragment,
      '--output',
      out,
      '--bits',
      '16',
      '--tta',
      'flips',
      '--mask-output',
      mask,
      '--threshold',
      '0.4',
      '--json',
      '--threads',
      '1',
    ],
    [
      '--weights',
      weights['full']!,
      '--input',
      fragment,
      '--output',
      join(dir, 'cli8.png'),
      '--blend',
      'gaussian',
      '--sigma',
      '6',
      '--stride',
      '8',
      '--threads',
      '1',
    ],
    [...base, '--bits', '12'],
    [...base, '--blend', 'soft'],
    [...base, '--sigma', '3'],
    ['--input', fragment, '--output', join(dir, 'x.png')],
  ]) as [CliRun, CliRun, CliRun, CliRun, CliRun, CliRun];
  assert.equal(j.code, 0, j.stderr);
  const run = JSON.parse(j.stdout) as {
    height: number;
    width: number;
    tta: string;
    windows: number;
    outputs: { probabilities: string; mask: string };
    probabilities?: unknown;
  };
  assert.deepEqual(
    [run.height, run.width, run.tta, run.outputs.probabilities, run.outputs.mask],
    [DISK_H, DISK_W, 'flips', out, mask],
  );
  assert.equal(run.probabilities, undefined, 'the JSON leaves the map out');
  const png = await readProbabilityMap(out);
  assert.deepEqual([png.width, png.height, png.bits], [DISK_W, DISK_H, 16]);
  assert.ok(existsSync(mask));

  assert.equal(s.code, 0, s.stderr);
  for (const word of [
    `wrote ${join(dir, 'cli8.png')}: ${DISK_H}x${DISK_W} (HxW)`,
    'resnet3d-18',
    'gaussian sigma 6.0 px',
    'stride 8',
    'layers 7:17',
    'model ',
  ]) {
    assert.ok(s.stdout.includes(word), `summary mentions '${word}':\n${s.stdout}`);
  }

  assert.ok(bits.code !== 0 && bits.stderr.includes("'12' is not a PNG depth, expected 8 or 16"), bits.stderr);
  assert.ok(blend.code !== 0 && /Allowed choices are edge, gaussian/.test(blend.stderr), blend.stderr);
  assert.ok(sigma.code === 1 && sigma.stderr.includes('--sigma applies to --blend gaussian'), sigma.stderr);
  assert.ok(
    missing.code !== 0 && missing.stderr.includes("required option '--weights <file>' not specified"),
    missing.stderr,
  );
});

test('bad input: weights that are not a segmentation checkpoint, layers that do not cover the z-range, bad tiles', async () => {
  const png = join(fragment, 'mask.png');
  await assert.rejects(inferDataset({ weights: png, input: fragment, progress: false }), (e: Error) => {
    assert.match(
      e.message,
      new RegExp(
        `inferDataset: cannot use --weights ${png.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(expected a segmentation checkpoint`,
      ),
    );
    return true;
  });
  const plain = join(dir, 'plain.pth');
  torch.manualSeed(1);
  const enc = buildSegmentationModel(spec()).encoder;
  try {
    await torch.save(plain, enc.stateDict());
  } finally {
    enc.dispose();
  }
  await assert.rejects(
    inferDataset({ weights: plain, input: fragment, progress: false }),
    /not an inkwell segmentation checkpoint/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['deep']!, input: fragment, progress: false }),
    /inferDataset: the model in .*deep\.pth needs layers 20:40 \(10 slices centred in them\) of .*: Volume\.open: z-range 20:40 is outside .* which has layers 0:24/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['full']!, input: fragment, tile: 96, progress: false }),
    /inferDataset: tile 96 is larger than .*fragments\/1 \(80x64 HxW at scale 0\.5, 160x128 on disk\); use a tile of at most 64/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['full']!, input: fragment, tile: 8, progress: false }),
    /tile must be an integer of at least 17 px for resnet3d-18, got 8/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['full']!, input: fragment, stride: 30, progress: false }),
    /stride 30 with border 4 leaves pixels that no tile keeps/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['full']!, input: join(dir, 'nowhere'), progress: false }),
    /needs layers 6:18 .*nowhere.*does not exist/,
  );
  await assert.rejects(
    inferDataset({ weights: weights['full']!, input: fragment, threshold: 2, progress: false }),
    /threshold must be in \[0, 1\], got 2/,
  );
});
