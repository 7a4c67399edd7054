/**
 * Small synthetic training data for the trainer tests: square fragments and/or segments in a fresh temporary
 * folder, written so that the model reads them at scale 1.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../../src/data/synth/write.js';

export interface TrainingDataOptions {
  fragments: number;
  segments: number;
  /** Height and width of every volume (pixels). */
  size: number;
  seed: number;
}

/**
 * Synthesises `opts` into a new folder `<tmpdir>/<prefix>XXXXXX` and returns its path (with `fragments/` and
 * `segments/` inside).
 */
export async function synthesizeTrainingData(prefix: string, opts: TrainingDataOptions): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), prefix));
  await synthesize({
    out,
    fragments: opts.fragments,
    segments: opts.segments,
    height: opts.size,
    width: opts.size,
    seed: opts.seed,
    layers: 65, // the default z-range (SURFACE_Z_RANGE, 22:44) sits around the middle of 65 layers
    pixelSize: 7.91, // the scroll's pixel: read at scale 1, so these small volumes keep their tiles
    progress: false,
  });
  return out;
}
