/**
 * Layout detection on small trees of each layout and variant (docs/data-formats.md): Kaggle fragment,
 * fragment volpkg (three ways in), scroll segment (2/3-digit names; tif/png/jpg layers; masks and labels by
 * glob; `_superseded`), folders of segments (`paths/<id>` and plain), reversed order from a manifest or flag,
 * and Zarr volumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { detectDataset, detectLayout, MODEL_PIXEL_SIZE_UM, type LayerStackDataset } from '../../src/data/layout.js';
import { synthesize } from '../../src/data/synth/write.js';
import { Volume } from '../../src/data/volume.js';
import {
  plane,
  rectMask,
  tempDir,
  writeJson,
  writeKaggleFragment,
  writeMask,
  writeSegment,
  writeStack,
} from './reader-fixtures.js';

const stack = (d: { datasets: unknown[] }, i = 0): LayerStackDataset => d.datasets[i] as LayerStackDataset;

test('Kaggle fragment: surface_volume/NN.tif with mask, inklabels and ir; scale 0.5 by default', async () => {
  const root = join(tempDir(), '2');
  await writeKaggleFragment(root, { layers: 5 });
  const d = await detectLayout(root);
  assert.equal(d.layout, 'kaggle-fragment');
  const ds = stack(d);
  assert.equal(ds.id, '2');
  assert.deepEqual(
    ds.layers.map((l) => l.number),
    [0, 1, 2, 3, 4],
  );
  assert.equal(basename(ds.layers[3]!.path), '03.tif');
  assert.equal(basename(ds.mask!), 'mask.png');
  assert.equal(basename(ds.inklabels!), 'inklabels.png');
  assert.equal(basename(ds.ir!), 'ir.png');
  assert.equal(ds.defaultScale, 0.5);
  assert.equal(ds.reversed, false);
});

test('fragment volpkg: found from FragN/, from the .volpkg, and from working/<surface>', async () => {
  const frag = join(tempDir(), 'Frag1');
  const volpkg = join(frag, 'PHercParis2Fr47.volpkg');
  const surface = join(volpkg, 'working', '54keV_exposed_surface');
  await writeKaggleFragment(surface, { layers: 3 });
  for (const p of [frag, volpkg, surface]) {
    const d = await detectLayout(p);
    assert.equal(d.layout, 'fragment-volpkg', p);
    assert.equal(d.datasets.length, 1);
    assert.equal(stack(d).id, 'PHercParis2Fr47/54keV_exposed_surface');
    assert.equal(stack(d).layers.length, 3);
    assert.equal(stack(d).defaultScale, 0.5);
  }
  // Two surfaces: one dataset each.
  await writeKaggleFragment(join(volpkg, 'working', '88keV_exposed_surface'), { layers: 3 });
  const two = await detectLayout(volpkg);
  assert.equal(two.layout, 'segment-folder');
  assert.deepEqual(
    two.datasets.map((x) => x.id),
    ['PHercParis2Fr47/54keV_exposed_surface', 'PHercParis2Fr47/88keV_exposed_surface'],
  );
});

test('scroll segment: 2- and 3-digit names, tif/png/jpg layers, <id>_mask / <id>_inklabels, meta.json, scale 1', async () => {
  const base = tempDir();
  const cases: { id: string; ext: 'tif' | 'png' | 'jpg'; digits: 2 | 3; bits: 8 | 16 }[] = [
    { id: '20230520175435', ext: 'tif', digits: 2, bits: 16 },
    { id: '20230601123456', ext: 'png', digits: 3, bits: 8 },
    { id: '20230702185753', ext: 'jpg', digits: 2, bits: 8 },
  ];
  for (const c of cases) {
    const root = join(base, c.id);
    await writeSegment(root, c.id, { layers: 4, first: 0, ext: c.ext, digits: c.digits, bits: c.bits });
    const d = await detectLayout(root);
    assert.equal(d.layout, 'scroll-segment');
    const ds = stack(d);
    assert.equal(ds.id, c.id);
    assert.equal(basename(ds.layers[2]!.path), `${'2'.padStart(c.digits, '0')}.${c.ext}`);
    assert.equal(basename(ds.mask!), `${c.id}_mask.png`);
    assert.equal(basename(ds.inklabels!), `${c.id}_inklabels.png`);
    assert.equal(basename(ds.meta!), 'meta.json');
    assert.equal(ds.defaultScale, 1);
    const vol = await Volume.open(ds);
    assert.deepEqual(vol.shape, [4, 24, 20]);
    assert.equal(vol.sourceDtype, c.bits === 16 ? 'uint16' : 'uint8');
    await vol.close();
  }
});

test('masks and labels are found by glob when not named <id>_mask.png; several candidates are an error', async () => {
  const root = join(tempDir(), 'seg1');
  await writeStack(join(root, 'layers'), { layers: 2 });
  await writeMask(join(root, 'seg1_flat_mask.png'), rectMask(24, 20, 0, 24, 0, 20), 24, 20);
  await writeMask(join(root, 'old_inklabels.png'), rectMask(24, 20, 0, 4, 0, 4), 24, 20);
  const ds = stack(await detectLayout(root));
  assert.equal(basename(ds.mask!), 'seg1_flat_mask.png');
  assert.equal(basename(ds.inklabels!), 'old_inklabels.png');
  await writeMask(join(root, 'other_inklabels.png'), rectMask(24, 20, 0, 4, 0, 4), 24, 20);
  await assert.rejects(
    detectLayout(root),
    /has 2 files matching \*inklabels\* \(old_inklabels\.png, other_inklabels\.png\), expected one/,
  );
  // The exact name wins over other candidates.
  await writeMask(join(root, 'seg1_inklabels.png'), rectMask(24, 20, 0, 4, 0, 4), 24, 20);
  assert.equal(basename(stack(await detectLayout(root)).inklabels!), 'seg1_inklabels.png');
});

test('an unlabelled segment has inklabels null; a layer range need not start at 0', async () => {
  const root = join(tempDir(), 'seg2');
  await writeSegment(root, 'seg2', { layers: 5, first: 10, labels: false });
  const ds = stack(await detectLayout(root));
  assert.equal(ds.inklabels, null);
  assert.deepEqual(
    ds.layers.map((l) => l.number),
    [10, 11, 12, 13, 14],
  );
  const vol = await Volume.open(ds, { z: [11, 13] });
  assert.equal(vol.depth, 2);
  assert.equal(basename(vol.layerFile(0)), '11.tif');
});

test('_superseded segment folders: id kept, mask found under the base id; skipped in a folder when the current one exists', async () => {
  const volpkg = join(tempDir(), 'Scroll1.volpkg');
  const paths = join(volpkg, 'paths');
  await writeSegment(join(paths, '20230503225234'), '20230503225234', { layers: 2 });
  await writeSegment(join(paths, '20230504093154'), '20230504093154', { layers: 2 });
  // A superseded render alongside the current one, and one whose current render is gone.
  await writeSegment(join(paths, '20230504093154_superseded'), '20230504093154', { layers: 2 });
  await writeSegment(join(paths, '20230509160956_superseded'), '20230509160956', { layers: 2 });
  const only = stack(await detectLayout(join(paths, '20230509160956_superseded')));
  assert.equal(only.id, '20230509160956_superseded');
  assert.equal(only.superseded, true);
  assert.equal(basename(only.mask!), '20230509160956_mask.png');
  const d = await detectLayout(volpkg);
  assert.equal(d.layout, 'segment-folder');
  assert.deepEqual(
    d.datasets.map((x) => x.id),
    ['20230503225234', '20230504093154', '20230509160956_superseded'],
  );
});

test('folders of segments: <scroll>.volpkg/paths/<id>, and a plain folder of segment folders (non-segments skipped)', async () => {
  const dir = join(tempDir(), 'scrolls_all');
  await writeSegment(join(dir, 'a1'), 'a1', { layers: 3 });
  await writeSegment(join(dir, 'b2'), 'b2', { layers: 3, ext: 'png', bits: 8 });
  mkdirSync(join(dir, 'notes'));
  writeFileSync(join(dir, 'README.txt'), 'not a segment');
  const d = await detectLayout(dir);
  assert.equal(d.layout, 'segment-folder');
  assert.deepEqual(
    d.datasets.map((x) => x.id),
    ['a1', 'b2'],
  );
  await assert.rejects(detectDataset(dir), /holds 2 datasets \(a1, b2\), expected one/);
  // Kaggle's train/ folder: one fragment per sub-folder (inklabels_rle.csv is not an image and is ignored).
  const train = join(tempDir(), 'train');
  for (const id of ['1', '2', '3']) await writeKaggleFragment(join(train, id), { layers: 2 });
  writeFileSync(join(train, '1', 'inklabels_rle.csv'), 'Id,Predicted\n');
  const k = await detectLayout(train);
  assert.deepEqual(
    k.datasets.map((x) => [x.layout, x.id]),
    [
      ['kaggle-fragment', '1'],
      ['kaggle-fragment', '2'],
      ['kaggle-fragment', '3'],
    ],
  );
  assert.equal(basename(stack(k).inklabels!), 'inklabels.png');
});

test('reversed layer order comes from inkwell-manifest.json (here or in the parent) or from the flag', async () => {
  const dir = join(tempDir(), 'paths');
  await writeSegment(join(dir, 'fwd'), 'fwd', { layers: 4 });
  await writeSegment(join(dir, 'rev'), 'rev', { layers: 4 });
  writeJson(join(dir, 'inkwell-manifest.json'), { reversed: ['rev'] });
  const d = await detectLayout(dir);
  assert.deepEqual(
    d.datasets.map((x) => [x.id, x.reversed]),
    [
      ['fwd', false],
      ['rev', true],
    ],
  );
  // A single segment sees the manifest in its parent folder.
  assert.equal((await detectDataset(join(dir, 'rev'))).reversed, true);
  assert.equal((await detectDataset(join(dir, 'rev'), { reversed: false })).reversed, false);
  assert.equal((await detectDataset(join(dir, 'fwd'), { reversed: ['fwd'] })).reversed, true);
  // A reversed volume reads the highest-numbered file first.
  const vol = await Volume.open(join(dir, 'rev'));
  assert.equal(basename(vol.layerFile(0)), '03.tif');
  const w = await vol.readWindow(0, 1, 0, 1, 0, 3);
  assert.deepEqual(
    [...w.data],
    [...plane(3, 24, 20, 16).subarray(0, 3)].map((v) => v >> 8),
  );
  const other = join(tempDir(), 'm.json');
  writeJson(other, { reversed: 'rev' });
  await assert.rejects(detectLayout(dir, { manifest: other }), /has no "reversed" list of ids/);
});

test('Zarr arrays and OME-Zarr groups are detected by their metadata; unknown folders are a clear error', async () => {
  const base = tempDir();
  const arr = join(base, 'vol.zarr');
  writeJson(join(arr, '.zarray'), {
    zarr_format: 2,
    shape: [4, 8, 8],
    chunks: [4, 8, 8],
    dtype: '|u1',
    compressor: null,
    fill_value: 0,
    order: 'C',
    filters: null,
  });
  const d = await detectLayout(arr);
  assert.equal(d.layout, 'zarr');
  assert.equal(d.datasets[0]!.id, 'vol');
  const ome = join(base, 'scroll.ome.zarr');
  writeJson(join(ome, '.zgroup'), { zarr_format: 2 });
  writeJson(join(ome, '.zattrs'), { multiscales: [{ datasets: [{ path: '0' }] }] });
  const d2 = await detectLayout(ome);
  assert.equal(d2.layout, 'zarr');
  assert.equal(d2.datasets[0]!.id, 'scroll');
  const empty = join(base, 'empty');
  mkdirSync(empty);
  await assert.rejects(detectLayout(empty), /matches no known layout: expected surface_volume\//);
  await assert.rejects(detectLayout(join(base, 'nope')), /does not exist, expected a dataset folder/);
  renameSync(arr, join(base, 'moved.zarr'));
  await assert.rejects(detectLayout(join(base, 'moved.zarr', '.zarray')), /is a file/);
});

test('pixel size: meta.json voxelsize or the layout default sets the read scale; bad values are errors', async () => {
  const base = tempDir();
  const frag = join(base, 'frag');
  await writeKaggleFragment(frag, { layers: 3 });
  const seg = join(base, 'seg');
  await writeSegment(seg, 'seg', { layers: 3 });
  const f = await detectDataset(frag);
  const s = await detectDataset(seg);
  assert.deepEqual([f.pixelSize, f.pixelSizeSource, f.defaultScale], [MODEL_PIXEL_SIZE_UM / 2, 'default', 0.5]);
  // The segment's meta.json has no voxelsize: the scroll default, read unscaled.
  assert.deepEqual([s.pixelSize, s.pixelSizeSource, s.defaultScale], [MODEL_PIXEL_SIZE_UM, 'default', 1]);
  writeJson(join(frag, 'meta.json'), { voxelsize: 3.24 });
  const f2 = await detectDataset(frag);
  assert.deepEqual([f2.pixelSize, f2.pixelSizeSource], [3.24, 'meta.json']);
  assert.ok(Math.abs(f2.defaultScale - 3.24 / 7.91) < 1e-12);
  writeJson(join(seg, 'meta.json'), { voxelsize: 15.82 });
  assert.equal((await detectDataset(seg)).defaultScale, 1, 'coarser than the model: never upsampled');
  writeJson(join(seg, 'meta.json'), { voxelsize: 'fine' });
  await assert.rejects(detectDataset(seg), /voxelsize "fine", expected a positive number of um/);
});

test('resolution matching: a synthetic segment and fragment drawn at the same geometry reach the model at one scale', async () => {
  const out = join(tempDir(), 'synth');
  await synthesize({ out, fragments: 1, segments: 1, height: 48, width: 40, layers: 12, seed: 1, progress: false });
  const frag = await Volume.open(join(out, 'fragments', '1'));
  const seg = await Volume.open(join(out, 'segments', 'seg001'));
  assert.deepEqual([frag.scale, seg.scale], [0.5, 0.5]);
  assert.deepEqual(frag.shape, seg.shape);
  assert.deepEqual(frag.shape, [12, 24, 20]);
  await frag.close();
  await seg.close();
});

test('symbolic links to layer files and masks count as files (linked, not copied, datasets)', async () => {
  const base = tempDir();
  const real = join(base, 'real');
  await writeKaggleFragment(real, { layers: 3 });
  const linked = join(base, 'linked');
  mkdirSync(join(linked, 'surface_volume'), { recursive: true });
  for (const n of ['00', '01', '02'])
    symlinkSync(join(real, 'surface_volume', `${n}.tif`), join(linked, 'surface_volume', `${n}.tif`));
  symlinkSync(join(real, 'mask.png'), join(linked, 'mask.png'));
  const ds = (await detectDataset(linked)) as LayerStackDataset;
  assert.deepEqual([ds.layers.length, basename(ds.mask!)], [3, 'mask.png']);
});
