import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { isUrl } from '../../data/remote/url.js';
import { inspectDataset, type DatasetInfo } from '../../data/inspect.js';
import { describeLayerOrder, LAYER_ORDER_CHOICES, type LayerOrderChoice } from '../../data/layer-order.js';
import { inspectCheckpoint, type CheckpointSummary } from '../../torch/serialization/index.js';
import { cacheOptions } from '../cache-options.js';

function printCheckpoint(path: string, s: CheckpointSummary): void {
  console.log(`${path}: ${s.format}, ${s.tensors.length} tensors`);
  const width = Math.max(4, ...s.tensors.map((t) => t.name.length));
  for (const t of s.tensors) console.log(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]`);
  const meta = Object.entries(s.metadata);
  if (meta.length) {
    console.log('metadata:');
    for (const [k, v] of meta) console.log(`  ${k}: ${JSON.stringify(v)}`);
  }
}

function printDataset(d: DatasetInfo): void {
  const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)}%`);
  console.log(
    `${d.id}: ${d.layout}, ${d.layers} layers of ${d.height}x${d.width} ${d.dtype}, mask ${pct(d.maskCoverage)}, ink ${pct(d.inkFraction)}`,
  );
  const e = d.layerOrder.evidence;
  const order =
    d.layerOrder.source === 'detected' || (d.layerOrder.source === 'default' && e !== null)
      ? `detected ${describeLayerOrder(e!)}`
      : `${d.reversed ? 'reversed' : 'as stored'} (${d.layerOrder.source === 'default' ? 'nothing said otherwise' : `from the ${d.layerOrder.source}`})`;
  console.log(`  layer order: ${order}${d.reversed ? '; layers are flipped on reading' : ''}`);
  console.log(`  pixel size: ${d.pixelSize} um (${d.pixelSizeSource}), read at scale ${Number(d.scale.toFixed(4))}`);
}

export function registerInspect(program: Command): void {
  cacheOptions(program.command('inspect <path>'))
    .description(
      'what a checkpoint (.pth zip/legacy, .safetensors, .npy) or a dataset folder (fragment, segment, folder of segments, Zarr) holds',
    )
    .option(
      '--json',
      'print JSON: {"format", "tensors": [{"name", "shape", "dtype"}], "metadata"} for a checkpoint; {"layout", "id", "layers", "height", "width", "dtype", "maskCoverage", "inkFraction", "reversed", "layerOrder", "pixelSize", "pixelSizeSource", "scale", "files"} per dataset',
    )
    .option(
      '--layer-order <order>',
      `dataset layer order: ${LAYER_ORDER_CHOICES.join(', ')} (auto: a manifest, else detected from the density profile)`,
      'auto',
    )
    .action(async (path: string, o: { json?: boolean; layerOrder: string }) => {
      if (!(LAYER_ORDER_CHOICES as readonly string[]).includes(o.layerOrder))
        throw new Error(
          `inspect: --layer-order '${o.layerOrder}' is unknown, expected ${LAYER_ORDER_CHOICES.join(', ')}`,
        );
      let isDir: boolean;
      try {
        isDir = isUrl(path) || (await stat(path)).isDirectory();
      } catch (err) {
        throw new Error(
          `inspect: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      // A Zarr store is a folder too: the dataset reader recognises it.
      if (isDir) {
        const info = await inspectDataset(path, { layerOrder: o.layerOrder as LayerOrderChoice });
        if (o.json) console.log(JSON.stringify(info, null, 1));
        else for (const d of Array.isArray(info) ? info : [info]) printDataset(d);
        return;
      }
      const summary = await inspectCheckpoint(path);
      if (o.json) console.log(JSON.stringify(summary, null, 1));
      else printCheckpoint(path, summary);
    });
}
