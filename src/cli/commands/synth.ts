/**
 * `inkwell synth --out DIR --fragments N --segments M --size HxW --seed S [--family a|b] [--variety fixed|wide]
 * [--ink-delta D] [--layers L] [--calibrate]`: writes synthetic fragments (Kaggle layout) and scroll segments (segment layout)
 * with a manifest (docs/synthetic-data.md). Family 'a' (default) writes uint16 fragments and uint8 segments;
 * family 'b', an independently written generator, writes 8- or 16-bit volumes with papyrus on either side of
 * the surface. `--variety wide` draws each family-a volume's surface wander and glyph scale from ranges.
 * --calibrate also prints each fragment's pixel AUCs: the best single fixed layer and the
 * surface-following statistic.
 */
import type { Command } from 'commander';
import { nonNegativeInt, parseNumberFlag, positiveInt, seedInt, unitInterval } from '../options.js';
import { SYNTH_VARIETIES, synthesize, SYNTH_FAMILIES, type Manifest } from '../../data/synth/write.js';
import { synthFragment } from '../../data/synth/fragment.js';
import { synthFragmentB } from '../../data/synth/family-b/generate.js';
import { calibrate } from '../../data/synth/calibrate.js';

export interface SynthCliOptions {
  out: string;
  fragments: number;
  segments: number;
  size: string;
  seed: number;
  inkDelta?: number;
  layers?: number;
  reverseFraction?: number;
  calibrate?: boolean;
  json?: boolean;
  family?: string;
  variety?: string;
}

/** The value of a flag that takes one of `allowed`; `fallback` where absent. */
function oneOf<T extends string>(flag: string, allowed: readonly T[], text: string | undefined, fallback: T): T {
  const v = text ?? fallback;
  if (!(allowed as readonly string[]).includes(v))
    throw new Error(`synth: ${flag} '${v}' is unknown, expected one of ${allowed.join(', ')}`);
  return v as T;
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

export async function runSynth(o: SynthCliOptions): Promise<Manifest> {
  const [height, width] = parseSize(o.size);
  const fam = oneOf('--family', SYNTH_FAMILIES, o.family, 'a');
  const t0 = Date.now();
  const manifest = await synthesize({
    family: fam,
    out: o.out,
    fragments: o.fragments,
    segments: o.segments,
    height,
    width,
    seed: o.seed,
    variety: oneOf('--variety', SYNTH_VARIETIES, o.variety, 'fixed'),
    ...(o.inkDelta === undefined ? {} : { inkDelta: o.inkDelta }),
    ...(o.layers === undefined ? {} : { layers: o.layers }),
    ...(o.reverseFraction === undefined ? {} : { reverseFraction: o.reverseFraction }),
  });
  const seconds = (Date.now() - t0) / 1000;
  const calibrations: Record<string, ReturnType<typeof calibrate>> = {};
  if (o.calibrate) {
    for (const f of manifest.fragments) {
      // Regenerated in memory from its seed: identical to what was written.
      const gen = { height, width, layers: manifest.layers, seed: f.seed, inkDelta: manifest.inkDelta };
      const frag =
        fam === 'b'
          ? synthFragmentB(gen)
          : synthFragment({
              ...gen,
              ...(f.wander ? { wander: f.wander } : {}),
              ...(f.glyphs ? { glyphs: f.glyphs } : {}),
            });
      calibrations[f.id] = calibrate(frag.volume, frag.layers, height, width, frag.labels, frag.mask, {
        reversed: f.reversed,
      });
    }
  }
  if (o.json) {
    console.log(
      JSON.stringify({ out: o.out, seconds, manifest, ...(o.calibrate ? { calibration: calibrations } : {}) }, null, 1),
    );
  } else {
    for (const f of manifest.fragments) {
      const c = calibrations[f.id];
      console.log(
        `fragment ${f.id}: ${f.dtype}, ink ${(100 * f.inkFraction).toFixed(1)}% of the mask, labels shifted ${f.labelShift?.join(',')}${f.labelsDilated ? ' and dilated' : ''}${f.reversed ? ', papyrus before the surface (reversed order)' : ''}` +
          (c
            ? `; AUC best layer ${c.bestLayer} ${c.bestLayerAuc.toFixed(3)}, surface-following ${c.surfaceAuc.toFixed(3)}`
            : ''),
      );
    }
    for (const s of manifest.segments) {
      console.log(
        `segment ${s.id}: ${s.dtype}, ${s.sheets} sheets, ink ${(100 * s.inkFraction).toFixed(1)}%${s.reversed ? ', layers reversed' : ''}`,
      );
    }
    console.log(
      `wrote ${manifest.fragments.length} fragments and ${manifest.segments.length} segments (${manifest.layers} layers of ${height}x${width}) to ${o.out} in ${seconds.toFixed(1)} s (family ${fam}); manifest ${o.out}/manifest.json`,
    );
  }
  return manifest;
}

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description(
      'write synthetic fragments (Kaggle layout) and scroll segments (segment layout) with learnable, non-trivial ink',
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--fragments <n>', 'number of labelled fragments', nonNegativeInt('a fragment count'), 1)
    .option('--segments <n>', 'number of unlabelled scroll segments', nonNegativeInt('a segment count'), 2)
    .option('--size <HxW>', 'frame size', '512x512')
    .option('--seed <s>', 'random seed (same seed, same files)', seedInt, 0)
    .option(
      '--family <a|b>',
      "generator: 'a' (printed glyphs, uint16 fragments) or 'b' (cursive ink, 8/16-bit, papyrus on either side of the surface)",
      'a',
    )
    .option(
      '--variety <fixed|wide>',
      "family a: 'fixed' (one surface and glyph model) or 'wide' (surface wander and glyph scale drawn per fragment and segment)",
      'fixed',
    )
    .option(
      '--ink-delta <d>',
      'ink density step on fragments (segments get half); .15-.20 is learnable but not trivial',
      parseNumberFlag('an ink step', { min: 0 }),
    )
    .option('--layers <n>', 'layers per volume', positiveInt('a layer count'), 65)
    .option(
      '--reverse-fraction <f>',
      'family a: share of segments stored with reversed layer order',
      unitInterval('a fraction'),
      0.25,
    )
    .option('--calibrate', 'print pixel AUCs of the best fixed layer and of a surface-following statistic per fragment')
    .option('--json', 'print the manifest (and calibration) as JSON')
    .action(async (o: SynthCliOptions) => {
      await runSynth(o);
    });
}
