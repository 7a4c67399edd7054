import type { Command } from 'commander';
import { positiveInt, positiveNumber } from '../options.js';
import { benchEngine, type EngineBenchResult } from '../../bench/engine.js';
import { benchModels, printModels } from '../../bench/models.js';
import { benchPretrain, printPretrain } from '../../bench/pretrain.js';
import { benchInfer, printInfer } from '../../bench/infer.js';
import { benchDistributed, printDistributed } from '../../bench/distributed.js';
import { benchAugment } from '../../bench/data-augment.js';
import { benchRead } from '../../bench/data-read.js';
import { benchRemote } from '../../bench/data-remote.js';
import { addDeviceOptions, deviceOptions, type DeviceFlags } from '../device-options.js';

function printEngine(r: EngineBenchResult): void {
  const rows = r.cases.map((c) => [
    c.name,
    c.ts_ms.toFixed(1),
    c.torch_ms === null ? '-' : c.torch_ms.toFixed(1),
    c.ratio === null ? '-' : c.ratio.toFixed(3),
    c.gflops.toFixed(1),
  ]);
  const head = ['case', 'inkwell ms', 'PyTorch ms', 'ratio', 'GFLOP/s'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log(
    `threads ${r.threads}, libtorch ${r.torch_version}${r.peak_gflops ? `, CPU peak ~${r.peak_gflops.toFixed(0)} GFLOP/s (AVX2 FMA)` : ''}`,
  );
  if (r.notice) console.log(r.notice);
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks, side by side with PyTorch where it applies');
  bench
    .command('engine')
    .description('binding overhead on 3D ResNet layers: inkwell vs PyTorch, same libtorch and threads')
    .option('--json', 'print JSON {"cases": [{"name", "ts_ms", "torch_ms", "ratio", "gflops"}]}')
    .option('--rounds <n>', 'interleaved rounds (median over rounds x reps)', positiveInt('a round count'), 5)
    .action(async (o: { json?: boolean; rounds: number }) => {
      const r = await benchEngine({
        rounds: o.rounds,
        onProgress: (m) => {
          if (!o.json) process.stderr.write(m + '\n');
        },
      });
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else printEngine(r);
    });
  addDeviceOptions(bench.command('models'), { amp: true })
    .description(
      'r3d18 and r3d50 forward+backward on the reference-study input [2,1,20,128,128]: inkwell vs PyTorch, contiguous and channels-last-3d',
    )
    .option('--json', 'print JSON')
    .option(
      '--rounds <n>',
      'interleaved rounds; each ratio is reported as the median with its spread over rounds',
      positiveInt('a round count'),
      3,
    )
    .action(async (o: { json?: boolean; rounds: number } & DeviceFlags) => {
      const r = await benchModels({ rounds: o.rounds, ...deviceOptions(o) });
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else printModels(r);
    });
  bench
    .command('data')
    .description(
      'a random 20x256x256 crop of an uncompressed 16-bit Kaggle-width layer stack (positioned reads ' +
        'vs decoding whole layers; from disk vs over HTTP, cold and cached), and reference-study augmentations per second',
    )
    .option('--json', 'print JSON {"read": ..., "augment": ...}')
    .option('--height <n>', 'rows of the synthetic layer stack (Kaggle fragments: 8181)', positiveInt('a height'), 2048)
    .action(async (o: { json?: boolean; height: number }) => {
      const read = await benchRead({ height: o.height });
      const augment = benchAugment({});
      const remote = await benchRemote({ runs: 3 });
      if (o.json) {
        console.log(JSON.stringify({ read, augment, remote }, null, 1));
        return;
      }
      const s = read.stack;
      console.log(
        `random ${read.crop.join('x')} crop of ${s.layers} uncompressed uint16 layers of ${s.height}x${s.width}:`,
      );
      console.log(
        `  positioned reads      ${read.positioned.medianMs.toFixed(1)} ms (target <= ${read.targetMs} ms: ${read.meetsTarget ? 'met' : 'NOT met'})`,
      );
      console.log(
        `  decoding whole layers ${read.wholeLayerDecode.medianMs.toFixed(0)} ms (${read.wholeLayerDecode.perLayerMs.toFixed(0)} ms per layer); ratio ${read.ratio.toFixed(0)}x; identical pixels: ${read.identical}`,
      );
      console.log(
        `the same-size crop over HTTP from a local server ` +
          `(${remote.stack.layers}x${remote.stack.height}x${remote.stack.width}): disk ${remote.diskMs} ms, cold ` +
          `${remote.httpColdMs} ms (${remote.coldRequestsPerCrop} Range requests, ` +
          `${(remote.coldBytesPerCrop / remote.cropBytes).toFixed(2)}x the crop's bytes), cached ` +
          `${remote.httpCachedMs} ms (${remote.cachedBytes} bytes fetched); identical: ${remote.identical}`,
      );
      console.log(
        `reference-study augmentations (${augment.tile.join('x')} -> two views of ${augment.view.join('x')}): ${augment.crops_per_s.toFixed(0)} crops/s on one core (${augment.ms_per_two_view_crop.toFixed(1)} ms each)`,
      );
    });
  bench
    .command('infer')
    .description(
      'sliding-window inference throughput of r3d18 over a synthetic 2048x2048 fragment; stitching overhead; peak memory',
    )
    .option('--json', 'print JSON')
    .option('--size <n>', 'side of the synthetic fragment on disk', positiveInt('a size'), 2048)
    .action(async (o: { json?: boolean; size: number }) => {
      const r = await benchInfer({ size: o.size });
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else printInfer(r);
    });
  bench
    .command('distributed')
    .description(
      'data-parallel r3d18 VICReg on 2 local workers: communication share, scaling efficiency, 8-GPU NCCL estimate',
    )
    .option('--json', 'print JSON')
    .option('--bucket-cap-mb <mb>', "gradient bucket size (DDP's bucket_cap_mb)", positiveNumber('a bucket size'), 25)
    .option('--steps <n>', 'timed steps of each kind', positiveInt('a step count'), 4)
    .action(async (o: { json?: boolean; bucketCapMb: number; steps: number }) => {
      const r = await benchDistributed({ bucketCapMB: o.bucketCapMb, steps: o.steps });
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else printDistributed(r);
    });
  bench
    .command('all')
    .description('every benchmark in turn (tens of minutes on 2 cores)')
    .option('--json', 'print one JSON object with every result')
    .action(async (o: { json?: boolean }) => {
      const quiet = (m: string) => {
        if (!o.json) process.stderr.write(m + '\n');
      };
      const results: Record<string, unknown> = {};
      const run = async <T>(name: string, fn: () => Promise<T>, print: (r: T) => void) => {
        quiet(`== bench ${name}`);
        const r = await fn();
        results[name] = r;
        if (!o.json) print(r);
      };
      await run('engine', () => benchEngine({ onProgress: quiet }), printEngine);
      await run(
        'models',
        () => benchModels({}),
        (r) => printModels(r),
      );
      await run(
        'data',
        async () => ({ read: await benchRead({}), augment: benchAugment({}) }),
        (r) => console.log(JSON.stringify(r, null, 1)),
      );
      await run(
        'pretrain',
        () => benchPretrain({ onProgress: quiet }),
        (r) => printPretrain(r),
      );
      await run(
        'infer',
        () => benchInfer({}),
        (r) => printInfer(r),
      );
      await run(
        'distributed',
        () => benchDistributed({}),
        (r) => printDistributed(r),
      );
      if (o.json) console.log(JSON.stringify(results, null, 1));
    });
  addDeviceOptions(bench.command('pretrain'), { amp: true })
    .description(
      "a VICReg step (two views, r3d18, [8,1,20,64,64], SGD) with inkwell's data pipeline vs the same step in PyTorch",
    )
    .option('--json', 'print JSON')
    .option('--rounds <n>', 'interleaved rounds', positiveInt('a round count'), 4)
    .action(async (o: { json?: boolean; rounds: number } & DeviceFlags) => {
      const r = await benchPretrain({
        rounds: o.rounds,
        ...deviceOptions(o),
        onProgress: (m) => {
          if (!o.json) process.stderr.write(m + '\n');
        },
      });
      if (o.json) console.log(JSON.stringify(r, null, 1));
      else printPretrain(r);
    });
}
