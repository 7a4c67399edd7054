/**
 * torch.save / torch.load / readStateDict with live tensors, against PyTorch: a Kinetics-style legacy
 * checkpoint (nested, 'module.' prefixes) written by PyTorch loads into the same architecture; a checkpoint
 * written by inkwell loads in PyTorch with strict=True; safetensors and .npy round-trip.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn, serialization } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON, runPython } from '../helpers/python.js';

function buildNet(): nn.Sequential {
  return new nn.Sequential(new nn.Conv3d(3, 4, 3), new nn.BatchNorm3d(4), new nn.Flatten(), new nn.Linear(4, 2));
}

const tmp = () => mkdtempSync(join(tmpdir(), 'inkwell-ckpt-'));

describe('checkpoints exchanged with PyTorch', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  it('PyTorch legacy {epoch, arch, state_dict with module.} and zip state dicts load strictly with identical values', async () => {
    const dir = makeFixtures('checkpoint_roundtrip.py');
    for (const file of ['net.legacy.pth', 'net.zip.pth']) {
      const net = buildNet();
      try {
        const sd = await torch.readStateDict(join(dir, file));
        const report = net.loadStateDict(sd);
        assert.deepEqual(report.missingKeys, []);
        torch.tidy(() => {
          for (const [k, v] of net.stateDict())
            assertClose(v, loadNpyTensor(join(dir, `${k}.npy`)), `${file} ${k}`, { rtol: 0, atol: 0 });
        });
        assert.equal(net.stateDict().get('1.num_batches_tracked')!.item(), 7);
      } finally {
        net.dispose();
      }
    }
    const whole = await torch.load(join(dir, 'net.legacy.pth'));
    assert.equal(whole.format, 'pth-legacy');
    const root = whole.value as Map<string, unknown>;
    assert.equal(root.get('epoch'), 200);
    assert.equal(root.get('arch'), 'toy');
  });

  it('an inkwell checkpoint loads in PyTorch with strict=True; floats stay floats', async () => {
    torch.manualSeed(11);
    const net = buildNet();
    try {
      const path = join(tmp(), 'ink.pth');
      await torch.save(path, { epoch: 3, lr: new serialization.PyFloat(1.0), state_dict: net.stateDict() });
      const facts = JSON.parse(runPython('checkpoint_roundtrip.py', ['--check', path])) as {
        epoch: number;
        lr: number;
        lr_is_float: boolean;
        state_dict_type: string;
        sums: Record<string, number>;
        dtypes: Record<string, string>;
      };
      assert.equal(facts.epoch, 3);
      assert.equal(facts.lr_is_float, true);
      assert.equal(facts.state_dict_type, 'OrderedDict');
      assert.equal(facts.dtypes['1.num_batches_tracked'], 'torch.int64');
      torch.tidy(() => {
        for (const [k, v] of net.stateDict()) {
          const ours = v.to('float64').sum().item();
          assert.ok(
            Math.abs(ours - facts.sums[k]!) <= 1e-9 * Math.max(1, Math.abs(ours)),
            `${k}: ${ours} vs ${facts.sums[k]}`,
          );
        }
      });
    } finally {
      net.dispose();
    }
  });
});

describe('tensor files round-trip', () => {
  it('safetensors and .npy keep dtype, shape and values', async () => {
    const dir = tmp();
    const a = torch.randn([3, 4]);
    const b = torch.arange(6).reshape([2, 3]);
    const h = torch.randn([5]).to('bfloat16');
    try {
      await torch.save(
        join(dir, 'x.safetensors'),
        new Map([
          ['a', a],
          ['b', b],
          ['h', h],
        ]),
        { metadata: { note: 'test' } },
      );
      const back = await torch.load(join(dir, 'x.safetensors'));
      assert.equal(back.format, 'safetensors');
      assert.deepEqual(back.metadata, { note: 'test' });
      const m = back.value as Map<string, torch.Tensor>;
      assertClose(m.get('a')!, a, 'a', { rtol: 0, atol: 0 });
      assert.equal(m.get('b')!.dtype, 'int64');
      assert.equal(m.get('h')!.dtype, 'bfloat16');
      assertClose(m.get('h')!, h, 'h', { rtol: 0, atol: 0 });
      for (const t of m.values()) t.dispose();
      await torch.saveNpy(join(dir, 'a.npy'), a);
      const a2 = torch.loadNpy(join(dir, 'a.npy'));
      assertClose(a2, a, 'npy', { rtol: 0, atol: 0 });
      a2.dispose();
      assert.throws(() => torch.loadNpy(join(dir, 'missing.npy')), /loadNpy\(.*missing\.npy\): ENOENT/);
    } finally {
      a.dispose();
      b.dispose();
      h.dispose();
    }
  });
});
