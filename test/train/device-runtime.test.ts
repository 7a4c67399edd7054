/**
 * The trainers' device pieces on the CPU: config keys validate, DeviceRuntime refuses what cannot run here with
 * one clear error, a bf16 step runs its forward under autocast and leaves fp32 weights, and an out-of-memory
 * error from libtorch's allocator becomes one that names the batch size and suggests gradient accumulation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import * as torch from '../../src/torch/index.js';
import { nn, optim } from '../../src/torch/index.js';
import {
  DEFAULT_DEVICE_CONFIG,
  DEVICE_CONFIG_FIELDS,
  DeviceRuntime,
  deviceOverrides,
  explainOutOfMemory,
  isOutOfMemory,
  parseAmp,
} from '../../src/train/device.js';

const Schema = z.object(DEVICE_CONFIG_FIELDS).strict();

describe('device config keys', () => {
  it('default to the CPU in fp32 and accept cuda:N, bf16 and fp16', () => {
    assert.deepEqual(Schema.parse({}), DEFAULT_DEVICE_CONFIG);
    assert.deepEqual(Schema.parse({ device: 'cuda:1', amp: 'fp16' }).device, 'cuda:1');
    assert.throws(() => Schema.parse({ device: 'gpu0' }), /expected 'cpu', 'cuda' or 'cuda:N'/);
    assert.throws(() => Schema.parse({ amp: 'fp8' }));
    assert.deepEqual(deviceOverrides({ device: 'cuda', amp: 'bf16' }), ['device=cuda', 'amp=bf16']);
    assert.deepEqual(deviceOverrides({}), []);
    assert.equal(parseAmp('bf16'), 'bf16');
    assert.throws(() => parseAmp('half'), /--amp: 'half' is not a precision mode; expected bf16, fp16 or off/);
  });

  it('refuses fp16 on the CPU and CUDA on a CPU-only libtorch', {
    skip: torch.cudaStatus().built ? 'this libtorch has CUDA' : false,
  }, () => {
    assert.throws(
      () => DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, amp: 'fp16' }, 'pretrain'),
      /pretrain: amp fp16 needs a CUDA device; on the CPU use amp bf16/,
    );
    assert.throws(
      () => DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, device: 'cuda:1' }, 'finetune'),
      /^Error: finetune: device cuda:1: this libtorch .* CPU-only build/,
    );
    // A data-parallel worker's bare 'cuda' is its own GPU.
    assert.throws(
      () => DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, device: 'cuda' }, 'pretrain', { localRank: 3 }),
      /pretrain: device cuda:3: /,
    );
    assert.equal(DeviceRuntime.open(DEFAULT_DEVICE_CONFIG, 'pretrain', { localRank: 3 }).device, 'cpu');
  });
});

describe('DeviceRuntime on the CPU', () => {
  it('a bf16 step: forward under autocast, fp32 weights and gradients, clipping, one optimiser step', () => {
    torch.manualSeed(1);
    const rt = DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, amp: 'bf16', channelsLast3d: true }, 'test');
    assert.equal(rt.scaler, null, 'bf16 needs no loss scaling');
    const net = rt.prepare(
      // Depth 4, not 2: with fewer slices than the kernel, libtorch 2.15's channels-last bf16 conv3d backward
      // returns garbage weight gradients (inf, NaN or ~1e12 from run to run; PyTorch 2.15 itself does the same).
      new nn.Sequential(new nn.Conv3d(1, 2, 3, { padding: 1 }), new nn.Flatten(), new nn.Linear(2 * 4 * 4 * 4, 1)),
    );
    const conv = net.parameters()[0]!;
    assert.ok(conv.isContiguous('channels_last_3d'), 'conv weight re-laid as channels_last_3d');
    const opt = new optim.SGD(net.parameters(), { lr: 0.1 });
    const before = torch.memory().liveTensors;
    try {
      const w0 = torch.tidy(() => net.parameters()[2]!.toArray()) as number[][];
      torch.tidy(() => {
        const x = rt.input(
          new Float32Array(2 * 4 * 4 * 4).map((_, i) => Math.sin(i)),
          [2, 1, 4, 4, 4],
        );
        assert.ok(x.isContiguous('channels_last_3d'));
        const out = rt.forward(() => net.forward(x));
        assert.equal(out.dtype, 'bfloat16', 'the forward ran under bf16 autocast');
        rt.scaleLoss(out.float().square().mean()).backward();
        assert.equal(conv.grad!.dtype, 'float32');
        assert.ok(Number.isFinite(conv.grad!.norm().item()), 'finite convolution gradients');
        assert.equal(rt.step(opt, 1), true);
        opt.zeroGrad();
      });
      assert.notDeepEqual(
        torch.tidy(() => net.parameters()[2]!.toArray()),
        w0,
      );
      assert.ok(net.parameters().every((p) => p.dtype === 'float32'));
      assert.equal(torch.memory().liveTensors, before, 'the step leaks no tensors');
    } finally {
      opt.dispose();
      net.dispose();
    }
  });

  it("turns libtorch's out-of-memory error into one naming the batch size and gradient accumulation", async () => {
    const huge = () => torch.tidy(() => torch.empty([2 ** 22, 2 ** 22]).sum());
    let raw: unknown;
    try {
      huge();
    } catch (err) {
      raw = err;
    }
    assert.ok(isOutOfMemory(raw), `libtorch's message: ${(raw as Error).message}`);
    await assert.rejects(
      explainOutOfMemory(huge, { what: 'pretrain', batchSize: 150, device: 'cpu', accumulation: 2 }),
      /^Error: pretrain: out of memory on cpu with a batch of 150\. Lower the batch and accumulate gradients to keep the effective batch: e\.g\. --set train\.batchSize=75 --set train\.gradAccumulation=4/,
    );
    await assert.rejects(
      explainOutOfMemory(
        () => {
          throw new Error('shape mismatch');
        },
        { what: 'x', batchSize: 2, device: 'cpu' },
      ),
      /^Error: shape mismatch$/,
    );
    assert.equal(await explainOutOfMemory(() => 3, { what: 'x', batchSize: 2, device: 'cpu' }), 3);
  });
});
