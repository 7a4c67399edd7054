/**
 * `inkwell report`: a realistic run folder (metrics.jsonl written by RunDir with pretrain, probe and val kinds,
 * a CKA folder written by writeCkaReport, prediction PNGs written by sharp, results.json with two comparison
 * tables, a config with hostile strings) renders into one self-contained page: every section present, the
 * table's mean +- std numbers, honest verdicts, escaping, downscaled inline images, no external references.
 * A pretraining-only run renders with "Not available" notes; a demo folder of runs (one level down, and a
 * probe group two levels down) renders every run; malformed files become warnings naming the file.
 * In headless Chromium (Debian's /usr/bin/chromium through playwright-core): the page renders, every image
 * loads, the SVG charts have a size, no console errors, no network requests; a full-page screenshot goes to
 * test-output/report.png.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { writeCkaReport } from '../../src/report/heatmap.js';
import { collectReport, MAX_IMAGE_SIDE, renderReport, writeReport } from '../../src/report/report.js';
import { RunDir } from '../../src/train/run-dir.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const HOSTILE = '</pre><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

/** A small deterministic generator (LCG) so that fixtures are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function writePretrainMetrics(run: RunDir, epochs: number, batches: number, seed = 1): void {
  const r = rng(seed);
  const dim = 512;
  for (let e = 1; e <= epochs; e++) {
    const sums = { loss: 0, invariance: 0, variance: 0, covariance: 0, std: 0 };
    for (let b = 1; b <= batches; b++) {
      const t = ((e - 1) * batches + b) / (epochs * batches);
      const invariance = 0.6 * Math.exp(-2 * t) + 0.05 * r();
      const variance = 0.9 * Math.exp(-1.5 * t) + 0.04 * r();
      const covariance = 2.5 * Math.exp(-2.5 * t) + 0.1 * r();
      const loss = 25 * invariance + 25 * variance + 5 * covariance;
      const std = (0.55 + 0.3 * t + 0.04 * (r() - 0.5)) / Math.sqrt(dim);
      const lr =
        e === 1
          ? 0.005 + 0.045 * (b / batches)
          : 1e-4 + 0.5 * (0.05 - 1e-4) * (1 + Math.cos((Math.PI * (e - 1)) / epochs));
      run.log('pretrain', (e - 1) * batches + b, {
        epoch: e,
        loss,
        invariance,
        variance,
        covariance,
        embedding_std: std,
        embedding_std_ratio: std * Math.sqrt(dim),
        lr,
        tiles_per_s: 40 + 5 * r(),
      });
      sums.loss += loss;
      sums.invariance += invariance;
      sums.variance += variance;
      sums.covariance += covariance;
      sums.std += std;
    }
    const m = (v: number): number => v / batches;
    run.log('pretrain_epoch', e, {
      loss: m(sums.loss),
      invariance: m(sums.invariance),
      variance: m(sums.variance),
      covariance: m(sums.covariance),
      embedding_std: m(sums.std),
      embedding_std_ratio: m(sums.std) * Math.sqrt(dim),
      tiles_per_s: 42,
    });
  }
}

/** Supervised kinds as src/supervised/trainer.ts logs them: per step under `kind`, `${kind}_epoch` and `val` (step = epoch). */
function writeProbeMetrics(run: RunDir, kind: string, epochs: number, batches: number, seed = 2, skill = 0.6): void {
  const r = rng(seed);
  for (let e = 1; e <= epochs; e++) {
    let sum = 0;
    for (let b = 1; b <= batches; b++) {
      const t = ((e - 1) * batches + b) / (epochs * batches);
      const loss = 0.7 - 0.3 * skill * t + 0.05 * r();
      run.log(kind, (e - 1) * batches + b, { epoch: e, loss, lr: 1e-3 * (1 - t) });
      sum += loss;
    }
    run.log(`${kind}_epoch`, e, { loss: sum / batches });
    const f05 = skill * (0.4 + 0.5 * (e / epochs)) + 0.02 * r();
    run.log('val', e, {
      f05,
      auc: e === 1 ? null : 0.6 + 0.3 * skill * (e / epochs),
      precision: f05 + 0.05,
      recall: f05 - 0.1,
      iou: f05 / 2,
      dice: f05 * 0.8,
      threshold: 0.4,
      loss: 0.6 - 0.2 * skill * (e / epochs),
    });
  }
}

function writeConfig(dir: string, name: string, extra = ''): void {
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      `name: ${JSON.stringify(name)}`,
      'seed: 7',
      'model:',
      '  arch: resnet3d-18',
      'method:',
      '  name: vicreg',
      'train:',
      '  epochs: 3',
      '  batchSize: 16',
      'optim:',
      '  name: sgd',
      '  lr: 0.05',
      'monitor:',
      '  collapseRatio: 0.25',
      extra,
    ].join('\n'),
  );
}

async function writeCka(dir: string): Promise<void> {
  const labels = ['epoch 1', 'epoch 2', 'epoch 3'];
  const linear = [
    [1, 0.31, 0.12],
    [0.31, 1, 0.42],
    [0.12, 0.42, 1],
  ];
  const rbf = [
    [1, 0.35, 0.18],
    [0.35, 1, 0.5],
    [0.18, 0.5, 1],
  ];
  await writeCkaReport(join(dir, 'cka'), { labels, linear, rbf, rbfThreshold: 0.5, debiased: true });
}

/** Grey images of a fragment: IR (smooth texture), ink labels (strokes), a probability map (blurred strokes + noise), a mask. */
async function writeFragment(
  dir: string,
  id: string,
  width: number,
  height: number,
  parts: readonly ('ir' | 'labels' | 'prob' | 'mask')[],
  seed = 3,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const r = rng(seed);
  const n = width * height;
  const labels = Buffer.alloc(n);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const line = Math.floor(y / (height / 6));
      const inLine = y % Math.floor(height / 6) < height / 14;
      const letter = Math.sin(x / (width / 40) + line) > 0.2;
      if (line > 0 && line < 5 && inLine && letter) labels[y * width + x] = 255;
    }
  const images: Record<string, Buffer> = {
    labels,
    ir: Buffer.from(
      Array.from(
        { length: n },
        (_, i) => 90 + 60 * Math.sin((i % width) / 37) * Math.cos(Math.floor(i / width) / 23) + 30 * r(),
      ),
    ),
    prob: Buffer.from(Array.from({ length: n }, (_, i) => Math.min(255, Math.max(0, 0.7 * labels[i]! + 70 * r())))),
    mask: Buffer.from(
      Array.from({ length: n }, (_, i) => (i % width > width * 0.03 && i % width < width * 0.97 ? 255 : 0)),
    ),
  };
  for (const p of parts) {
    await sharp(images[p]!, { raw: { width, height, channels: 1 } })
      .png()
      .toFile(join(dir, `${id}_${p}.png`));
  }
}

const iv = (mean: number, low: number, high: number) => ({ mean, low, high });
const entry = (label: string, auc: [number, number, number], verdict: string, note?: string) => ({
  label,
  auc: iv(...auc),
  f05: iv(auc[0] - 0.4, auc[1] - 0.4, auc[2] - 0.4),
  fromChance: auc[0] - 0.5,
  verdict,
  seeds: [1, 2, 3],
  folds: 4,
  ...(note ? { note } : {}),
});
const PROBE = {
  title: 'Linear probe on frozen encoders',
  protocol: 'linear probe, max over depth',
  varies: 'the random init',
  verdict: 'vicreg leads random (intervals apart)',
  arms: [
    entry('random init', [0.612, 0.58, 0.64], 'above chance by 0.112 AUC'),
    entry(`vicreg ${HOSTILE}`, [0.731, 0.7, 0.76], 'above chance by 0.231 AUC'),
  ],
  controls: [
    entry('chance', [0.5, 0.5, 0.5], 'chance'),
    entry('surface-statistic', [0.801, 0.78, 0.82], 'above chance by 0.301 AUC', 'hand-made'),
    entry('fine-tuned-frozen', [0.912, 0.9, 0.93], 'above chance by 0.412 AUC'),
  ],
};
const NOISE = {
  ...PROBE,
  title: 'Transfer test',
  verdict: 'every arm is at chance or below it: no ranking',
  arms: [entry('random init', [0.49, 0.46, 0.52], 'at chance')],
};
const CURVE = {
  title: 'Data efficiency: held-out AUC against label budget',
  budgets: ['half of fragment 1', 'fragment 1'],
  varies: 'the decoder init',
  series: [
    {
      label: 'random',
      points: [
        { budget: 'half of fragment 1', auc: iv(0.6, 0.55, 0.65), f05: iv(0.3, 0.2, 0.4) },
        { budget: 'fragment 1', auc: iv(0.7, 0.65, 0.75), f05: iv(0.4, 0.3, 0.5) },
      ],
    },
  ],
  verdicts: [
    { budget: 'half of fragment 1', verdict: 'random is the only arm above chance' },
    { budget: 'fragment 1', verdict: 'random is the only arm above chance' },
  ],
};

function writeResults(dir: string): void {
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ comparisons: [PROBE, NOISE], curves: [CURVE] }, null, 1));
}

/** A single run folder holding everything the report can show. */
async function buildFullRun(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-report-full-'));
  const run = new RunDir(dir);
  writeConfig(dir, `probe ${HOSTILE} & co`);
  writePretrainMetrics(run, 4, 40);
  writeProbeMetrics(run, 'probe', 4, 30);
  run.close();
  await writeCka(dir);
  await writeFragment(join(dir, 'predictions'), '2', 1400, 900, ['ir', 'labels', 'prob', 'mask']);
  await writeFragment(join(dir, 'predictions'), '4', 320, 200, ['labels', 'prob'], 5);
  writeFileSync(
    join(dir, 'predictions', '4_score.json'),
    JSON.stringify({ f05: 0.4321, precision: 0.5, recall: 0.3, iou: 0.2, dice: 0.33, auc: 0.8771, threshold: 0.41 }),
  );
  writeResults(dir);
  return dir;
}

/** The page with every data: URI shortened, so that failed matches print readable HTML. */
function lean(html: string): string {
  return html.replace(/data:image\/[a-z]+;base64,[A-Za-z0-9+/=]+/g, 'data:...');
}

function section(html: string, id: string): string {
  const start = html.indexOf(`<section id="${id}">`);
  assert.ok(start >= 0, `section ${id} is in the page`);
  const end = html.indexOf('</section>', start);
  return lean(html.slice(start, end));
}

let fullRun: Promise<string> | undefined;
const getFullRun = (): Promise<string> => (fullRun ??= buildFullRun());

test('a full run folder: every section, intervals and verdicts per arm and control, escaping, self-contained', async () => {
  const dir = await getFullRun();
  const r = await writeReport(dir);
  assert.equal(r.path, join(dir, 'report.html'));
  assert.deepEqual(r.sections, ['comparison', 'predictions', 'collapse', 'cka', 'curves', 'config']);
  assert.deepEqual(r.missing, []);
  assert.deepEqual(r.warnings, []);
  const html = readFileSync(r.path, 'utf8');
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  for (const id of ['summary', ...r.sections]) assert.ok(html.includes(`<section id="${id}">`), id);

  // The comparison tables: every arm and control with its intervals, distance from chance and verdict.
  const cmp = section(html, 'comparison');
  for (const c of [PROBE, NOISE]) {
    for (const e of [...c.arms, ...c.controls]) {
      assert.ok(
        cmp.includes(`${e.auc.mean.toFixed(3)} [${e.auc.low.toFixed(3)}, ${e.auc.high.toFixed(3)}]`),
        `${c.title} ${e.label.slice(0, 12)}`,
      );
      assert.ok(cmp.includes(e.verdict));
    }
    assert.ok(cmp.includes(c.verdict));
  }
  assert.match(cmp, /<span class="tag no">at chance<\/span>/);
  assert.match(cmp, /\+0\.231/);
  assert.equal((cmp.match(/<table class="results">/g) ?? []).length, 3, 'two comparisons and the curve');
  assert.equal((cmp.match(/<tr class="control">/g) ?? []).length, 6);
  assert.ok(
    cmp.includes('0.600 [0.550, 0.650]') && cmp.includes('<b>fragment 1</b>: random is the only arm above chance'),
  );
  assert.ok(cmp.includes('stroke-dasharray="4 3"><title>chance (AUC 0.5)</title>'));

  // Hostile strings from config.yaml and results.json are escaped everywhere.
  assert.ok(!html.includes('<script>'), 'no script element');
  assert.ok(!html.includes('onerror="'), 'no event handler attribute');
  assert.ok(html.includes('&lt;/pre&gt;&lt;script&gt;window.__pwned = 1&lt;/script&gt;'));
  assert.ok(section(html, 'config').includes('probe &lt;/pre&gt;'));

  // Self-contained: no external references, images inline.
  assert.ok(!/(src|href)="(?!data:|#)/.test(html), 'every src/href is a data: URI or an anchor');
  assert.ok(!/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(html), 'no URL other than the SVG namespace');
  assert.ok(
    html.includes(`Content-Security-Policy" content="default-src 'none'; img-src data:`),
    'a CSP forbids network and scripts',
  );

  // Predictions: fragment 2 with IR, labels, prediction and mask; fragment 4 without IR, with its score.
  const pred = section(html, 'predictions');
  assert.equal((pred.match(/<img /g) ?? []).length, 6);
  assert.match(pred, /<h4>2<\/h4>/);
  assert.match(pred, /1400\u00d7900, shown at 1024\u00d7658/);
  assert.match(pred, /Not available for this fragment: IR image/);
  assert.match(pred, /F0.5 0.432, AUC 0.877/);

  // Collapse monitor: healthy, with the threshold from the config and D recovered from the ratio.
  const col = section(html, 'collapse');
  assert.match(
    col,
    /No collapse: the spread of the normalised embeddings ended at \d+% of the healthy 1\/\u221aD \(D=512\) and never fell below the 0.25 warning ratio/,
  );
  assert.match(col, /warning 0.25/);

  // CKA: heatmaps and the numbers.
  const cka = section(html, 'cka');
  assert.equal((cka.match(/<img /g) ?? []).length, 2);
  assert.ok(cka.includes('<td class="num">0.420</td>') && cka.includes('<td class="num">0.500</td>'));
  assert.match(cka, /Linear CKA between different checkpoints: 0.12\u20130.42 \(mean 0.28; neighbours 0.36\)/);

  // Curves: one chart per numeric field and kind; val is plotted per epoch.
  const curves = section(html, 'curves');
  for (const k of ['pretrain', 'pretrain_epoch', 'probe', 'probe_epoch', 'val'])
    assert.ok(curves.includes(`<h4>${k} `), k);
  const charts = (curves.match(/<svg /g) ?? []).length;
  assert.equal(charts, 8 + 7 + 2 + 1 + 8, 'pretrain 8, pretrain_epoch 7, probe 2, probe_epoch 1, val 8');
  assert.match(curves, /aria-label="f05 per epoch \(val\)"/);
});

test('images are downscaled to fit 1024 px and stay decodable', async () => {
  const data = await collectReport(await getFullRun());
  const frag = data.folders[0]!.predictions!.fragments.find((f) => f.id === '2')!;
  for (const img of [frag.ir!, frag.labels!, frag.probs[0]!.image, frag.mask!]) {
    assert.ok(img.width <= MAX_IMAGE_SIDE && img.height <= MAX_IMAGE_SIDE);
    const b64 = img.src.slice(img.src.indexOf(',') + 1);
    const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
    assert.equal(meta.width, 1024);
    assert.equal(meta.height, 658);
  }
  const small = data.folders[0]!.predictions!.fragments.find((f) => f.id === '4')!;
  assert.equal(small.labels!.width, 320, 'small images are not enlarged');
  // Rendering is deterministic for the same data.
  assert.equal(renderReport(data), renderReport(data));
});

test('a pretraining-only run renders with "Not available" notes for predictions, comparison and CKA', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-report-pretrain-'));
  const run = new RunDir(dir);
  writeConfig(dir, 'pretrain');
  writePretrainMetrics(run, 3, 20);
  run.close();
  const out = join(dir, 'out', 'page.html');
  const r = await writeReport(dir, { output: out });
  assert.equal(r.path, out);
  assert.deepEqual(r.sections, ['collapse', 'curves', 'config']);
  assert.deepEqual(r.missing, ['comparison', 'predictions', 'cka']);
  const html = readFileSync(out, 'utf8');
  assert.match(section(html, 'predictions'), /Not available: no predictions\/ folder/);
  assert.match(section(html, 'comparison'), /Not available: no results.json/);
  assert.match(section(html, 'cka'), /Not available: no cka\/ folder/);
  assert.match(section(html, 'summary'), /Not available in this folder: /);
  assert.ok(!existsSync(join(dir, 'report.html')), '--output is honoured');
});

test('a collapsing run is flagged in the summary', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-report-collapse-'));
  const run = new RunDir(dir);
  for (let e = 1; e <= 5; e++) {
    const ratio = 0.9 / e ** 1.5;
    run.log('pretrain_epoch', e, { loss: 10 / e, embedding_std: ratio / Math.sqrt(256), embedding_std_ratio: ratio });
  }
  run.close();
  const html = renderReport(await collectReport(dir));
  assert.match(
    section(html, 'summary'),
    /<li class="warn"><b>Collapse monitor<\/b>.*WARNING: the embeddings&#39; spread fell below the warning ratio 0.25 in 3 of 5 pretrain_epoch records \(lowest 8% of healthy at epoch 5\); it ended at 8%/,
  );
  assert.match(section(html, 'collapse'), /D=256/);
});

test('a demo folder: runs one level down, a probe group two levels down, shared results/cka/predictions on top', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-report-demo-'));
  const pre = new RunDir(join(dir, 'pretrain'));
  writeConfig(pre.dir, 'pretrain');
  writePretrainMetrics(pre, 3, 20);
  pre.close();
  await writeCka(join(dir, 'pretrain'));
  for (const [enc, skill] of [
    ['random', 0.3],
    ['vicreg', 0.6],
  ] as const) {
    for (const seed of [1, 2]) {
      const name = `${enc}-seed${seed}`;
      const run = new RunDir(join(dir, 'probe', name));
      writeConfig(run.dir, name);
      writeProbeMetrics(run, name, 3, 10, seed, skill);
      run.close();
    }
  }
  const ft = new RunDir(join(dir, 'finetune'));
  writeProbeMetrics(ft, 'finetune', 2, 10);
  ft.close();
  writeResults(dir);
  await writeFragment(join(dir, 'predictions', 'random'), '2', 200, 120, ['ir', 'labels', 'prob']);
  await writeFragment(join(dir, 'predictions', 'vicreg'), '2', 200, 120, ['labels', 'prob'], 9);
  const r = await writeReport(dir);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.sections, ['comparison', 'predictions', 'collapse', 'cka', 'curves', 'config']);
  const data = await collectReport(dir);
  assert.deepEqual(
    data.folders.map((f) => f.name),
    [
      '.',
      'pretrain',
      'probe/random-seed1',
      'probe/random-seed2',
      'probe/vicreg-seed1',
      'probe/vicreg-seed2',
      'finetune',
    ],
  );
  const html = readFileSync(r.path, 'utf8');
  const curves = section(html, 'curves');
  assert.ok(
    curves.includes('id="curves-pretrain"') &&
      curves.includes('id="curves-probe"') &&
      curves.includes('id="curves-finetune"'),
  );
  assert.match(curves, /4 runs overlaid, one line per run, coloured by encoder: random \(2 runs\), vicreg \(2 runs\)/);
  // The probe runs log under their own names; the group reads those kinds as train / train_epoch.
  assert.ok(curves.includes('<h4>train ') && curves.includes('<h4>train_epoch ') && curves.includes('<h4>val '));
  const pred = section(html, 'predictions');
  assert.match(pred, /prediction: random/);
  assert.match(pred, /prediction: vicreg/);
  assert.equal((pred.match(/<img /g) ?? []).length, 4, 'IR and labels once, a prediction per encoder');
  assert.match(section(html, 'cka'), /From pretrain\/cka\//);
  assert.equal((section(html, 'config').match(/<details>/g) ?? []).length, 5);
});

test('malformed files become warnings naming the file; empty and missing folders are errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-report-bad-'));
  const run = new RunDir(dir);
  writePretrainMetrics(run, 2, 5);
  run.close();
  writeFileSync(
    join(dir, 'metrics.jsonl'),
    readFileSync(join(dir, 'metrics.jsonl'), 'utf8') + '{"kind":"pretrain","st',
  );
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify({ comparisons: [{ title: 't', arms: [{ label: 'a', auc: 0.5 }], controls: [] }] }),
  );
  mkdirSync(join(dir, 'predictions'));
  writeFileSync(join(dir, 'predictions', '3_prob.png'), 'not a png');
  writeFileSync(join(dir, 'config.yaml'), 'a: [unclosed');
  const r = await writeReport(dir);
  const w = r.warnings.join('\n');
  assert.match(w, /metrics\.jsonl: 1 line\(s\) skipped \(line 13\)/);
  assert.match(w, /results\.json: comparisons\[0\]\.arms\[0\]\.auc: expected \{mean, low, high\} numbers/);
  assert.match(w, /3_prob\.png: not a readable image/);
  assert.match(w, /config\.yaml is not valid YAML/);
  assert.deepEqual(r.sections, ['collapse', 'curves', 'config']);
  const html = readFileSync(r.path, 'utf8');
  assert.match(section(html, 'summary'), /Problems while reading/);

  await assert.rejects(writeReport(join(dir, 'nope')), /is not a folder; expected a run folder or a folder of runs/);
  const empty = mkdtempSync(join(tmpdir(), 'inkwell-report-empty-'));
  await assert.rejects(
    writeReport(empty),
    /holds no metrics\.jsonl, config\.yaml, results\.json, cka\/ or predictions\/.*expected a run folder or a folder of runs/,
  );
});

/**
 * `inkwell report ARGS` in a child process: through bin/inkwell when src/cli/commands/index.ts registers the
 * command, else through the command module on a bare commander program with src/cli/main.ts's error handling.
 */
function runReportCli(args: string[]): { code: number; stdout: string; stderr: string } {
  const wired = readFileSync(join(ROOT, 'src', 'cli', 'commands', 'index.ts'), 'utf8').includes('registerReport');
  if (wired) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'inkwell'), 'report', ...args], {
      encoding: 'utf8',
      cwd: ROOT,
    });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  }
  const mod = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'commands', 'report.js')).href;
  const script = `
    import { Command } from 'commander';
    const { registerReport } = await import(process.argv[1]);
    const program = new Command('inkwell').exitOverride();
    registerReport(program);
    try { await program.parseAsync(process.argv.slice(2), { from: 'user' }); }
    catch (e) { process.stderr.write('inkwell: ' + (e instanceof Error ? e.message : String(e)) + '\\n'); process.exitCode = 1; }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, mod, 'report', ...args], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

test('CLI: inkwell report RUN_DIR --output FILE --json, the readable summary, and a clear error', async () => {
  const dir = await getFullRun();
  const out = join(mkdtempSync(join(tmpdir(), 'inkwell-report-cli-')), 'r.html');
  const r = runReportCli([dir, '--output', out, '--json', '--title', 'Probe <b>report</b>']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { path: string; sections: string[]; missing: string[]; bytes: number };
  assert.equal(j.path, out);
  assert.equal(j.sections.length, 6);
  assert.ok(j.bytes > 10_000 && j.bytes < 5_000_000, `page size ${j.bytes}`);
  assert.match(readFileSync(out, 'utf8'), /<title>Probe &lt;b&gt;report&lt;\/b&gt;<\/title>/);

  const pre = mkdtempSync(join(tmpdir(), 'inkwell-report-cli-pre-'));
  const run = new RunDir(pre);
  writePretrainMetrics(run, 2, 5);
  run.close();
  const text = runReportCli([pre]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout.split('\n')[0]!.split(' (')[0], join(pre, 'report.html'));
  assert.match(text.stdout, /sections: collapse, curves\nnot available: comparison, predictions, cka, config/);

  const bad = runReportCli([join(pre, 'missing')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /inkwell: report: .*missing is not a folder; expected a run folder or a folder of runs/);
});

test('headless Chromium: the page renders, images load, charts have a size, no console errors or requests', {
  timeout: 180_000,
  skip: existsSync(CHROMIUM)
    ? false
    : `skipped: ${CHROMIUM} is missing (apt-get install chromium to run the browser check)`,
}, async () => {
  const { chromium } = await import('playwright-core');
  const dir = await getFullRun();
  const r = await writeReport(dir);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    const url = pathToFileURL(r.path).href;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (q) => {
      if (q.url() !== url && !q.url().startsWith('data:')) requests.push(q.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const state = (await page.evaluate(`(() => ({
      imgs: [...document.images].map((i) => ({ alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width })),
      svgs: [...document.querySelectorAll('svg.chart')].map((s) => { const b = s.getBoundingClientRect(); return [b.width, b.height]; }),
      sections: [...document.querySelectorAll('section')].map((s) => s.id),
      pwned: window.__pwned ?? null,
      title: document.title,
      width: document.documentElement.scrollWidth,
    }))()`)) as {
      imgs: { alt: string; complete: boolean; w: number; h: number; shown: number }[];
      svgs: [number, number][];
      sections: string[];
      pwned: number | null;
      title: string;
      width: number;
    };
    assert.deepEqual(state.sections, ['summary', 'comparison', 'predictions', 'collapse', 'cka', 'curves', 'config']);
    assert.equal(state.imgs.length, 8, 'six prediction images and two CKA heatmaps');
    for (const i of state.imgs) {
      assert.ok(i.complete && i.w > 0 && i.h > 0, `image ${i.alt} loaded (${i.w}x${i.h})`);
      assert.ok(i.w <= MAX_IMAGE_SIDE && i.shown > 50, `image ${i.alt}: ${i.w} px, shown ${i.shown} px`);
    }
    assert.ok(state.svgs.length >= 30, `${state.svgs.length} charts`);
    for (const [w, h] of state.svgs) assert.ok(w > 100 && h > 60, `chart size ${w}x${h}`);
    assert.equal(state.pwned, null, 'no script from the config ran');
    assert.equal(state.width, 1280, 'nothing overflows the viewport horizontally');
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);
    const shot = join(ROOT, 'test-output', 'report.png');
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report screenshot: ${shot} (page: ${r.path})`);
  } finally {
    await browser.close();
  }
});
