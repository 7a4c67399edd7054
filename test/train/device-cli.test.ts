/**
 * `--device` and `--amp` through the commands: on a CPU-only libtorch every command that runs a model answers
 * `--device cuda` with one line naming what is missing (exit 1, no stack trace); a bad device string is refused
 * by the flag parser; and a tiny pretraining run in bf16 autocast trains, keeping fp32 weights in its checkpoint.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { pretrain } from '../../src/ssl/pretrain.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));

function inkwell(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('--device on a CPU-only libtorch', {
  skip: torch.cudaStatus().built ? 'this libtorch has CUDA' : false,
}, () => {
  const none = join(tmpdir(), 'inkwell-no-such-input');
  const cases: [string, string[]][] = [
    ['pretrain', ['pretrain', '--input', none, '--out', tmpdir(), '--name', 'never', '--device', 'cuda']],
    ['finetune', ['finetune', '--train', none, '--out', tmpdir(), '--name', 'never', '--device', 'cuda:0']],
    [
      'probe',
      [
        'probe',
        '--fragment',
        none,
        '--fragment',
        none,
        '--fragment',
        none,
        '--out',
        tmpdir(),
        '--name',
        'never',
        '--device',
        'cuda',
      ],
    ],
    [
      'infer',
      ['infer', '--weights', none, '--input', none, '--output', join(tmpdir(), 'never.png'), '--device', 'cuda'],
    ],
    [
      'embed',
      [
        'embed',
        '--arch',
        'resnet3d-18',
        '--input',
        none,
        '--output',
        join(tmpdir(), 'never.npy'),
        '--device',
        'cuda:3',
      ],
    ],
    ['cka --checkpoints', ['cka', '--checkpoints', none, '--input', none, '--device', 'cuda']],
    ['demo', ['demo', '--out', none, '--preset', 'tiny', '--device', 'cuda']],
  ];
  for (const [name, args] of cases) {
    it(`${name} names the missing CUDA backend in one line, before touching its inputs`, () => {
      const r = inkwell(args);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0]!,
        new RegExp(`^inkwell: ${name}: device cuda(:\\d)?: this libtorch \\(.+\\) is a CPU-only build`),
      );
      assert.equal(existsSync(none), false, 'nothing was written where the input or run folder would be');
    });
  }

  it('a device string that is not one is refused by the flag parser; fp16 on the CPU by the trainer', () => {
    const bad = inkwell(['pretrain', '--input', none, '--device', 'gpu']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--device: 'gpu' is not a device; expected 'cpu', 'cuda' or 'cuda:N'/);
    const fp16 = inkwell(['finetune', '--train', none, '--out', tmpdir(), '--name', 'never', '--amp', 'fp16']);
    assert.equal(fp16.status, 1);
    assert.match(fp16.stderr, /^inkwell: never: amp fp16 needs a CUDA device; on the CPU use amp bf16/);
    const demo = inkwell(['demo', '--out', none, '--preset', 'tiny', '--amp', 'fp16']);
    assert.equal(demo.status, 1);
    assert.equal(demo.stderr.trim(), 'inkwell: demo: amp fp16 needs a CUDA device; on the CPU use amp bf16 (or off)');
    assert.equal(existsSync(none), false, 'the demo wrote nothing');
  });
});

describe('bf16 autocast in a pretraining run', () => {
  it('trains two epochs with finite losses and writes fp32 weights', async () => {
    const data = await synthesizeTrainingData('inkwell-amp-data-', { fragments: 0, segments: 1, size: 160, seed: 3 });
    const out = mkdtempSync(join(tmpdir(), 'inkwell-amp-'));
    const cfg = await loadPretrainConfig({
      preset: 'cpu-small',
      inputs: [join(data, 'segments')],
      set: [
        'name=bf16',
        `out=${out}`,
        'amp=bf16',
        'data.maxTiles=8',
        'train.batchSize=4',
        'data.workers=0',
        'train.epochs=2',
        'model.widenFactor=0.125',
        'data.depth=8',
        'data.tile=32',
        'data.stride=16',
      ],
    });
    assert.equal(cfg.amp, 'bf16');
    const r = await pretrain(cfg, { progress: false, log: () => undefined });
    assert.equal(r.epochs.length, 2);
    for (const e of r.epochs) assert.ok(Number.isFinite(e.loss), `epoch ${e.epoch} loss ${e.loss}`);
    const sd = await torch.readStateDict(r.lastCheckpoint!);
    assert.equal(sd.get('conv1.weight')!.dtype, 'float32', 'autocast keeps the weights in fp32');
    assert.equal(torch.amp.autocastState('cpu').enabled, false, 'autocast is off after the run');
  });
});
