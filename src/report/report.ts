/**
 * `inkwell report`: one self-contained HTML page per run folder (or per folder of runs) that answers "did
 * pretraining help?" with numbers and pictures. Everything is inline: images as data: URIs (downscaled with
 * sharp to fit 1024 x 1024), charts as SVG, CSS in a <style> block; a Content-Security-Policy forbids any
 * network access and scripts. Every string read from a file is HTML-escaped.
 *
 * What a folder may hold (every part optional; the page says what is missing instead of failing):
 * - `config.yaml`: the resolved run config (shown verbatim, with a one-line summary);
 * - `metrics.jsonl`: one `{kind, step, time, ...numbers}` per line; one small multiple per numeric field and
 *   kind (x = epoch for kinds ending in `_epoch`, else step); the collapse monitor uses `embedding_std` and
 *   `embedding_std_ratio` (std * sqrt(D)) with the warning ratio from `monitor.collapseRatio` (default 0.25);
 * - `cka/cka.json` ({labels, linear, rbf, rbfThreshold?, debiased?}) with `cka_linear.png` / `cka_rbf.png`;
 * - `predictions/<id>_{prob,labels,ir,mask}.png` (+ optional `<id>_score.json`, the `inkwell score --json`
 *   object), or the same files in subfolders `predictions/<name>/` (one probability map per name, e.g. per
 *   encoder, shown side by side for each fragment id);
 * - `results.json`: `{comparisons: [{title, protocol, varies, arms, controls, verdict}], curves: [...]}`
 *   (src/study/results.ts): one table per comparison, every arm and control with AUC and F0.5 intervals, its
 *   distance from chance and a verdict, and the data-efficiency curves.
 * Run folders (those with metrics.jsonl) are found one level down; a subfolder without metrics.jsonl whose own
 * subfolders are runs (e.g. `probe/<encoder>-seed<s>/`, as trainPerEncoder writes them) is a group, whose
 * runs' curves are overlaid (one line per run, coloured by encoder).
 * Kinds ending in `_epoch` and validation kinds (`val`, `val_*`, `*_val`) are plotted per epoch.
 *
 * Files: types.ts (what is read), collect.ts (reading), summarise.ts (derived numbers), sections.ts and
 * study-tables.ts (HTML of each section), render.ts (the page), style.ts (CSS), charts.ts (SVG).
 */
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { collectReport } from './collect.js';
import { compose, renderReport } from './render.js';

export { collectReport, inlineImage, parseMetrics } from './collect.js';
export { collapseSummary, type CollapseSummary } from './summarise.js';
export { runLabel } from './sections.js';
export { renderReport };
export * from './types.js';

export interface WriteReportResult {
  path: string;
  /** Sections with content, in page order: comparison, predictions, collapse, cka, curves, config. */
  sections: string[];
  /** Sections shown as "Not available". */
  missing: string[];
  /** Problems met while reading (each names its file); the page lists them too. */
  warnings: string[];
  bytes: number;
}

/** Reads `runDir` and writes its report (default `runDir/report.html`) atomically. */
export async function writeReport(
  runDir: string,
  opts: { output?: string; title?: string } = {},
): Promise<WriteReportResult> {
  const data = await collectReport(runDir, opts.title !== undefined ? { title: opts.title } : {});
  const c = compose(data);
  const path = resolve(opts.output ?? join(data.root, 'report.html'));
  await writeFileAtomic(path, c.html);
  return { path, sections: c.sections, missing: c.missing, warnings: c.warnings, bytes: Buffer.byteLength(c.html) };
}
