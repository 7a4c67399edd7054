/**
 * `inkwell serve --input DATASET [--predictions DIR ...] [--port 8080] [--host H]`: a local web viewer of a
 * dataset's layers (deep zoom, z slider, window/level) with its mask, ink labels and prediction PNGs as
 * overlays (docs/viewer.md). Read-only; listens on 127.0.0.1 unless --host is given.
 */
import type { Command } from 'commander';
import { startViewer } from '../../serve/server.js';
import { cacheOptions } from '../cache-options.js';
import { parseIntegerFlag } from '../options.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerServe(program: Command): void {
  cacheOptions(program.command('serve'))
    .description(
      'a local web viewer: deep-zoom layers, z slider, window/level, mask / ink-label / prediction ' +
        'overlays, side by side',
    )
    .requiredOption(
      '--input <dataset>',
      'a dataset folder or http(s) URL (fragment, segment, folder of segments, Zarr), or a run folder / report',
    )
    .option(
      '--predictions <path>',
      'a prediction PNG, a folder of them, or a run / report folder (repeatable)',
      collect,
      [],
    )
    .option('--port <n>', 'port (0: any free port)', parseIntegerFlag('a port number', { min: 0, max: 65535 }), 8080)
    .option('--host <host>', 'address to listen on (default 127.0.0.1: this machine only)', '127.0.0.1')
    .action(async (o: { input: string; predictions: string[]; port: number; host: string }) => {
      const viewer = await startViewer({
        input: o.input,
        predictions: o.predictions,
        port: o.port,
        host: o.host,
        log: (l) => console.error(l),
      });
      const n = viewer.datasets.length;
      console.log(`inkwell viewer: ${viewer.url} (${n} dataset${n === 1 ? '' : 's'}; Ctrl-C to stop)`);
      const stop = (): void => {
        void viewer.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
