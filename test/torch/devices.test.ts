/**
 * Device plumbing on the CPU: device strings parse, moves to the same device are no-ops (PyTorch's Tensor.to
 * returns self), module and optimiser state move in place, CUDA requests on a CPU-only libtorch fail with one
 * error naming what is missing, checkpoints saved on 'cuda:0' load with a map location, and CPU bf16 autocast
 * matches PyTorch's (test/fixtures/device_fixtures.py).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn, optim } from '../../src/torch/index.js';
import { assertClose, loadNpyTensor } from '../helpers/compare.js';
import { hasTorchPython, makeFixtures, NO_TORCH_REASON } from '../helpers/python.js';

const CPU_ONLY = !torch.cudaStatus().built;

describe('device strings', () => {
  it('parses cpu, cuda and cuda:N, case- and space-insensitively', () => {
    assert.equal(torch.parseDevice('cpu'), 'cpu');
    assert.equal(torch.parseDevice(' CUDA '), 'cuda');
    assert.equal(torch.parseDevice('cuda:3'), 'cuda:3');
    assert.equal(torch.cudaIndex('cuda'), 0);
    assert.equal(torch.cudaIndex('cuda:12'), 12);
    assert.equal(torch.cudaIndex('cpu'), null);
    assert.ok(torch.sameDevice('cuda', 'cuda:0'));
    assert.ok(!torch.sameDevice('cuda:1', 'cuda:0'));
  });

  it('rejects everything else with the flag name and the accepted forms', () => {
    for (const bad of ['gpu', 'cpu:0', 'cuda:', 'cuda:-1', 'cuda:x', 'cuda0', 'mps', '']) {
      assert.equal(torch.isDevice(bad), false, bad);
      assert.throws(
        () => torch.parseDevice(bad, '--device'),
        /--device: '.*' is not a device; expected 'cpu', 'cuda' or 'cuda:N'/,
      );
    }
  });
});

describe('moves to the same device', () => {
  it('Tensor.to returns a reference to the same storage, unless a copy is asked for', () => {
    torch.tidy(() => {
      const x = torch.randn([2, 3]);
      for (const target of ['cpu', 'float32', { device: 'cpu' as const, dtype: 'float32' as const }] as const) {
        const y = x.to(target);
        assert.ok(y.isAliasOf(x), `to(${JSON.stringify(target)}) copied`);
        y.dispose(); // drops only that reference
        assert.ok(!x.disposed);
      }
      const c = x.to({ device: 'cpu', copy: true });
      assert.ok(!c.isAliasOf(x));
      assert.deepEqual(c.toArray(), x.toArray());
      const d = x.to('float64');
      assert.ok(!d.isAliasOf(x));
      assert.equal(d.dtype, 'float64');
    });
  });

  it('Module.to(cpu) leaves every parameter where it is; a dtype change keeps their identity', () => {
    const net = new nn.Sequential(new nn.Conv3d(1, 2, 3), new nn.BatchNorm3d(2));
    try {
      const params = net.parameters();
      const views = torch.tidy(() => params.map((p) => torch.keep(p.detach())));
      net.to('cpu');
      params.forEach((p, i) => assert.ok(p.isAliasOf(views[i]!), `parameter ${i} was copied`));
      net.to('float64');
      assert.deepEqual(net.parameters(), params);
      assert.ok(params.every((p) => p.dtype === 'float64' && p.requiresGrad));
      assert.equal(net.buffers().find((b) => b.dtype === 'int64')?.dtype, 'int64', 'num_batches_tracked stays int64');
      for (const v of views) v.dispose();
    } finally {
      net.dispose();
    }
  });

  it("optimiser state follows its parameters' device and dtype", () => {
    const lin = new nn.Linear(3, 2);
    const opt = new optim.SGD(lin.parameters(), { lr: 0.1, momentum: 0.9 });
    try {
      torch.tidy(() => {
        lin
          .forward(torch.randn([4, 3]))
          .sum()
          .backward();
        opt.step();
      });
      const buf = opt.stateOf(lin.weight)!.get('momentum_buffer') as torch.Tensor;
      const before = buf.toArray() as number[][];
      lin.to('float64');
      opt.followParameters();
      const after = opt.stateOf(lin.weight)!.get('momentum_buffer') as torch.Tensor;
      assert.equal(after, buf, 'the state tensor keeps its identity');
      assert.equal(after.dtype, 'float64');
      assertClose(after, torch.tensor(before, { dtype: 'float64' }), 'momentum buffer', { rtol: 1e-7, atol: 0 });
      torch.tidy(() => {
        lin
          .forward(torch.randn([4, 3], { dtype: 'float64' }))
          .sum()
          .backward();
        opt.step();
      });
    } finally {
      opt.dispose();
      lin.dispose();
    }
  });
});

describe('CUDA on a CPU-only libtorch', { skip: CPU_ONLY ? false : 'this libtorch has CUDA' }, () => {
  const missing = /CPU-only build, so it has no CUDA backend/;
  it('every entry point names the missing CUDA backend instead of crashing', async () => {
    assert.throws(
      () => torch.requireDevice('cuda', '--device'),
      /^Error: --device cuda: this libtorch \(.+\) is a CPU-only build/,
    );
    assert.throws(() => torch.requireDevice('cuda:2'), missing);
    assert.equal(torch.requireDevice('cpu'), 'cpu');
    torch.tidy(() => {
      const x = torch.ones([2]);
      assert.throws(() => x.to('cuda:0'), /Tensor\.to cuda:0: this libtorch .* CPU-only/);
      assert.throws(() => x.pinMemory(), missing);
      assert.equal(x.isPinned(), false);
    });
    const lin = new nn.Linear(2, 2);
    assert.throws(() => lin.to('cuda'), /Module\.to cuda: .*CPU-only/);
    assert.equal(lin.weight.device, 'cpu');
    lin.dispose();
    await assert.rejects(torch.load('/nonexistent.pth', { mapLocation: 'cuda' }), missing);
    assert.deepEqual(torch.getCudaRngStates(), []);
    assert.equal(torch.cudaMemoryStats(0), null);
    assert.equal(torch.memory().cuda, undefined);
    assert.throws(() => torch.amp.autocast('cpu', 'float32', () => 0), /bfloat16 or float16/);
  });
});

describe('checkpoints and autocast against PyTorch', { skip: hasTorchPython() ? false : NO_TORCH_REASON }, () => {
  let dir = '';
  before(() => {
    dir = makeFixtures('device_fixtures.py');
  });

  it("loads a checkpoint saved on 'cuda:0' onto the CPU (map location), as torch.load(map_location='cpu')", async () => {
    const path = join(dir, 'cuda_checkpoint.pth');
    const { value } = await torch.load(path, { mapLocation: 'cpu' });
    const sd = (value as Map<string, unknown>).get('state_dict') as Map<string, torch.Tensor>;
    const w = sd.get('weight')!;
    assert.equal(w.device, 'cpu');
    assertClose(w, loadNpyTensor(join(dir, 'cuda_checkpoint.npy')), 'weight', { rtol: 0, atol: 0 });
    assert.deepEqual(sd.get('steps')!.toArray(), [7]);
    for (const t of sd.values()) t.dispose();
    const read = await torch.readStateDict(path);
    assert.deepEqual([...read.keys()], ['weight', 'steps']);
    const lin = new nn.Linear(4, 3, { bias: false });
    lin.loadStateDict(new Map([['weight', read.get('weight')!]]));
    assertClose(lin.weight, loadNpyTensor(join(dir, 'cuda_checkpoint.npy')), 'loaded weight', { rtol: 0, atol: 0 });
    lin.dispose();
  });

  it('CPU bf16 autocast of conv3d -> batch norm -> relu -> linear matches PyTorch: dtypes, values and gradients', () => {
    const d = join(dir, 'autocast');
    const dtypes = JSON.parse(readFileSync(join(d, 'dtypes.json'), 'utf8')) as Record<string, string>;
    torch.tidy(() => {
      const inp = Object.fromEntries(
        ['x', 'w', 'b', 'gamma', 'beta', 'lw', 'lb'].map((k) => [k, loadNpyTensor(join(d, `in.${k}.npy`))]),
      );
      for (const k of ['w', 'b', 'gamma', 'beta', 'lw', 'lb']) inp[k]!.requiresGrad = true;
      const stages = torch.amp.autocast('cpu', 'bfloat16', () => {
        assert.deepEqual(torch.amp.autocastState('cpu'), { enabled: true, dtype: 'bfloat16' });
        const conv = torch.F.conv3d(inp['x']!, inp['w']!, inp['b']!, { padding: 1 });
        const bn = torch.F.batchNorm(conv, torch.zeros([4]), torch.ones([4]), {
          weight: inp['gamma']!,
          bias: inp['beta']!,
          training: true,
        });
        const act = bn.relu();
        const lin = torch.F.linear(act.flatten(1), inp['lw']!, inp['lb']!);
        return { conv, bn, act, lin };
      });
      assert.equal(torch.amp.autocastState('cpu').enabled, false, 'autocast is off again after the region');
      for (const [k, t] of Object.entries(stages)) {
        assert.equal(t.dtype, dtypes[k], `${k} dtype`);
        // Same libtorch, same kernels: bf16 results agree to within one bf16 rounding step.
        assertClose(t, loadNpyTensor(join(d, `out.${k}.npy`)), k, { rtol: 8e-3, atol: 1e-2 });
      }
      stages.lin.float().sum().backward();
      for (const k of ['w', 'b', 'gamma', 'beta', 'lw', 'lb']) {
        const g = inp[k]!.grad!;
        assert.equal(g.dtype, 'float32', `grad ${k} dtype`);
        assertClose(g, loadNpyTensor(join(d, `grad.${k}.npy`)), `grad ${k}`, { rtol: 2e-2, atol: 2e-2 });
      }
    });
  });
});
