/**
 * `--cache DIR` / `--cache-size SIZE` for every command that takes datasets: where bytes fetched from http(s)
 * datasets are kept (docs/remote-data.md). Applied before the command runs, through the environment, so that
 * data-pipeline workers and data-parallel processes share the same cache.
 */
import type { Command } from 'commander';
import { configureRemote, DEFAULT_CACHE_SIZE } from '../data/remote/store.js';

export function cacheOptions(cmd: Command): Command {
  return cmd
    .option(
      '--cache <dir>',
      'keep bytes fetched from http(s) datasets in this folder (resumable; default: no disk cache)',
    )
    .option(
      '--cache-size <size>',
      `size limit of --cache, least recently used entries evicted (e.g. 20GB, 512MiB; default ${DEFAULT_CACHE_SIZE})`,
    )
    .hook('preAction', (_cmd, action) => {
      const o = action.opts<{ cache?: string; cacheSize?: string }>();
      configureRemote({
        ...(o.cache === undefined ? {} : { cache: o.cache }),
        ...(o.cacheSize === undefined ? {} : { cacheSize: o.cacheSize }),
      });
    });
}
