/**
 * The main job (`npm run demo` / `inkwell demo`): the reference study's question - does self-supervised
 * pretraining on scroll segments help ink detection? - answered with instruments that can see ink, controls,
 * intervals and verdicts (docs/study-design.md), on built-in synthetic data. Synthesise labelled fragments and
 * unlabelled segments; pretrain VICReg (and masked reconstruction in 'full'); CKA across epochs; fine-tune the
 * ink model; linear probes on frozen encoders (leave-one-fragment-out) with the chance, surface-statistic and
 * fine-tuned-frozen controls; the reference study's frozen-encoder + U-Net protocol; fine-tuning at several
 * label budgets (the data-efficiency curve); sliding-window inference on the held-out fragment; report.
 * Everything lands in `runs/<name>/`; `scores.json` and `ink-model.pth` are contracts that scripts rely on.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { synthesize } from '../data/synth/write.js';
import { PRETRAIN_PRESETS, PretrainConfigSchema } from '../ssl/config.js';
import { pretrain } from '../ssl/pretrain.js';
import { deepMerge, resolveConfig, type Plain } from '../util/config.js';
import { runCheckpointCka } from '../eval/cka-checkpoints.js';
import { inferDataset } from '../infer/infer.js';
import { scoreImageFiles } from '../eval/score-images.js';
import { writeReport } from '../report/report.js';
import { SUPERVISED_PRESETS, SupervisedConfigSchema, type SupervisedConfig } from '../supervised/config.js';
import { trainSupervised } from '../supervised/trainer.js';
import { trainPerEncoder, type EncoderChoice } from '../supervised/compare.js';
import type { ScoreResult } from '../eval/metrics.js';
import { loadProbeTiles, type ProbeTiles } from '../study/columns.js';
import { formatStudyComparison, type StudyComparison } from '../study/comparison.js';
import { runProbeStudy } from '../study/probe-study.js';
import { recordResults, type EfficiencyCurve } from '../study/results.js';
import {
  epochsForBudget,
  runDataEfficiency,
  segmentationTable,
  type ScoredFragment,
} from '../study/segmentation-study.js';
import { encoderBuilder, externalEncoderModel } from '../study/encoders.js';
import { SURFACE_Z_RANGE } from '../data/layout.js';
import type { Device } from '../torch/index.js';
import type { AmpMode } from '../torch/amp.js';
import { DEFAULT_DEVICE_CONFIG, DeviceRuntime } from '../train/device.js';
import { runCrossFamily } from './cross-family.js';
import { SCALES, type DemoPreset } from './scale.js';
import { writeScores, type DemoScores } from './summary.js';

export type { DemoPreset } from './scale.js';

export interface DemoOptions {
  name?: string;
  out?: string;
  preset?: DemoPreset;
  seed?: number;
  /** Extra encoders for every arm, e.g. { label: 'k700', weights: 'r3d18_K_200ep.pth' } (`--encoder k700=FILE`). */
  encoders?: EncoderChoice[];
  progress?: boolean;
  log?: (line: string) => void;
  /**
   * Where every model of every stage runs (pretraining, CKA, fine-tuning, probes, the reference protocol, the
   * data-efficiency runs, their scoring and inference; default cpu) and the autocast precision of the stages
   * that train or infer (default off); see docs/devices.md.
   */
  device?: Device;
  amp?: AmpMode;
}

export interface DemoResult {
  runDir: string;
  comparisons: StudyComparison[];
  curves: EfficiencyCurve[];
  heldOut: { fragment: string; scores: ScoreResult; threshold: number; prediction: string };
  scores: DemoScores;
  report: string;
  minutes: number;
}

const ARCH = 'resnet3d-10-reference';

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const preset = o.preset ?? 'default';
  const scale = SCALES[preset];
  if (!scale) throw new Error(`demo: unknown preset '${preset}' (known: ${Object.keys(SCALES).join(', ')})`);
  const seed = o.seed ?? 0;
  // Before anything is written: a device this process cannot use, or fp16 on the CPU, is the one error.
  const { device, amp } = DeviceRuntime.open(
    { ...DEFAULT_DEVICE_CONFIG, ...(o.device ? { device: o.device } : {}), ...(o.amp ? { amp: o.amp } : {}) },
    'demo',
  );
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const started = Date.now();
  const dir = resolve(o.out ?? 'runs', o.name ?? (preset === 'default' ? 'demo' : `demo-${preset}`));
  const data = join(dir, 'data');
  const quiet = { ...(o.progress === undefined ? {} : { progress: o.progress }), log };
  const cpu0 = process.cpuUsage();
  // CPU seconds beside the wall clock: on a shared machine they, not the minutes, say what the run costs
  // (wall time on idle cores ~ CPU seconds / busy threads; docs/demo-budget.md).
  const cpuSeconds = () => {
    const c = process.cpuUsage(cpu0);
    return (c.user + c.system) / 1e6;
  };
  const step = (text: string) =>
    log(`\n== ${text} (${((Date.now() - started) / 60000).toFixed(1)} min, ${cpuSeconds().toFixed(0)} CPU-s)`);
  await mkdir(dir, { recursive: true });

  step('1/9 synthesising fragments and scroll segments');
  if (!existsSync(join(data, 'manifest.json'))) {
    await synthesize({
      out: data,
      fragments: scale.fragments,
      segments: scale.segments,
      height: scale.size,
      width: scale.size,
      seed,
      // Each fragment and segment draws its own surface wander and glyph scale: a model trained on one surface and
      // one hand learns them as part of what ink looks like (docs/study-design.md, "Variety in the training
      // fragments, and training to convergence").
      variety: 'wide',
      ...(o.progress === undefined ? {} : { progress: o.progress }),
    });
  } else log(`reusing ${data}`);
  const ids = Array.from({ length: scale.fragments }, (_, i) => String(i + 1));
  const [valId, testId] = [ids.at(-2)!, ids.at(-1)!];
  const trainIds = ids.slice(0, -2);
  // Every stage reads the CLI's default layers (SURFACE_Z_RANGE); models take `depth` slices centred in them.
  const z: [number, number] = [...SURFACE_Z_RANGE];
  const zOff = Math.floor((z[1] - z[0] - scale.depth) / 2);
  const centred: [number, number] = [z[0] + zOff, z[0] + zOff + scale.depth];
  const fragment = (id: string, rows?: [number, number]) => ({
    path: join(data, 'fragments', id),
    z,
    ...(rows ? { rows } : {}),
  });
  const segmentIds = Array.from({ length: scale.segments }, (_, i) => `seg${String(i + 1).padStart(3, '0')}`);

  step(
    `2/9 self-supervised pretraining on the unlabelled segments (VICReg${scale.masked ? ' and masked reconstruction' : ''}, ${scale.pretrainSeeds} seed(s))`,
  );
  const pretrainOnce = async (method: 'vicreg' | 'masked', s: number) =>
    await pretrain(
      resolveConfig(PretrainConfigSchema, PRETRAIN_PRESETS['cpu-small']!, {
        name: `pretrain-${method}-seed${s}`,
        out: dir,
        seed: s,
        device,
        amp,
        // The centred slices and one more on each side, for the z-shift of 0..2 slices.
        data: {
          datasets: segmentIds.map((id) => ({ path: join(data, 'segments', id), z: [centred[0] - 1, centred[1] + 1] })),
          tile: scale.tile,
          depth: scale.depth,
          // Segments are read at the fragments' scale (x0.5 here): overlapping tiles keep an epoch at
          // `maxPretrainTiles`.
          stride: scale.tile / 4,
          maxTiles: scale.maxPretrainTiles,
        },
        model: { arch: ARCH, widenFactor: scale.widen },
        method: { name: method, ...(method === 'vicreg' ? { projector: [128, 64] } : {}) },
        schedule: { cosineEpochs: scale.pretrainEpochs },
        train: { epochs: scale.pretrainEpochs, batchSize: scale.pretrainBatch },
        checkpoint: { keepLast: scale.pretrainEpochs, keepEvery: 1 },
      }),
      { overwrite: true, ...quiet },
    );
  const pretrainSeeds = Array.from({ length: scale.pretrainSeeds }, (_, i) => seed + i);
  const vicregRuns: Awaited<ReturnType<typeof pretrainOnce>>[] = [];
  for (const s of pretrainSeeds) vicregRuns.push(await pretrainOnce('vicreg', s));
  const maskedRuns: Awaited<ReturnType<typeof pretrainOnce>>[] = [];
  if (scale.masked) for (const s of pretrainSeeds) maskedRuns.push(await pretrainOnce('masked', s));

  step('3/9 CKA between the pretraining epochs (are the representations still changing?)');
  await runCheckpointCka({
    checkpoints: join(vicregRuns[0]!.runDir, 'checkpoints'),
    input: join(data, 'segments', segmentIds[0]!),
    samples: scale.ckaSamples,
    arch: ARCH,
    inChannels: 1,
    widenFactor: scale.widen,
    strict: true,
    features: 'output',
    z: centred,
    tile: scale.tile,
    stride: scale.tile / 4,
    seed,
    embedBatch: 16,
    threshold: 0.5,
    debiased: false,
    out: join(dir, 'cka'),
    device,
    log,
  });

  // Encoders of the arms; seed s of an arm uses pretraining run s mod (pretraining seeds).
  const perSeed = (runs: { lastCheckpoint: string | null }[]) => (s: number) =>
    runs[(s - seed) % runs.length]!.lastCheckpoint!;
  const encoders: (EncoderChoice & { perSeed?: (s: number) => string })[] = [
    { label: 'random', weights: null },
    { label: 'vicreg', weights: vicregRuns[0]!.lastCheckpoint!, perSeed: perSeed(vicregRuns) },
    ...(maskedRuns.length
      ? [{ label: 'masked', weights: maskedRuns[0]!.lastCheckpoint!, perSeed: perSeed(maskedRuns) }]
      : []),
    // External encoders (e.g. Kinetics-700) keep their own depth and width.
    ...(await Promise.all((o.encoders ?? []).map(async (e) => ({ ...e, model: await externalEncoderModel(e) })))),
  ];
  const weightsFor = (e: EncoderChoice, s: number) =>
    encoders.find((x) => x.label === e.label)?.perSeed?.(s) ?? e.weights;
  const varies = (what: string) =>
    `${what}${
      scale.pretrainSeeds > 1
        ? ' and the pretraining run (one per seed)'
        : '; the pretraining run is fixed (1 pretraining seed in this preset), so where nothing else varies the pretrained ' +
          "arms' seeds repeat one fit and their intervals are over tiles only"
    }`;
  const supervised = (presets: string[], layer: Plain): SupervisedConfig =>
    resolveConfig(
      SupervisedConfigSchema,
      ...presets.map((p) => SUPERVISED_PRESETS[p]!),
      deepMerge(
        {
          out: dir,
          seed,
          device,
          amp,
          data: { tile: scale.tile, depth: scale.depth, stride: scale.tile / 4, augment: 'none', erode: scale.erode },
          model: { arch: ARCH, widenFactor: scale.widen },
        },
        layer,
      ),
    );

  // Fine-tuning also trains (and validates) on tiles straddling the mask border: inference scores every mask
  // pixel, and a model that never saw the border lost 0.03 AUC on the held-out family-A fragment
  // (docs/study-design.md, "Mask borders"). Border tiles also give a half-fragment budget enough tiles for a batch.
  const borderTiles = { erode: 0, minMaskFraction: 0.25 };
  // The ink model's recipe, shared by the demo's model (family A) and the cross-family in-family bound (family B).
  const inkModelRecipe = (name: string, train: string[], val: string) =>
    supervised(['finetune', 'cpu-small'], {
      name,
      // Flips and rot90 keep the ink's look exactly; a higher rate than the probe's suits the small CPU model.
      // Measured on family B at this budget, adding the 'intensity' set or z-flips lowered both the held-out and
      // the cross-family AUC (docs/study-design.md), so the demo keeps the dihedral group only.
      data: {
        train: train.map((path) => ({ path, z })),
        val: [{ path: val, z }],
        augment: 'flips',
        ...borderTiles,
        maxTiles: scale.finetuneTiles,
      },
      encoder: { weights: vicregRuns[0]!.lastCheckpoint! },
      optim: { lr: 3e-3 },
      train: { epochs: scale.finetuneEpochs },
    });

  step('4/9 fine-tuning the ink model from the VICReg encoder');
  // Train on every fragment but the last two; choose the threshold on the next; the last stays unseen until the test.
  const ft = await trainSupervised(
    inkModelRecipe(
      'finetune',
      trainIds.map((id) => fragment(id).path),
      fragment(valId).path,
    ),
    { overwrite: true, ...quiet },
  );
  const inkModel = join(dir, 'ink-model.pth');
  await copyFile(ft.lastCheckpoint!, inkModel);
  const threshold = ft.final?.threshold ?? 0.5;

  step(`5/9 linear probes on frozen encoders, leave-one-fragment-out, ${scale.probeSeeds} seeds`);
  // Fragments 1, 2 (which fine-tuning trained on) and the validation and test fragments (which it did not).
  const probeIds = [ids[0]!, ids[1]!, valId, testId];
  const tiles: ProbeTiles[] = [];
  for (const id of probeIds) {
    tiles.push(
      await loadProbeTiles(fragment(id), {
        tile: scale.tile,
        stride: scale.tile,
        depth: scale.depth,
        erode: scale.erode,
        maxTiles: scale.probeTiles,
        pixelsPerTile: scale.probePixels,
        seed,
      }),
    );
  }
  const probeSeeds = Array.from({ length: scale.probeSeeds }, (_, i) => seed + i);
  const intervals = { resamples: scale.resamples, seed };
  const model = { arch: ARCH, widenFactor: scale.widen };
  const probe = await runProbeStudy({
    title: `Linear probe on frozen encoders (fragments ${probeIds.join(', ')}, leave-one-fragment-out)`,
    fragments: tiles,
    seeds: probeSeeds,
    stages: scale.probeStages,
    readout: 'max',
    maxIter: scale.probeIter,
    weightDecays: [1e-3, 1e-2, 1e-1],
    varies: varies('the random encoder initialisation (the pixels drawn are fixed per fragment)'),
    intervals,
    device,
    log,
    encoders: [
      ...encoders.map((e) => ({
        label: e.label,
        role: 'arm' as const,
        build: encoderBuilder(e.model ?? model, (s) => weightsFor(e, s)),
      })),
      {
        label: 'fine-tuned-frozen',
        role: 'fine-tuned-frozen' as const,
        folds: [2, 3],
        build: encoderBuilder(model, () => inkModel),
      },
    ],
  });
  log(formatStudyComparison(probe.comparison));
  const comparisons: StudyComparison[] = [probe.comparison];
  const curves: EfficiencyCurve[] = [];
  const scored: ScoredFragment = {
    val: tiles[2]!,
    test: tiles[3]!,
    fold: 3,
    probeRuns: probe.runs,
    intervals,
    device,
  };

  if (scale.refSeeds > 0) {
    step(`6/9 the reference study's protocol: frozen encoder + U-Net decoder, ${scale.refSeeds} seed(s)`);
    const base = supervised(['probe', 'cpu-small'], {
      name: 'reference-probe',
      model: { decoder: 'unet' },
      data: {
        train: trainIds.map((id) => fragment(id)),
        val: [fragment(valId)],
        maxTiles: scale.effEpochTiles * 2,
        maxValTiles: 16,
      },
      train: { epochs: scale.refEpochs, batchSize: scale.effBatch },
    });
    const refSeeds = Array.from({ length: scale.refSeeds }, (_, i) => seed + i);
    const runs = await trainPerEncoder(base, encoders, refSeeds, { overwrite: true, ...quiet }, weightsFor);
    const table = await segmentationTable(
      'Reference protocol: frozen encoder + U-Net decoder',
      `frozen encoder, U-Net decoder trained on fragments ${trainIds.join(', ')}; threshold on ${valId}, scored on ${testId}`,
      varies('the decoder initialisation and tile order'),
      runs,
      scored,
    );
    log(formatStudyComparison(table));
    comparisons.push(table);
  }

  if (scale.effSeeds > 0) {
    step(`7/9 data efficiency: fine-tuning from each encoder at three label budgets, ${scale.effSeeds} seed(s)`);
    const eff = await runDataEfficiency({
      budgets: [
        { label: 'half of fragment 1', train: [fragment(ids[0]!, [0, 0.5])] },
        { label: 'fragment 1', train: [fragment(ids[0]!)] },
        { label: `fragments ${trainIds.join(', ')}`, train: trainIds.map((id) => fragment(id)) },
      ],
      // Same optimiser steps at every budget: at most `effEpochTiles` tiles an epoch, a smaller budget repeats its tiles.
      base: async (b) =>
        supervised(['finetune', 'cpu-small'], {
          name: `efficiency-${b.label.replace(/[^\w]+/g, '-')}`,
          data: {
            train: b.train,
            val: [fragment(valId)],
            augment: 'flips',
            ...borderTiles,
            maxTiles: scale.effEpochTiles,
            maxValTiles: 16,
          },
          optim: { lr: 3e-3 },
          train: {
            batchSize: scale.effBatch,
            epochs: await epochsForBudget(b.train, {
              tile: scale.tile,
              stride: scale.tile / 4,
              ...borderTiles,
              depth: scale.depth,
              epochs: scale.effEpochs,
              epochTiles: scale.effEpochTiles,
            }),
          },
        }),
      encoders: encoders,
      seeds: Array.from({ length: scale.effSeeds }, (_, i) => seed + i),
      weightsFor,
      varies: varies('the decoder initialisation and tile order'),
      scored,
      train: { overwrite: true, ...quiet },
      log,
    });
    for (const c of eff.comparisons) log(formatStudyComparison(c));
    comparisons.push(...eff.comparisons);
    curves.push(eff.curve);
  }

  step(
    `8/9 sliding-window inference on the held-out fragment ${testId} and on family-B fragments (rot90+flips TTA), scoring`,
  );
  const predictions = join(dir, 'predictions');
  await mkdir(predictions, { recursive: true });
  const infer = { threshold, device, amp, ...(o.progress === undefined ? {} : { progress: o.progress }) };
  const held = await predictAndScore(inkModel, join(data, 'fragments', testId), testId, predictions, infer);
  log(
    `held-out fragment ${testId} at the validation threshold ${threshold.toFixed(2)}: F0.5 ${held.f05.toFixed(3)}, AUC ${held.auc?.toFixed(3) ?? '-'}`,
  );
  // Cross-family transfer: the same model and threshold on the independently written family B, no layer-order flag.
  const cross = await runCrossFamily({
    data: join(dir, 'data-family-b'),
    size: scale.crossSize,
    seed: seed + 1,
    model: { weights: inkModel, threshold },
    referenceFragment: fragment(valId).path,
    inFamily: {
      data: join(dir, 'data-family-b-train'),
      fragments: scale.inFamilyFragments,
      train: async (train, val) => {
        const r = await trainSupervised(inkModelRecipe('finetune-family-b', train, val), { overwrite: true, ...quiet });
        return { weights: r.lastCheckpoint!, threshold: r.final?.threshold ?? 0.5 };
      },
    },
    predictions,
    intervals,
    log,
    predict: (m, input, id) => predictAndScore(m.weights, input, id, predictions, { ...infer, threshold: m.threshold }),
    ...(o.progress === undefined ? {} : { progress: o.progress }),
  });
  log(formatStudyComparison(cross.comparison));

  step('9/9 results, scores and report');
  // The report shows the transfer as a table beside the study's; scores.json keeps it under `crossFamily`.
  await recordResults(dir, { comparisons: [...comparisons, cross.comparison], curves });
  const minutes = (Date.now() - started) / 60000;
  const scores = await writeScores(dir, {
    preset,
    seed,
    minutes,
    cpuSeconds: cpuSeconds(),
    heldOut: { fragment: testId, ...held, threshold },
    comparisons,
    curves,
    crossFamily: cross.crossFamily,
  });
  const report = await writeReport(dir);
  return {
    runDir: dir,
    comparisons,
    curves,
    heldOut: { fragment: testId, scores: held, threshold, prediction: join(predictions, `${testId}_prob.png`) },
    scores,
    report: report.path,
    minutes,
  };
}

/** Infers `input` with `weights`, writes `<id>_prob.png` (+ labels, mask, IR copies for the report) and scores it. */
async function predictAndScore(
  weights: string,
  input: string,
  id: string,
  predictions: string,
  o: { threshold: number; device: Device; amp: AmpMode; progress?: boolean },
): Promise<ScoreResult> {
  const prob = join(predictions, `${id}_prob.png`);
  await inferDataset({ weights, input, output: prob, tta: 'rot90+flips', ...o });
  const labels = join(predictions, `${id}_labels.png`);
  const mask = join(predictions, `${id}_mask.png`);
  await copyFile(join(input, 'inklabels.png'), labels);
  await copyFile(join(input, 'mask.png'), mask);
  await copyFile(join(input, 'ir.png'), join(predictions, `${id}_ir.png`));
  const scored = await scoreImageFiles({ pred: prob, labels, mask }, { threshold: o.threshold });
  // The report shows it under the prediction (the `inkwell score --json` object).
  await writeFileAtomic(join(predictions, `${id}_score.json`), JSON.stringify(scored.scores) + '\n');
  return scored.scores;
}
