/**
 * Pretraining checkpoints leave the trainer usable elsewhere: `inkwell embed` reads the encoder from them,
 * `inkwell export` turns them into a file PyTorch loads with strict=True into the same architecture, and
 * SWA/EMA runs carry the averaged encoders (which differ from the online one).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { pretrain } from '../../src/ssl/pretrain.js';
import * as torch from '../../src/torch/index.js';
import { hasTorchPython, NO_TORCH_REASON, PYTHON, PYTHON_ENV } from '../helpers/python.js';
import { synthesizeTrainingData } from '../helpers/synth.js';

const BIN = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
let checkpoint = '';
let out = '';

function inkwell(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, INKWELL_PROGRESS: '0' },
  });
  assert.equal(r.status, 0, `inkwell ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe('pretraining checkpoints', () => {
  before(async () => {
    const data = await synthesizeTrainingData('inkwell-pck-data-', { fragments: 0, segments: 2, size: 256, seed: 3 });
    out = mkdtempSync(join(tmpdir(), 'inkwell-pck-'));
    const cfg = await loadPretrainConfig({
      preset: 'cpu-small',
      inputs: [join(data, 'segments')],
      set: [
        'name=p',
        `out=${out}`,
        'train.epochs=2',
        'data.maxTiles=16',
        'train.batchSize=8',
        'model.widenFactor=0.125',
        'data.depth=12',
        'data.tile=48',
        'data.stride=16',
        'data.workers=0',
        'average.swa.enabled=true',
        'average.swa.startEpoch=1',
        'average.ema.enabled=true',
        'average.ema.decay=0.5',
      ],
    });
    checkpoint = (await pretrain(cfg, { progress: false, log: () => undefined })).lastCheckpoint!;
  });

  it('SWA and EMA encoders are saved beside the online one, with the same names and other values', async () => {
    const { value } = await torch.load(checkpoint);
    torch.tidy(() => {
      const root = value as Map<string, unknown>;
      const online = root.get('state_dict') as Map<string, torch.Tensor>;
      const modules = root.get('modules') as Map<string, Map<string, torch.Tensor>>;
      for (const name of ['swa_encoder', 'ema_encoder']) {
        const avg = modules.get(name)!;
        assert.deepEqual([...avg.keys()], [...online.keys()], `${name} keys`);
        const diff = avg.get('conv1.weight')!.sub(online.get('conv1.weight')!).abs().amax().item();
        assert.ok(diff > 0, `${name} equals the online encoder`);
      }
    });
  });

  it('inkwell embed reads the encoder from a pretraining checkpoint', () => {
    const x = join(out, 'x.npy');
    torch.tidy(() => torch.saveNpySync(x, torch.rand([3, 1, 12, 48, 48])));
    const f = join(out, 'f.npy');
    inkwell(
      'embed',
      '--arch',
      'resnet3d-10-reference',
      '--widen-factor',
      '0.125',
      '--weights',
      checkpoint,
      '--input',
      x,
      '--output',
      f,
    );
    const feats = torch.loadNpy(f);
    assert.deepEqual([...feats.shape], [3, 64]);
    feats.dispose();
  });

  it('inkwell export turns it into a file PyTorch loads strictly', {
    skip: hasTorchPython() ? false : NO_TORCH_REASON,
  }, () => {
    const pth = join(out, 'encoder.pth');
    inkwell(
      'export',
      '--arch',
      'resnet3d-10-reference',
      '--widen-factor',
      '0.125',
      '--weights',
      checkpoint,
      '--out',
      pth,
    );
    const r = spawnSync(
      PYTHON,
      [
        '-c',
        `import torch, sys
sd = torch.load(sys.argv[1])
print(len(sd), tuple(sd['conv1.weight'].shape), tuple(sd['fc.weight'].shape))`,
        pth,
      ],
      { encoding: 'utf8', env: PYTHON_ENV },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+ \(8, 1, 7, 7, 7\) \(512, 64\)/);
  });
});
