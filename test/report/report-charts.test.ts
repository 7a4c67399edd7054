/**
 * The report's building blocks: nice axis ticks and their labels, thinning that keeps spikes, line and interval
 * charts (escaping, gaps, reference lines, log scale, empty data), mean +- std and the wording of the
 * comparison verdict in each case (clear lead, within noise, single seed, tie, one row, AUC disagreeing),
 * metrics.jsonl parsing, results.json validation errors, and the collapse summary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  extent,
  formatNumber,
  formatTick,
  intervalChart,
  lineChart,
  niceStep,
  niceTicks,
  thinPoints,
  type Point,
} from '../../src/report/charts.js';
import { collapseSummary, isPerEpochKind, parseMetrics, runLabel } from '../../src/report/report.js';
import { parseResultsFile } from '../../src/study/results.js';

test('niceTicks: 1/2/5 steps, a range widened to whole steps, flat and tiny ranges', () => {
  assert.deepEqual(niceTicks(0, 1, 5), { ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], lo: 0, hi: 1, step: 0.2 });
  const t = niceTicks(9.3, 51.2, 5);
  assert.equal(t.step, 10);
  assert.deepEqual(t.ticks, [0, 10, 20, 30, 40, 50, 60]);
  const flat = niceTicks(0.4, 0.4, 4);
  assert.ok(flat.lo < 0.4 && flat.hi > 0.4, 'a constant series gets a range around it');
  assert.deepEqual(niceTicks(0, 0, 4).ticks.includes(0), true);
  const tiny = niceTicks(1e-4, 1e-3, 5);
  assert.ok(Math.abs(tiny.step - 2e-4) < 1e-12 && tiny.ticks.every((v) => Number.isFinite(v)));
  assert.equal(niceStep(7, 1), 10);
  assert.deepEqual(extent([3, -1, 7]), [-1, 7]);
  assert.deepEqual(extent([]), [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
  assert.equal(niceStep(0, 5), 1);
  assert.throws(() => niceTicks(2, 1), /range \[2, 1\] is invalid, expected finite min <= max/);
  assert.throws(() => niceTicks(Number.NaN, 1), /invalid/);
});

test('formatTick uses one notation per axis; formatNumber is compact', () => {
  assert.equal(formatTick(0.2, 0.2), '0.2');
  assert.equal(formatTick(0.25, 0.05), '0.25');
  assert.equal(formatTick(150, 50), '150');
  assert.equal(formatTick(0, 0.1), '0');
  assert.equal(formatTick(2e-4, 2e-4, 1e-3), '0.0002');
  assert.equal(formatTick(2e-4, 2e-4, 8e-4), '2e-4');
  assert.equal(formatTick(2e5, 1e5, 4e5), '2e5');
  assert.equal(formatNumber(0.04419417), '0.04419');
  assert.equal(formatNumber(1234567), '1.23e6');
  assert.equal(formatNumber(null), '-');
  assert.equal(formatNumber(Number.NaN), '-');
});

test('thinPoints keeps the first, lowest, highest and last point of every bucket', () => {
  const pts: Point[] = Array.from({ length: 10_000 }, (_, i) => [
    i,
    i === 4321 ? 100 : i === 7777 ? -50 : Math.sin(i / 100),
  ]);
  const thin = thinPoints(pts, 200);
  assert.ok(thin.length <= 800 && thin.length >= 200, `${thin.length} points`);
  assert.deepEqual(thin[0], pts[0]);
  assert.deepEqual(thin.at(-1), pts.at(-1));
  assert.ok(thin.some((p) => p[1] === 100) && thin.some((p) => p[1] === -50), 'spikes survive');
  for (let i = 1; i < thin.length; i++) assert.ok(thin[i]![0] > thin[i - 1]![0], 'order kept');
  assert.equal(thinPoints(pts.slice(0, 50), 200).length, 50, 'short series are left alone');
});

test('lineChart: axes, escaped labels, gaps at NaN, reference lines in range, log scale, no data', () => {
  const svg = lineChart(
    [
      {
        points: [
          [1, 0.5],
          [2, Number.NaN],
          [3, 0.7],
          [4, 0.6],
        ],
      },
    ],
    {
      title: 'loss <&> "x"',
      xLabel: 'epoch',
      yLabel: "y'",
      integerX: true,
      refLines: [{ y: 0.1, label: 'warn <0.1>' }],
    },
  );
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.endsWith('</svg>'));
  assert.ok(
    svg.includes('loss &lt;&amp;&gt; &quot;x&quot;') && svg.includes('warn &lt;0.1&gt;') && svg.includes('y&#39;'),
  );
  assert.ok(!svg.includes('<&>'));
  // The NaN splits the line: a lone point (dot only) and a two-segment path.
  assert.equal((svg.match(/<path /g) ?? []).length, 1);
  assert.equal((svg.match(/<circle /g) ?? []).length, 3);
  // The reference line at 0.1 widened the y range down to it.
  assert.ok(svg.includes('>0.1<') || svg.includes('>0<'), 'y axis reaches the reference line');
  // Integer x ticks only.
  for (const m of svg.matchAll(/text-anchor="middle" fill="#555">([^<]+)</g)) assert.match(m[1]!, /^\d+$/);

  const log = lineChart(
    [
      {
        points: [
          [0, 1e-5],
          [1, 1e-3],
          [2, 0.1],
          [3, -1],
        ],
      },
    ],
    { title: 'lr', yScale: 'log' },
  );
  assert.ok(log.includes('(log scale)'));
  assert.ok(log.includes('>1e-5<') && log.includes('>0.1<'));

  const none = lineChart([{ points: [[1, Number.NaN]] }], { title: 'empty' });
  assert.ok(none.includes('no data'));

  const legend = lineChart(
    [
      {
        name: 'random',
        points: [
          [0, 1],
          [1, 2],
        ],
      },
      {
        name: 'random',
        points: [
          [0, 2],
          [1, 3],
        ],
      },
      {
        name: 'vicreg <1>',
        points: [
          [0, 0],
          [1, 1],
        ],
      },
    ],
    {},
  );
  assert.equal((legend.match(/stroke-width="2.5"/g) ?? []).length, 2, 'one legend entry per distinct name');
  assert.ok(legend.includes('vicreg &lt;1&gt;'));
});

test('lineChart on a million points: no argument-spreading limits, a bounded SVG', () => {
  const pts: Point[] = Array.from({ length: 1_000_000 }, (_, i) => [i, Math.sin(i / 1e4) + (i === 500_000 ? 5 : 0)]);
  const svg = lineChart([{ points: pts }], { title: 'loss', xLabel: 'step' });
  assert.ok(svg.length < 200_000, `${svg.length} characters`);
  assert.ok(svg.includes('>5<') || svg.includes('>6<'), 'the spike sets the y range');
});

test('intervalChart: seeds as dots, mean with its interval bar, a reference line, highlighted row, escaped labels', () => {
  const svg = intervalChart(
    [
      { label: 'random <init>', values: [0.3, 0.32, 0.28], mean: 0.3, low: 0.28, high: 0.32 },
      { label: 'vicreg', values: [0.5, 0.52], mean: 0.51, low: 0.49, high: 0.53, highlight: true },
      { label: 'one seed', values: [0.4], mean: 0.4 },
    ],
    { title: 'F0.5', xLabel: 'F0.5', ref: { x: 0.25, label: 'chance' } },
  );
  assert.equal((svg.match(/stroke-width="2"/g) ?? []).length, 6, 'a bar and two caps for each row with an interval');
  assert.match(svg, /stroke-dasharray="4 3"><title>chance<\/title>/);
  assert.equal((svg.match(/r="3.2"/g) ?? []).length, 6, 'one hollow dot per seed');
  assert.equal((svg.match(/r="4.6"/g) ?? []).length, 3, 'one mean per row');
  assert.ok(svg.includes('random &lt;init&gt;') && svg.includes('font-weight="700"'));
  assert.ok(intervalChart([], {}).includes('no data'));
});

test('parseMetrics: kinds in order, per-epoch kinds, epoch not plotted per step, nulls as gaps, bad lines counted', () => {
  const text = [
    JSON.stringify({ kind: 'pretrain', step: 1, time: 10, epoch: 1, loss: 5, lr: 0.1 }),
    JSON.stringify({ kind: 'val', step: 1, time: 11, f05: 0.3, auc: null }),
    JSON.stringify({ kind: 'pretrain', step: 2, time: 12, epoch: 1, loss: 4, note: 'text', extra: 1 }),
    'not json',
    JSON.stringify({ kind: 'pretrain_epoch', step: 1, epoch: 1, loss: 4.5 }),
    JSON.stringify({ step: 3, loss: 1 }),
    '',
    '{"kind":"pretrain","st',
  ].join('\n');
  const m = parseMetrics(text);
  assert.deepEqual(
    m.kinds.map((k) => [k.kind, k.perEpoch]),
    [
      ['pretrain', false],
      ['val', true],
      ['pretrain_epoch', true],
    ],
  );
  const pre = m.kinds[0]!;
  assert.deepEqual(pre.fields, ['loss', 'lr', 'extra']);
  assert.deepEqual(pre.steps, [1, 2]);
  assert.deepEqual(pre.values['lr'], [0.1, Number.NaN]);
  assert.deepEqual(m.kinds[1]!.values['auc'], [Number.NaN]);
  assert.deepEqual(m.kinds[2]!.fields, ['epoch', 'loss'], 'per-epoch kinds keep an epoch field as a quantity');
  assert.deepEqual(m.badLines, [4, 6, 8]);
  assert.equal(m.lines, 7);
  assert.ok(isPerEpochKind('probe_epoch') && isPerEpochKind('val_scroll') && !isPerEpochKind('probe'));
  assert.equal(runLabel('probe/vicreg-epoch4-seed12'), 'vicreg-epoch4');
  assert.equal(runLabel('random_s3'), 'random');
  assert.equal(runLabel('pretrain'), 'pretrain');
});

test('parseResultsFile: accepts the study shape, names the file and path on errors', () => {
  const entry = { label: 'a', auc: { mean: 0.6, low: 0.55, high: 0.65 }, f05: { mean: 0.3, low: 0.2, high: 0.4 } };
  const ok = parseResultsFile(
    { comparisons: [{ title: 'probe', arms: [entry], controls: [{ ...entry, label: 'chance' }], verdict: 'v' }] },
    'r.json',
  );
  assert.equal(ok.comparisons[0]!.controls[0]!.label, 'chance');
  assert.deepEqual(ok.curves, []);
  const bad = (j: unknown, re: RegExp): void => assert.throws(() => parseResultsFile(j, '/x/results.json'), re);
  bad([], /\/x\/results\.json: expected \{"comparisons": \[\.\.\.\]\}/);
  bad({ comparisons: [{ arms: [], controls: [] }] }, /comparisons\[0\]: expected an object with a string 'title'/);
  bad({ comparisons: [{ title: 't', rows: [] }] }, /comparisons\[0\]: expected 'arms' and 'controls' arrays/);
  bad(
    { comparisons: [{ title: 't', arms: [{ ...entry, auc: 0.5 }], controls: [] }] },
    /comparisons\[0\]\.arms\[0\]\.auc: expected \{mean, low, high\} numbers/,
  );
  bad({ comparisons: [], curves: [{ title: 'c' }] }, /curves\[0\]: expected \{title, budgets, series, verdicts\}/);
});

test('collapseSummary: D from std / ratio, last and lowest ratio, records below the threshold', () => {
  const m = parseMetrics(
    [0.9, 0.5, 0.2, 0.3]
      .map((r, i) =>
        JSON.stringify({
          kind: 'pretrain_epoch',
          step: i + 1,
          embedding_std: r / Math.sqrt(128),
          embedding_std_ratio: r,
        }),
      )
      .join('\n'),
  );
  const s = collapseSummary(m.kinds[0]!, 0.25)!;
  assert.equal(s.dim, 128);
  assert.equal(s.lastRatio, 0.3);
  assert.equal(s.minRatio, 0.2);
  assert.equal(s.minRatioAt, 3);
  assert.equal(s.below, 1);
  const noRatio = collapseSummary(
    parseMetrics(JSON.stringify({ kind: 'pretrain', step: 1, embedding_std: 0.01 })).kinds[0]!,
    0.25,
  )!;
  assert.equal(noRatio.dim, undefined);
  assert.equal(
    collapseSummary(parseMetrics(JSON.stringify({ kind: 'probe', step: 1, loss: 1 })).kinds[0]!, 0.25),
    null,
  );
});
