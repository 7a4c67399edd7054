/**
 * The main job (`npm run demo` / `inkwell demo`): the whole reference study on built-in synthetic data, answered
 * with numbers. Synthesise labelled fragments and unlabelled scroll-domain segments; pretrain a small 3D
 * ResNet with VICReg on the segments; CKA across its epochs; probe random vs VICReg encoders on fragments 1-4
 * (frozen encoder, light decoder, several seeds); fine-tune the better one; infer on the last, held-out fragment with
 * edge dropping; score; write the report. `transfer` adds the test the reference study could not run: models trained on
 * fragments scored on scroll-domain segments whose labels no training step sees (fragment-only vs
 * VICReg-pretrained-then-fine-tuned). Everything lands in `runs/<name>/`.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { synthesize } from '../data/synth/write.js';
import { PRETRAIN_PRESETS, PretrainConfigSchema } from '../ssl/config.js';
import { pretrain } from '../ssl/pretrain.js';
import { deepMerge, resolveConfig, type Plain } from '../util/config.js';
import { runCheckpointCka } from '../eval/cka-checkpoints.js';
import { compareEncoders, formatComparison, recordComparisons, verdict, type Comparison, type EncoderChoice } from '../supervised/compare.js';
import { summarize } from '../util/stats.js';
import { inferDataset } from '../infer/infer.js';
import { scoreImageFiles } from '../eval/score-images.js';
import { writeReport } from '../report/report.js';
import { SUPERVISED_PRESETS, SupervisedConfigSchema, type SupervisedConfig } from '../supervised/config.js';
import { trainSupervised } from '../supervised/trainer.js';
import type { ScoreResult } from '../eval/metrics.js';

export type DemoPreset = 'default' | 'transfer' | 'tiny';

/** Sizes of each stage; 'default' targets under 15 minutes on 2 cores. */
interface DemoScale {
  size: number;
  /** Labelled fragments: probes use 1-4; fine-tuning trains on all but the last two, validates on the next, tests on the last. */
  fragments: number;
  segments: number;
  /** Labelled segments held out as the scroll-domain test set (transfer). */
  transferSegments: number;
  pretrainEpochs: number;
  probeEpochs: number;
  probeSeeds: number;
  finetuneEpochs: number;
  tile: number;
  depth: number;
  /** Layers read: centred on the synthetic surface at layer 32 (docs/synthetic-data.md). */
  z: [number, number];
  widen: number;
  ckaSamples: number;
  maxPretrainTiles: number;
  /** Mask erosion for the fragments' tiles (at their 0.5 resolution factor). */
  erode: number;
}

const SCALES: Record<DemoPreset, DemoScale> = {
  default: { size: 512, fragments: 7, segments: 4, transferSegments: 0, pretrainEpochs: 12, probeEpochs: 10, probeSeeds: 3, finetuneEpochs: 24, tile: 64, depth: 16, z: [24, 40], widen: 0.25, ckaSamples: 96, maxPretrainTiles: 320, erode: 16 },
  transfer: { size: 512, fragments: 7, segments: 6, transferSegments: 2, pretrainEpochs: 12, probeEpochs: 10, probeSeeds: 3, finetuneEpochs: 24, tile: 64, depth: 16, z: [24, 40], widen: 0.25, ckaSamples: 96, maxPretrainTiles: 320, erode: 16 },
  tiny: { size: 384, fragments: 5, segments: 2, transferSegments: 1, pretrainEpochs: 2, probeEpochs: 1, probeSeeds: 2, finetuneEpochs: 1, tile: 32, depth: 8, z: [28, 36], widen: 0.125, ckaSamples: 8, maxPretrainTiles: 16, erode: 4 },
};

export interface DemoOptions {
  name?: string;
  out?: string;
  preset?: DemoPreset;
  seed?: number;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface DemoResult {
  runDir: string;
  comparisons: Comparison[];
  heldOut: { fragment: string; scores: ScoreResult; threshold: number; prediction: string };
  quality: { target: number; reached: boolean };
  report: string;
  minutes: number;
}

const ARCH = 'resnet3d-10-reference';

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const preset = o.preset ?? 'default';
  const scale = SCALES[preset];
  if (!scale) throw new Error(`demo: unknown preset '${preset}' (known: ${Object.keys(SCALES).join(', ')})`);
  const seed = o.seed ?? 0;
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const started = Date.now();
  const dir = resolve(o.out ?? 'runs', o.name ?? (preset === 'default' ? 'demo' : `demo-${preset}`));
  const data = join(dir, 'data');
  const quiet = { ...(o.progress === undefined ? {} : { progress: o.progress }), log };
  const step = (text: string) => log(`\n== ${text} (${((Date.now() - started) / 60000).toFixed(1)} min)`);
  await mkdir(dir, { recursive: true });

  step('1/7 synthesising fragments and scroll segments');
  if (!existsSync(join(data, 'manifest.json'))) {
    await synthesize({ out: data, fragments: scale.fragments, segments: scale.segments, height: scale.size, width: scale.size, seed, ...(o.progress === undefined ? {} : { progress: o.progress }) });
  } else log(`reusing ${data}`);
  const fragmentIds = Array.from({ length: scale.fragments }, (_, i) => String(i + 1));
  const testId = fragmentIds.at(-1)!;
  const fragment = (id: string, rows?: [number, number]) => ({ path: join(data, 'fragments', id), z: scale.z, ...(rows ? { rows } : {}) });
  const segmentIds = Array.from({ length: scale.segments }, (_, i) => `seg${String(i + 1).padStart(3, '0')}`);
  const transferIds = segmentIds.slice(scale.segments - scale.transferSegments);

  step('2/7 self-supervised pretraining (VICReg) on the unlabelled scroll segments');
  const pretrainCfg = resolveConfig(PretrainConfigSchema, PRETRAIN_PRESETS['cpu-small']!, {
    name: 'pretrain', out: dir, seed,
    // Two more layers than the model sees, for the reference study's z-shift of 0..2 slices.
    data: { datasets: segmentIds.map((id) => ({ path: join(data, 'segments', id), z: [scale.z[0] - 1, scale.z[1] + 1] })), tile: scale.tile, depth: scale.depth, maxTiles: scale.maxPretrainTiles },
    model: { arch: ARCH, widenFactor: scale.widen },
    schedule: { cosineEpochs: scale.pretrainEpochs },
    train: { epochs: scale.pretrainEpochs },
    checkpoint: { keepLast: scale.pretrainEpochs, keepEvery: 1 },
  });
  const pre = await pretrain(pretrainCfg, { overwrite: true, ...quiet });
  const vicregWeights = pre.lastCheckpoint!;

  step('3/7 CKA between the pretraining epochs (are the representations still changing?)');
  const ckaOut = join(dir, 'cka');
  await runCheckpointCka({
    checkpoints: join(pre.runDir, 'checkpoints'), input: join(data, 'segments', segmentIds[0]!), samples: scale.ckaSamples,
    arch: ARCH, inChannels: 1, widenFactor: scale.widen, strict: true, features: 'output', z: [scale.z[0], scale.z[0] + scale.depth],
    tile: scale.tile, stride: scale.tile / 4, seed, embedBatch: 16, threshold: 0.5, debiased: false, out: ckaOut, log,
  });

  const supervised = (presets: string[], layer: Plain): SupervisedConfig => resolveConfig(
    SupervisedConfigSchema, ...presets.map((p) => SUPERVISED_PRESETS[p]!),
    deepMerge({ out: dir, seed, data: { tile: scale.tile, depth: scale.depth, stride: scale.tile / 4, augment: 'none', erode: scale.erode }, model: { arch: ARCH, widenFactor: scale.widen } }, layer),
  );
  const encoders: EncoderChoice[] = [{ label: 'random', weights: null }, { label: 'vicreg', weights: vicregWeights }];
  const seeds = Array.from({ length: scale.probeSeeds }, (_, i) => seed + i);

  step(`4/7 frozen-encoder probes: random vs VICReg, ${seeds.length} seeds each`);
  // The reference study's second protocol on the synthetic fragments: train on 1, 2, 3; validate on 4, on tiles with ink.
  const probeCfg = supervised(['probe', 'cpu-small'], {
    name: 'probe',
    data: { train: [fragment('1'), fragment('2'), fragment('3')], val: [fragment('4')], valRequireInk: true },
    train: { epochs: scale.probeEpochs },
  });
  const probe = await compareEncoders(probeCfg, encoders, seeds, 'Frozen-encoder probe on fragments (train 1-3, validate on the ink tiles of 4)', { overwrite: true, ...quiet });
  const comparisons: Comparison[] = [probe];
  const best = [...probe.rows].sort((a, b) => summarize(b.f05).mean - summarize(a.f05).mean)[0]!;
  log(formatComparison({ ...probe, note: verdict(probe) }));

  step(`5/7 fine-tuning the full model from the ${best.encoder} encoder`);
  // Train on every fragment but the last two; choose the threshold on the next; the last stays unseen until the test.
  const finetuneLayer = (name: string, weights: string | null): Plain => ({
    name,
    // Flips and rot90 keep the ink's look exactly; a higher rate than the probe's suits the small CPU model.
    data: { train: fragmentIds.slice(0, -2).map((id) => fragment(id)), val: [fragment(fragmentIds.at(-2)!)], augment: 'flips' },
    encoder: { weights },
    optim: { lr: 3e-3 },
    train: { epochs: scale.finetuneEpochs },
  });
  const bestWeights = encoders.find((e) => e.label === best.encoder)!.weights;
  const ft = await trainSupervised(supervised(['finetune', 'cpu-small'], finetuneLayer('finetune', bestWeights)), { overwrite: true, ...quiet });
  const threshold = ft.final?.threshold ?? 0.5;

  step(`6/7 sliding-window inference on the held-out fragment ${testId} (outer tile edges dropped, rot90+flips TTA) and scoring`);
  const predictions = join(dir, 'predictions');
  await mkdir(predictions, { recursive: true });
  const held = await predictAndScore(ft.lastCheckpoint!, join(data, 'fragments', testId), testId, predictions, threshold, o.progress, 'inklabels.png', 'mask.png', 'ir.png');
  log(`held-out fragment ${testId} at the validation threshold ${threshold.toFixed(2)}: F0.5 ${held.f05.toFixed(3)}, AUC ${held.auc?.toFixed(3) ?? '-'}, precision ${held.precision.toFixed(3)}, recall ${held.recall.toFixed(3)}`);

  if (transferIds.length) {
    step('transfer: fragment-trained models scored on scroll-domain segments whose labels no training step saw');
    const rows: Comparison['rows'] = [];
    for (const [label, weights] of [['fragment-only (random init)', null], ['vicreg-pretrained + fine-tuned', vicregWeights]] as const) {
      const run = label === best.encoder || (weights === bestWeights) ? ft : await trainSupervised(supervised(['finetune', 'cpu-small'], finetuneLayer(`transfer-${weights ? 'vicreg' : 'random'}`, weights)), { overwrite: true, ...quiet });
      const row = { encoder: label, seeds: [] as number[], f05: [] as number[], auc: [] as number[], precision: [] as number[], recall: [] as number[], checkpoints: [run.lastCheckpoint ?? ''] };
      for (const [i, id] of transferIds.entries()) {
        const s = await predictAndScore(run.lastCheckpoint!, join(data, 'segments', id), `${id}-${weights ? 'vicreg' : 'random'}`, predictions, run.final?.threshold ?? 0.5, o.progress, `${id}_inklabels.png`, `${id}_mask.png`, null);
        row.seeds.push(i);
        row.f05.push(s.f05); row.auc.push(s.auc ?? Number.NaN); row.precision.push(s.precision); row.recall.push(s.recall);
      }
      rows.push(row);
    }
    const transfer: Comparison = { title: `Transfer to scroll-domain segments (${transferIds.join(', ')}; spread over segments)`, rows };
    comparisons.push(transfer);
    log(formatComparison({ ...transfer, note: verdict(transfer) }));
  }

  step('7/7 report');
  await recordComparisons(dir, comparisons);
  const target = 0.6;
  const summary = {
    preset, seed, minutes: (Date.now() - started) / 60000,
    heldOut: { fragment: testId, ...held }, quality: { target, reached: held.f05 >= target },
    comparisons: comparisons.map((c) => ({ title: c.title, verdict: verdict(c) })),
  };
  await writeFile(join(dir, 'scores.json'), JSON.stringify(summary, null, 1) + '\n');
  const report = await writeReport(dir);
  return {
    runDir: dir, comparisons, heldOut: { fragment: testId, scores: held, threshold, prediction: join(predictions, `${testId}_prob.png`) },
    quality: { target, reached: held.f05 >= target }, report: report.path, minutes: summary.minutes,
  };
}

/** Infers `input` with `weights`, writes `<id>_prob.png` (+ labels, mask, IR copies for the report) and scores it. */
async function predictAndScore(weights: string, input: string, id: string, predictions: string, threshold: number, progress: boolean | undefined,
  labelsName: string, maskName: string, irName: string | null): Promise<ScoreResult> {
  const prob = join(predictions, `${id}_prob.png`);
  await inferDataset({ weights, input, output: prob, threshold, tta: 'rot90+flips', ...(progress === undefined ? {} : { progress }) });
  const labels = join(predictions, `${id}_labels.png`);
  const mask = join(predictions, `${id}_mask.png`);
  await copyFile(join(input, labelsName), labels);
  await copyFile(join(input, maskName), mask);
  if (irName) await copyFile(join(input, irName), join(predictions, `${id}_ir.png`));
  const scored = await scoreImageFiles({ pred: prob, labels, mask }, { threshold });
  // The report shows it under the prediction (the `inkwell score --json` object).
  await writeFile(join(predictions, `${id}_score.json`), JSON.stringify(scored.scores) + '\n');
  return scored.scores;
}
