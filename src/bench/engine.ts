/**
 * `inkwell bench engine`: the binding's overhead, measured side by side with PyTorch (same libtorch, same
 * threads) on the layers a 3D ResNet spends its time in. Repetitions interleave TS and PyTorch rounds so
 * that machine noise hits both columns alike; medians are reported.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as torch from '../torch/index.js';
import { F, nn, type Tensor } from '../torch/index.js';
import { PythonPeer, pythonTorchMissing, timeSideBySide } from './python-peer.js';

export interface EngineCaseResult {
  name: string;
  ts_ms: number;
  torch_ms: number | null;
  ratio: number | null;
  gflops: number;
  /** Floating-point operations per forward+backward, counted analytically (multiply-add = 2). */
  gflop: number;
}

export interface EngineBenchResult {
  cases: EngineCaseResult[];
  threads: number;
  torch_version: string;
  /** 2 cores x AVX2: 2 FMA units x 8 float32 lanes x 2 flops per cycle per core, at the reported clock. */
  peak_gflops: number | null;
  notice?: string;
}

class Bottleneck extends nn.Module {
  conv1 = this.registerModule('conv1', new nn.Conv3d(64, 64, 1, { bias: false }));
  bn1 = this.registerModule('bn1', new nn.BatchNorm3d(64));
  conv2 = this.registerModule('conv2', new nn.Conv3d(64, 64, 3, { padding: 1, bias: false }));
  bn2 = this.registerModule('bn2', new nn.BatchNorm3d(64));
  conv3 = this.registerModule('conv3', new nn.Conv3d(64, 256, 1, { bias: false }));
  bn3 = this.registerModule('bn3', new nn.BatchNorm3d(256));
  downsample = this.registerModule(
    'downsample',
    new nn.Sequential(new nn.Conv3d(64, 256, 1, { bias: false }), new nn.BatchNorm3d(256)),
  );
  forward(x: Tensor): Tensor {
    const a = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const b = F.relu(this.bn2.forward(this.conv2.forward(a)));
    const c = this.bn3.forward(this.conv3.forward(b));
    return F.relu(c.add(this.downsample.forward(x)));
  }
}

interface Case {
  name: string;
  gflop: number;
  run: () => void;
  dispose: () => void;
}

function makeCases(): Case[] {
  torch.manualSeed(0);
  const block = new Bottleneck();
  const xb = torch.keep(torch.randn([2, 64, 8, 32, 32], { requiresGrad: true }));
  const stem = new nn.Conv3d(1, 64, 7, { stride: [1, 2, 2], padding: 3, bias: false });
  const xs = torch.keep(torch.randn([2, 1, 16, 128, 128]));
  const lin = new nn.Linear(2048, 8192);
  const xl = torch.keep(torch.randn([256, 2048]));
  const S = 8 * 32 * 32;
  const blockFwd = 2 * 2 * S * (64 * 64 + 64 * 64 * 27 + 64 * 256 + 64 * 256);
  const stemFwd = 2 * 2 * 64 * (16 * 64 * 64) * 343;
  const linFwd = 2 * 256 * 2048 * 8192;
  const step = (f: () => Tensor) => () => torch.tidy(() => f().mean().backward());
  return [
    // The block's input requires grad (it is an activation): backward = input grads + weight grads = 2x forward.
    {
      name: 'bottleneck',
      gflop: (3 * blockFwd) / 1e9,
      run: step(() => block.forward(xb)),
      dispose: () => {
        block.dispose();
        xb.dispose();
      },
    },
    // Data needs no gradient: backward = weight grads only = 1x forward.
    {
      name: 'stem_conv',
      gflop: (2 * stemFwd) / 1e9,
      run: step(() => stem.forward(xs)),
      dispose: () => {
        stem.dispose();
        xs.dispose();
      },
    },
    {
      name: 'linear',
      gflop: (2 * linFwd) / 1e9,
      run: step(() => lin.forward(xl)),
      dispose: () => {
        lin.dispose();
        xl.dispose();
      },
    },
  ];
}

/** This CPU's float32 peak if it has AVX2+FMA (2 FMA ports x 8 lanes x 2 flops per cycle per core). */
export function cpuPeakGflops(): number | null {
  let flags = '';
  try {
    flags = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  if (!/\bavx2\b/.test(flags) || !/\bfma\b/.test(flags)) return null;
  // os.cpus() reports speed 0 in some VMs; /proc/cpuinfo's 'cpu MHz' is the clock the guest sees.
  const mhz = cpus()[0]?.speed || Number(/cpu MHz\s*:\s*([\d.]+)/.exec(flags)?.[1] ?? 0);
  if (!mhz) return null;
  return (cpus().length * 2 * 8 * 2 * mhz) / 1000;
}

export async function benchEngine(
  opts: { rounds?: number; repsPerRound?: number; onProgress?: (msg: string) => void } = {},
): Promise<EngineBenchResult> {
  const rounds = opts.rounds ?? 5;
  const reps = opts.repsPerRound ?? 2;
  const threads = torch.getNumThreads();
  const missing = pythonTorchMissing();
  const peer = missing ? null : await PythonPeer.start('torch_bench_server.py', [String(threads)]);
  const cases = makeCases();
  const results: EngineCaseResult[] = [];
  try {
    for (const c of cases) {
      opts.onProgress?.(`engine: ${c.name}`);
      const { tsMs, pyMs } = await timeSideBySide(c.run, peer?.peer ?? null, c.name, { warmup: 2, rounds, reps });
      results.push({
        name: c.name,
        ts_ms: round(tsMs),
        torch_ms: pyMs === null ? null : round(pyMs),
        ratio: pyMs === null ? null : round(tsMs / pyMs, 3),
        gflops: round(c.gflop / (tsMs / 1000), 1),
        gflop: round(c.gflop, 2),
      });
    }
  } finally {
    peer?.peer.close();
    cases.forEach((c) => c.dispose());
  }
  return {
    cases: results,
    threads,
    torch_version: torch.buildInfo().torchVersion,
    peak_gflops: cpuPeakGflops(),
    ...(missing ? { notice: missing } : {}),
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
