/**
 * `inkwell bench models`: forward+backward of the reference study's 3D ResNet-18 and -50 (resnet3d-N-reference: training mode,
 * loss = mean of the 512 outputs) on the reference study's input [2,1,20,128,128], side by side with the same networks in
 * PyTorch (src/bench/peers/models_bench_server.py, same libtorch, same threads). TS and PyTorch repetitions interleave so
 * machine noise hits both columns alike; medians are reported. Each network also runs with channels_last_3d
 * weights and input, and the report says whether that layout helps on this CPU.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { createEncoder } from '../models/registry.js';
import type { ResNet3D } from '../models/resnet3d.js';
import { cpuPeakGflops, round } from './engine.js';
import { PythonPeer, pythonTorchMissing, timeSideBySide } from './python-peer.js';
import { type Spread, spreadOf } from '../util/stats.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';
import type { AmpMode } from '../torch/amp.js';

const roundSpread = (s: Spread): Spread => ({
  min: round(s.min, 3),
  q1: round(s.q1, 3),
  q3: round(s.q3, 3),
  max: round(s.max, 3),
});

export interface ModelCaseResult {
  name: string;
  ts_ms: number;
  torch_ms: number | null;
  /** ts_ms / torch_ms (below 1: inkwell faster). */
  ratio: number | null;
  /** The per-round ratios' min, quartiles and max (the machine's noise around `ratio`). */
  ratio_spread: Spread | null;
  /** Achieved by inkwell: gflop / ts time. */
  gflops: number;
  /** Convolution + fc floating-point operations per forward+backward (multiply-add = 2). */
  gflop: number;
  /** gflops as a share of the CPU's float32 peak (null when the peak is unknown). */
  peak_share: number | null;
}

export interface ChannelsLastVerdict {
  model: string;
  /** contiguous time / channels_last_3d time, per column (above 1: channels-last is faster). */
  ts_speedup: number;
  torch_speedup: number | null;
  helps: boolean;
}

export interface ModelBenchResult {
  cases: ModelCaseResult[];
  channels_last: ChannelsLastVerdict[];
  input: number[];
  widen_factor: number;
  threads: number;
  torch_version: string;
  peak_gflops: number | null;
  rounds: number;
  device: torch.Device;
  amp: AmpMode;
  notice?: string;
}

export interface ModelBenchOptions {
  /** Networks to time (default both). */
  models?: ('r3d18' | 'r3d50')[];
  /** Input [N,1,D,H,W] (default the reference study's [2,1,20,128,128]). */
  input?: number[];
  /** Stage-width multiplier (default 1; smaller for a quick run). */
  widenFactor?: number;
  /** Also time channels_last_3d (default true). */
  channelsLast?: boolean;
  /** Interleaved rounds (default 3) of `repsPerRound` (default 1) repetitions per side. */
  rounds?: number;
  repsPerRound?: number;
  /** Skip the PyTorch column even when PyTorch is installed. */
  noTorch?: boolean;
  /** Device and autocast precision of both columns (default cpu, off); see docs/devices.md. */
  device?: torch.Device;
  amp?: AmpMode;
  onProgress?: (msg: string) => void;
}

function convFlops(conv: torch.nn.Conv3d, inSize: readonly number[], n: number): { flops: number; out: number[] } {
  const out = inSize.map(
    (s, i) =>
      Math.floor((s + 2 * conv.padding[i]! - conv.dilation[i]! * (conv.kernelSize[i]! - 1) - 1) / conv.stride[i]!) + 1,
  );
  const k = conv.kernelSize.reduce((a, b) => a * b, 1);
  const flops = 2 * n * conv.outChannels * out.reduce((a, b) => a * b, 1) * (conv.inChannels / conv.groups) * k;
  return { flops, out };
}

/**
 * Forward FLOPs of `model`'s convolutions and fc for `input` [N,C,D,H,W], and of conv1 alone (whose input needs
 * no gradient, so its backward costs one forward instead of two).
 */
export function resnetForwardFlops(model: ResNet3D, input: readonly number[]): { total: number; conv1: number } {
  const n = input[0]!;
  const stem = convFlops(model.conv1, input.slice(2), n);
  let total = stem.flops;
  let size = model.stageSizes(input.slice(2)).layer1;
  for (const layer of [model.layer1, model.layer2, model.layer3, model.layer4]) {
    for (const block of layer.layers) {
      const convs = [...block.namedModules()]
        .filter(([name, m]) => m instanceof torch.nn.Conv3d && !name.startsWith('downsample'))
        .map(([, m]) => m as torch.nn.Conv3d);
      let s = size;
      for (const c of convs) {
        const r = convFlops(c, s, n);
        total += r.flops;
        s = r.out;
      }
      const ds = [...block.namedModules()].find(([name, m]) => name === 'downsample.0' && m instanceof torch.nn.Conv3d);
      if (ds) total += convFlops(ds[1] as torch.nn.Conv3d, size, n).flops;
      size = s;
    }
  }
  if (model.fc) total += 2 * n * model.fc.inFeatures * model.fc.outFeatures;
  return { total, conv1: stem.flops };
}

interface Case {
  name: string;
  model: string;
  cl3d: boolean;
  gflop: number;
  run: () => void;
  dispose: () => void;
}

function makeCase(
  model: 'r3d18' | 'r3d50',
  cl3d: boolean,
  input: number[],
  widenFactor: number,
  rt: DeviceRuntime,
): Case {
  torch.manualSeed(0);
  const depth = model === 'r3d18' ? 18 : 50;
  const net = rt.prepare(createEncoder(`resnet3d-${depth}-reference`, { widenFactor }));
  net.train();
  if (cl3d) net.toChannelsLast3d();
  const raw = torch.randn(input);
  const placed = rt.place(raw);
  const x: Tensor = torch.keep(cl3d ? placed.contiguous('channels_last_3d') : placed);
  if (x !== placed) placed.dispose();
  raw.dispose();
  const f = resnetForwardFlops(net, input);
  // Backward: input gradients + weight gradients (2x forward), except conv1, whose input needs no gradient.
  const gflop = (3 * f.total - f.conv1) / 1e9;
  return {
    name: `${model}${cl3d ? '_cl3d' : ''}`,
    model,
    cl3d,
    gflop,
    run: () => {
      net.zeroGrad();
      torch.tidy(() =>
        rt
          .forward(() => net.forward(x))
          .float()
          .mean()
          .backward(),
      );
      torch.synchronize(rt.device);
    },
    dispose: () => {
      net.dispose();
      x.dispose();
    },
  };
}

export async function benchModels(opts: ModelBenchOptions = {}): Promise<ModelBenchResult> {
  const models = opts.models ?? ['r3d18', 'r3d50'];
  const input = opts.input ?? [2, 1, 20, 128, 128];
  const widenFactor = opts.widenFactor ?? 1;
  const rounds = opts.rounds ?? 3;
  const reps = opts.repsPerRound ?? 1;
  const layouts = (opts.channelsLast ?? true) ? [false, true] : [false];
  if (input.length !== 5 || input[1] !== 1)
    throw new Error(`benchModels: input must be [N,1,D,H,W], got [${input.join(',')}]`);
  const threads = torch.getNumThreads();
  const missing = opts.noTorch ? 'PyTorch column skipped (noTorch)' : pythonTorchMissing();
  const caseNames = models.flatMap((m) => layouts.map((cl) => `${m}${cl ? '_cl3d' : ''}`));
  const device = opts.device ?? 'cpu';
  const amp = opts.amp ?? 'off';
  const rt = DeviceRuntime.open({ ...DEFAULT_DEVICE_CONFIG, device, amp }, 'bench models');
  const peer = missing
    ? null
    : await PythonPeer.start('models_bench_server.py', [
        String(threads),
        JSON.stringify({ input, widen: widenFactor, cases: caseNames, device, amp }),
      ]);
  const peak = cpuPeakGflops();
  const results: ModelCaseResult[] = [];
  try {
    for (const model of models) {
      for (const cl3d of layouts) {
        // One network alive at a time: ResNet-50's activations on the reference study's input take gigabytes.
        const c = makeCase(model, cl3d, input, widenFactor, rt);
        try {
          opts.onProgress?.(`models: ${c.name} (${c.gflop.toFixed(1)} GFLOP per step)`);
          const { tsMs, pyMs, roundRatios } = await timeSideBySide(c.run, peer?.peer ?? null, c.name, {
            warmup: 1,
            rounds,
            reps,
          });
          const gflops = c.gflop / (tsMs / 1000);
          results.push({
            name: c.name,
            ts_ms: round(tsMs, 1),
            torch_ms: pyMs === null ? null : round(pyMs, 1),
            ratio: pyMs === null ? null : round(tsMs / pyMs, 3),
            ratio_spread: roundRatios.length ? roundSpread(spreadOf(roundRatios)) : null,
            gflops: round(gflops, 1),
            gflop: round(c.gflop, 2),
            peak_share: peak ? round(gflops / peak, 3) : null,
          });
        } finally {
          c.dispose();
        }
      }
    }
  } finally {
    peer?.peer.close();
  }
  const channelsLast: ChannelsLastVerdict[] = [];
  for (const model of models) {
    const base = results.find((r) => r.name === model);
    const cl = results.find((r) => r.name === `${model}_cl3d`);
    if (!base || !cl) continue;
    const tsSpeedup = round(base.ts_ms / cl.ts_ms, 3);
    const torchSpeedup = base.torch_ms !== null && cl.torch_ms !== null ? round(base.torch_ms / cl.torch_ms, 3) : null;
    // "Helps" only beyond the noise of a shared machine: 5% faster.
    channelsLast.push({ model, ts_speedup: tsSpeedup, torch_speedup: torchSpeedup, helps: tsSpeedup > 1.05 });
  }
  return {
    cases: results,
    channels_last: channelsLast,
    input,
    widen_factor: widenFactor,
    threads,
    torch_version: torch.buildInfo().torchVersion,
    peak_gflops: peak,
    rounds,
    device,
    amp,
    ...(missing ? { notice: missing } : {}),
  };
}

/** The table `inkwell bench models` prints. */
export function printModels(r: ModelBenchResult, write: (line: string) => void = (l) => console.log(l)): void {
  const rows = r.cases.map((c) => [
    c.name,
    c.ts_ms.toFixed(0),
    c.torch_ms === null ? '-' : c.torch_ms.toFixed(0),
    c.ratio === null ? '-' : c.ratio.toFixed(3),
    c.ratio_spread === null
      ? '-'
      : `${c.ratio_spread.min.toFixed(2)} [${c.ratio_spread.q1.toFixed(2)}, ${c.ratio_spread.q3.toFixed(2)}] ${c.ratio_spread.max.toFixed(2)}`,
    c.gflop.toFixed(1),
    c.gflops.toFixed(1),
    c.peak_share === null ? '-' : `${(100 * c.peak_share).toFixed(0)}%`,
  ]);
  const head = ['case', 'inkwell ms', 'PyTorch ms', 'ratio', 'min [IQR] max per round', 'GFLOP', 'GFLOP/s', 'of peak'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  write(line(head));
  for (const row of rows) write(line(row));
  for (const v of r.channels_last) {
    write(
      `channels_last_3d on ${v.model}: ${v.helps ? 'helps' : 'does not help'} (inkwell x${v.ts_speedup.toFixed(2)}${v.torch_speedup === null ? '' : `, PyTorch x${v.torch_speedup.toFixed(2)}`})`,
    );
  }
  const on =
    r.device === 'cpu' && r.amp === 'off' ? '' : ` on ${r.device}${r.amp === 'off' ? '' : `, ${r.amp} autocast`}`;
  write(
    `forward+backward${on}, training mode, input [${r.input.join(',')}]${r.widen_factor !== 1 ? `, widen ${r.widen_factor}` : ''}; median of ${r.rounds} interleaved round(s); ` +
      `threads ${r.threads}, libtorch ${r.torch_version}${r.peak_gflops ? `, CPU peak ~${r.peak_gflops.toFixed(0)} GFLOP/s (AVX2 FMA)` : ''}`,
  );
  if (r.notice) write(r.notice);
}
