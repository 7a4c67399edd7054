/**
 * `inkwell bench pretrain`: one VICReg step of the reference study's kind (two views, r3d18 reference-study variant, projector
 * 512-256-256-512, coefficients 25/25/5, SGD nesterov, clipping) side by side with the same step in PyTorch:
 * inkwell fed by its real data pipeline (tiles read, z-shifted and augmented in a worker thread while the
 * step runs), inkwell on fixed tensors (the step alone), and PyTorch on fixed tensors. Rounds interleave.
 * Next to it, the augmentation rate on one core, to show whether the pipeline keeps ahead of the step.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAugment } from './data-augment.js';
import { referenceAugmentations } from '../data/augment/presets.js';
import { PrefetchPipeline, type Batch } from '../data/pipeline.js';
import { synthesize } from '../data/synth/write.js';
import { tileSourceModule, type TileSourceOptions } from '../data/dataset-tile-source.js';
import { createEncoder } from '../models/registry.js';
import { createMethod } from '../ssl/registry.js';
import * as torch from '../torch/index.js';
import { optim } from '../torch/index.js';
import { round } from './engine.js';
import { median, PythonPeer, pythonTorchMissing } from './python-peer.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';
import type { AmpMode } from '../torch/amp.js';

export interface PretrainBenchOptions {
  /** Views per step [N,1,D,H,W] (default [8,1,20,64,64], the issue's). */
  input?: [number, number, number, number, number];
  widenFactor?: number;
  rounds?: number;
  stepsPerRound?: number;
  /** Pipeline worker threads (default 1). */
  workers?: number;
  /** Device and autocast precision of both columns (default cpu, off); see docs/devices.md. */
  device?: torch.Device;
  amp?: AmpMode;
  onProgress?: (msg: string) => void;
}

export interface PretrainBenchResult {
  input: number[];
  /** Median ms per step: inkwell with its data pipeline, inkwell on fixed tensors, PyTorch on fixed tensors. */
  ts_pipeline_ms: number;
  ts_step_ms: number;
  torch_ms: number | null;
  /** inkwell with the pipeline / PyTorch (target <= 1.05). */
  ratio: number | null;
  /** inkwell fixed tensors / PyTorch: the binding's share. */
  ratio_step_only: number | null;
  /** Time per step spent waiting for data (pipeline - fixed tensors), as a share of the step. */
  pipeline_overhead: number;
  /** Median ms the step waited for its batch (the pipeline's `next()`), measured directly. */
  data_wait_ms: number;
  tiles_per_s: number;
  /** Two-view reference-study augmentations per second on one core, and how many steps' worth of crops that is per step time. */
  augment_crops_per_s: number;
  augment_headroom: number;
  threads: number;
  workers: number;
  device: torch.Device;
  amp: AmpMode;
  notice?: string;
}

export async function benchPretrain(o: PretrainBenchOptions = {}): Promise<PretrainBenchResult> {
  const input = o.input ?? [8, 1, 20, 64, 64];
  const [B, , D, T] = input;
  const widenFactor = o.widenFactor ?? 1;
  const rounds = o.rounds ?? 4;
  const steps = o.stepsPerRound ?? 3;
  const workers = o.workers ?? 1;
  const say = o.onProgress ?? (() => undefined);
  const device = o.device ?? 'cpu';
  const amp = o.amp ?? 'off';
  const rt = DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, device, amp }, 'bench pretrain');
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-bench-pretrain-'));
  say('pretrain: synthesising scroll segments');
  await synthesize({ out: dir, fragments: 0, segments: 2, height: 384, width: 384, seed: 1, progress: false });
  const source: TileSourceOptions = {
    datasets: [{ path: join(dir, 'segments'), z: [14, 14 + D + 2] }],
    tile: T,
    stride: 16,
    depth: D,
    augment: referenceAugmentations({ depth: D }),
    views: 2,
    seed: 0,
  };
  const pipe = await PrefetchPipeline.open({
    source: { module: tileSourceModule, options: source as unknown as Record<string, never> },
    batchSize: B,
    seed: 0,
    workers,
    dropLast: true,
  });
  const missing = pythonTorchMissing();
  const threads = torch.getNumThreads();
  const peer = missing
    ? null
    : await PythonPeer.start('models_bench_server.py', [
        String(threads),
        JSON.stringify({ input, widen: widenFactor, device, amp }),
      ]);
  torch.manualSeed(0);
  const method = createMethod('vicreg', {
    encoder: () => createEncoder('resnet3d-18-reference', { widenFactor }),
    featureDim: 512,
    vicreg: { simCoeff: 25, stdCoeff: 25, covCoeff: 5 },
  });
  rt.prepare(method.modules);
  const opt = new optim.SGD(method.modules.parameters(), {
    lr: 0.05,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 5e-5,
  });
  const fixed = [torch.keep(rt.place(torch.randn(input))), torch.keep(rt.place(torch.randn(input)))] as const;
  const step = (v1: torch.Tensor, v2: torch.Tensor) =>
    torch.tidy(() => {
      rt.scaleLoss(rt.forward(() => method.step(v1, v2).loss)).backward();
      rt.step(opt, 1);
      opt.zeroGrad();
      torch.synchronize(rt.device);
    });
  // An endless stream of batches across epochs.
  async function* batches(): AsyncGenerator<Batch> {
    for (let e = 1; ; e++) yield* pipe.epoch(e);
  }
  const stream = batches();
  const waits: number[] = [];
  const stepWithPipeline = async (): Promise<number> => {
    const t0 = performance.now();
    const { value: batch } = await stream.next();
    waits.push(performance.now() - t0);
    torch.tidy(() =>
      step(
        rt.input((batch as Batch).arrays['view0'] as Float32Array, input),
        rt.input((batch as Batch).arrays['view1'] as Float32Array, input),
      ),
    );
    return performance.now() - t0;
  };
  try {
    say('pretrain: warm-up');
    await stepWithPipeline();
    step(fixed[0], fixed[1]);
    if (peer) await peer.peer.time('vicreg_r3d18', 1);
    const withPipe: number[] = [];
    const alone: number[] = [];
    const py: number[] = [];
    for (let r = 0; r < rounds; r++) {
      say(`pretrain: round ${r + 1}/${rounds}`);
      if (r === 0) waits.length = 0; // the warm-up's wait is the pipeline starting, not keeping up
      for (let i = 0; i < steps; i++) withPipe.push(await stepWithPipeline());
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        step(fixed[0], fixed[1]);
        alone.push(performance.now() - t0);
      }
      if (peer) py.push(...(await peer.peer.time('vicreg_r3d18', steps)));
    }
    const aug = benchAugment({});
    const pipeMs = median(withPipe);
    const stepMs = median(alone);
    const pyMs = peer ? median(py) : null;
    return {
      input,
      ts_pipeline_ms: round(pipeMs, 1),
      ts_step_ms: round(stepMs, 1),
      torch_ms: pyMs === null ? null : round(pyMs, 1),
      ratio: pyMs === null ? null : round(pipeMs / pyMs, 3),
      ratio_step_only: pyMs === null ? null : round(stepMs / pyMs, 3),
      pipeline_overhead: round(Math.max(0, pipeMs - stepMs) / pipeMs, 3),
      data_wait_ms: round(median(waits), 1),
      tiles_per_s: round((B * 1000) / pipeMs, 2),
      augment_crops_per_s: round(aug.crops_per_s, 1),
      augment_headroom: round((aug.crops_per_s * pipeMs) / 1000 / B, 2),
      threads,
      workers,
      device,
      amp,
      ...(missing ? { notice: missing } : {}),
    };
  } finally {
    await stream.return(undefined);
    await pipe.close();
    peer?.peer.close();
    fixed.forEach((t) => t.dispose());
    opt.dispose();
    method.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printPretrain(r: PretrainBenchResult, write: (line: string) => void = (l) => console.log(l)): void {
  const on =
    r.device === 'cpu' && r.amp === 'off' ? '' : ` on ${r.device}${r.amp === 'off' ? '' : `, ${r.amp} autocast`}`;
  write(
    `VICReg step${on}, r3d18 (reference-study variant), two views of [${r.input.join(',')}], SGD: median ms per step`,
  );
  write(
    `  inkwell + data pipeline (${r.workers} worker): ${r.ts_pipeline_ms.toFixed(0)} ms  (${r.tiles_per_s.toFixed(1)} tiles/s)`,
  );
  write(`  inkwell, fixed tensors:        ${r.ts_step_ms.toFixed(0)} ms`);
  write(`  PyTorch, fixed tensors:        ${r.torch_ms === null ? '-' : r.torch_ms.toFixed(0) + ' ms'}`);
  write(
    `  ratio with pipeline / PyTorch: ${r.ratio === null ? '-' : r.ratio.toFixed(3)} (step alone ${r.ratio_step_only === null ? '-' : r.ratio_step_only.toFixed(3)}); waiting for data: ${(100 * r.pipeline_overhead).toFixed(1)}% of the step (${r.data_wait_ms.toFixed(1)} ms median wait for a batch)`,
  );
  write(
    `  reference-study augmentations: ${r.augment_crops_per_s.toFixed(0)} two-view crops/s on one core = ${r.augment_headroom.toFixed(1)}x what one step consumes`,
  );
  if (r.notice) write(r.notice);
}
