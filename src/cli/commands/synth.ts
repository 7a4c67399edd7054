/**
 * `inkwell synth --out DIR --fragments N --segments M --size HxW --seed S [--ink-delta D] [--layers L]
 * [--calibrate]`: writes synthetic fragments (Kaggle layout, uint16) and scroll segments (segment layout,
 * uint8) with a manifest (docs/synthetic-data.md). --calibrate also prints each fragment's pixel AUCs: the best
 * single fixed layer and the surface-following statistic.
 */
import type { Command } from 'commander';
import { synthesize, type Manifest } from '../../data/synth/write.js';
import { synthFragment } from '../../data/synth/fragment.js';
import { calibrate } from '../../data/synth/calibrate.js';

export interface SynthCliOptions {
  out: string;
  fragments: string;
  segments: string;
  size: string;
  seed: string;
  inkDelta?: string;
  layers?: string;
  reverseFraction?: string;
  calibrate?: boolean;
  json?: boolean;
}

/** Parses `HxW` (or a single number for a square). */
export function parseSize(text: string): [number, number] {
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new Error(`synth: --size '${text}' is not HxW, expected e.g. 512x512`);
  const h = Number(m[1]);
  const w = Number(m[2] ?? m[1]);
  if (h < 16 || w < 16) throw new Error(`synth: --size ${h}x${w} is too small, expected at least 16x16`);
  return [h, w];
}

function int(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0) throw new Error(`synth: --${name} '${text}' must be a non-negative integer`);
  return v;
}

function num(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v)) throw new Error(`synth: --${name} '${text}' must be a number`);
  return v;
}

export async function runSynth(o: SynthCliOptions): Promise<Manifest> {
  const [height, width] = parseSize(o.size);
  const t0 = Date.now();
  const manifest = await synthesize({
    out: o.out,
    fragments: int('fragments', o.fragments),
    segments: int('segments', o.segments),
    height, width,
    seed: int('seed', o.seed),
    ...(o.inkDelta === undefined ? {} : { inkDelta: num('ink-delta', o.inkDelta) }),
    ...(o.layers === undefined ? {} : { layers: int('layers', o.layers) }),
    ...(o.reverseFraction === undefined ? {} : { reverseFraction: num('reverse-fraction', o.reverseFraction) }),
  });
  const seconds = (Date.now() - t0) / 1000;
  const calibrations: Record<string, ReturnType<typeof calibrate>> = {};
  if (o.calibrate) {
    for (const f of manifest.fragments) {
      // Regenerated in memory from its seed: identical to what was written.
      const frag = synthFragment({ height, width, layers: manifest.layers, seed: f.seed, inkDelta: manifest.inkDelta });
      calibrations[f.id] = calibrate(frag.volume, frag.layers, height, width, frag.labels, frag.mask);
    }
  }
  if (o.json) {
    console.log(JSON.stringify({ out: o.out, seconds, manifest, ...(o.calibrate ? { calibration: calibrations } : {}) }, null, 1));
  } else {
    for (const f of manifest.fragments) {
      const c = calibrations[f.id];
      console.log(`fragment ${f.id}: ink ${(100 * f.inkFraction).toFixed(1)}% of the mask, labels shifted ${f.labelShift?.join(',')}${f.labelsDilated ? ' and dilated' : ''}` +
        (c ? `; AUC best layer ${c.bestLayer} ${c.bestLayerAuc.toFixed(3)}, surface-following ${c.surfaceAuc.toFixed(3)}` : ''));
    }
    for (const s of manifest.segments) {
      console.log(`segment ${s.id}: ${s.sheets} sheets, ink ${(100 * s.inkFraction).toFixed(1)}%${s.reversed ? ', layers reversed' : ''}`);
    }
    console.log(`wrote ${manifest.fragments.length} fragments and ${manifest.segments.length} segments (${height}x${width}x${manifest.layers}) to ${o.out} in ${seconds.toFixed(1)} s; manifest ${o.out}/manifest.json`);
  }
  return manifest;
}

export function registerSynth(program: Command): void {
  program.command('synth')
    .description('write synthetic fragments (Kaggle layout) and scroll segments (segment layout) with learnable, non-trivial ink')
    .requiredOption('--out <dir>', 'output folder')
    .option('--fragments <n>', 'number of labelled fragments', '1')
    .option('--segments <n>', 'number of unlabelled scroll segments', '2')
    .option('--size <HxW>', 'frame size', '512x512')
    .option('--seed <s>', 'random seed (same seed, same files)', '0')
    .option('--ink-delta <d>', 'ink density step on fragments (segments get half); .15-.20 is learnable but not trivial')
    .option('--layers <n>', 'layers per volume', '65')
    .option('--reverse-fraction <f>', 'share of segments stored with reversed layer order', '0.25')
    .option('--calibrate', 'print pixel AUCs of the best fixed layer and of a surface-following statistic per fragment')
    .option('--json', 'print the manifest (and calibration) as JSON')
    .action(async (o: SynthCliOptions) => {
      await runSynth(o);
    });
}
