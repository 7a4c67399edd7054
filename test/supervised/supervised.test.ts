/**
 * Supervised ink training (probe and fine-tune) on tiny synthetic fragments: checkpoints that `infer` can
 * rebuild, validation scores, exact resume, a frozen encoder that really stays frozen (weights and batch-norm
 * statistics), cutmix/mixup, NaN stops, encoder comparisons written to results.json, and clear errors.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { synthesize } from '../../src/data/synth/write.js';
import { trainPerEncoder } from '../../src/supervised/compare.js';
import { loadSupervisedConfig, type SupervisedConfig } from '../../src/supervised/config.js';
import { NonFiniteLossError, trainSupervised } from '../../src/supervised/trainer.js';
import * as torch from '../../src/torch/index.js';
import { loadSegmentationModel } from '../../src/train/segmentation-checkpoint.js';

let data = '';
const quiet = { progress: false, log: () => undefined };
const frag = (id: string, rows?: [number, number]) => ({
  path: join(data, 'fragments', id),
  z: [28, 36] as [number, number],
  ...(rows ? { rows } : {}),
});

async function config(name: string, presets: string[], set: string[] = []): Promise<SupervisedConfig> {
  return loadSupervisedConfig({
    preset: presets,
    extra: { data: { train: [frag('1'), frag('2')], val: [frag('3')], erode: 4 } },
    set: [
      `name=${name}`,
      `out=${mkdtempSync(join(tmpdir(), 'inkwell-sup-'))}`,
      'data.tile=32',
      'data.stride=16',
      'data.depth=8',
      'data.augment=none',
      'model.arch=resnet3d-10-reference',
      'model.widenFactor=0.125',
      'train.batchSize=8',
      'train.epochs=2',
      'data.workers=0',
      'data.maxTiles=32',
      ...set,
    ],
  });
}

const losses = (runDir: string) =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; loss: number })
    .filter((r) => r.kind === 'train')
    .map((r) => r.loss);

describe('supervised ink training', () => {
  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'inkwell-sup-data-'));
    await synthesize({
      out: data,
      fragments: 3,
      segments: 0,
      height: 384,
      width: 384,
      seed: 4,
      layers: 48,
      progress: false,
    });
  });

  it('fine-tunes, validates, and writes checkpoints that rebuild the same model', async () => {
    const r = await trainSupervised(await config('ft', ['finetune', 'cpu-small']), quiet);
    assert.equal(r.epochs.length, 2);
    const v = r.final!;
    for (const k of ['f05', 'precision', 'recall', 'iou', 'dice', 'threshold', 'loss'] as const)
      assert.ok(Number.isFinite(v[k]), k);
    assert.ok(v.tiles > 0);
    const { model, spec, epoch } = await loadSegmentationModel(r.lastCheckpoint!);
    try {
      assert.equal(epoch, 2);
      assert.deepEqual(
        { arch: spec.arch, depth: spec.depth, z: spec.z, tile: spec.tile, decoder: spec.decoder },
        { arch: 'resnet3d-10-reference', depth: 8, z: [28, 36], tile: 32, decoder: 'unet' },
      );
      const y = torch.tidy(() => torch.noGrad(() => model.eval().forward(torch.zeros([1, 1, 8, 32, 32])).shape));
      assert.deepEqual([...y], [1, 1, 32, 32]);
    } finally {
      model.dispose();
    }
  });

  it('resuming reproduces the uninterrupted losses', async () => {
    const full = await trainSupervised(
      await config('full', ['finetune', 'cpu-small'], ['train.cutmix=0.5', 'train.mixup=0.5']),
      quiet,
    );
    const cfg = await config('part', ['finetune', 'cpu-small'], ['train.cutmix=0.5', 'train.mixup=0.5']);
    await trainSupervised(cfg, { ...quiet, maxEpochs: 1 });
    const resumed = await trainSupervised(cfg, { ...quiet, resume: true });
    assert.deepEqual(
      resumed.epochs.map((e) => e.epoch),
      [2],
    );
    assert.deepEqual(losses(resumed.runDir), losses(full.runDir));
    assert.ok(losses(full.runDir).every(Number.isFinite));
  });

  it('a probe leaves the encoder exactly as loaded (weights and batch-norm statistics) and trains the decoder', async () => {
    const pre = await trainSupervised(await config('pre', ['finetune', 'cpu-small'], ['train.epochs=1']), quiet);
    const probe = await trainSupervised(
      await config('probe', ['probe', 'cpu-small'], [`encoder.weights=${pre.lastCheckpoint}`]),
      quiet,
    );
    const [a, b] = await Promise.all([torch.load(pre.lastCheckpoint!), torch.load(probe.lastCheckpoint!)]);
    torch.tidy(() => {
      const sdA = (a.value as Map<string, unknown>).get('state_dict') as Map<string, torch.Tensor>;
      const sdB = (b.value as Map<string, unknown>).get('state_dict') as Map<string, torch.Tensor>;
      assert.equal(sdA.size, sdB.size);
      for (const [k, t] of sdA)
        assert.equal(t.sub(sdB.get(k)!).abs().amax().item(), 0, `encoder ${k} changed during the probe`);
      const dec = ((b.value as Map<string, unknown>).get('modules') as Map<string, Map<string, torch.Tensor>>).get(
        'decoder',
      )!;
      assert.ok(dec.size > 0);
    });
  });

  it('a non-finite loss stops the run before the weights change', async () => {
    const cfg = await config(
      'nan',
      ['finetune', 'cpu-small'],
      ['optim.name=sgd', 'optim.lr=1e38', 'schedule.startFactor=1', 'train.gradClip=null', 'train.epochs=3'],
    );
    await assert.rejects(
      trainSupervised(cfg, quiet),
      (err: Error) =>
        err instanceof NonFiniteLossError &&
        /the loss became (NaN|-?Infinity) at epoch \d+, batch \d+\/\d+ \(optimiser step \d+\); stopped before updating the weights/.test(
          err.message,
        ),
    );
  });

  it('trains one run per encoder and seed, each seed with its own weights when asked', async () => {
    const cfg = await config('cmp', ['probe', 'cpu-small'], ['train.epochs=1']);
    const asked: [string, number][] = [];
    const runs = await trainPerEncoder(
      cfg,
      [
        { label: 'random', weights: null },
        { label: 'random-again', weights: null },
      ],
      [0, 1],
      quiet,
      (e, s) => {
        asked.push([e.label, s]);
        return e.weights;
      },
    );
    assert.deepEqual(
      runs.map((r) => [r.encoder, r.seed]),
      [
        ['random', 0],
        ['random', 1],
        ['random-again', 0],
        ['random-again', 1],
      ],
    );
    assert.deepEqual(asked, [
      ['random', 0],
      ['random', 1],
      ['random-again', 0],
      ['random-again', 1],
    ]);
    for (const r of runs) assert.ok(existsSync(r.checkpoint) && Number.isFinite(r.final.f05));
    assert.ok(existsSync(join(cfg.out, cfg.name, 'random-seed1', 'checkpoints')));
  });

  it('says clearly when validation has no tiles', async () => {
    const cfg = await config('noval', ['finetune', 'cpu-small'], ['data.tile=64', 'data.erode=60']);
    await assert.rejects(trainSupervised(cfg, quiet), /no 64x64 tile fits inside the eroded masks/);
  });
});
