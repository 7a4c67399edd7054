/**
 * Heatmap PNGs: cell colours are the viridis colour of each value (checked pixel by pixel at cell centres
 * away from the printed text), viridis matches matplotlib's table (from eval_fixtures.py when matplotlib is
 * there), the CKA report writes cka.json and two PNGs, and bad matrices raise clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { hasTorchPython } from '../helpers/python.js';
import { renderHeatmapPng, viridis, writeCkaReport, writeHeatmapPng } from '../../src/report/index.js';
import { evalFixtures } from '../eval/harness.js';

async function rgbAt(png: Buffer | string): Promise<(x: number, y: number) => [number, number, number]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return (x, y) => {
    const o = (y * info.width + x) * info.channels;
    return [data[o]!, data[o + 1]!, data[o + 2]!];
  };
}

test('viridis ends and midpoint, and agreement with matplotlib within 3 levels', () => {
  assert.deepEqual(viridis(0), [0x44, 0x01, 0x54]);
  assert.deepEqual(viridis(1), [0xfd, 0xe7, 0x25]);
  assert.deepEqual(viridis(-3), viridis(0));
  assert.deepEqual(viridis(0.5), [0x21, 0x91, 0x8c]);
  const samples = hasTorchPython() ? evalFixtures().expected.viridis : null;
  if (samples === null) return;
  for (const [t, r, g, b] of samples) {
    const c = viridis(t);
    assert.ok(
      Math.abs(c[0] - r) <= 3 && Math.abs(c[1] - g) <= 3 && Math.abs(c[2] - b) <= 3,
      `t ${t}: ${c} vs matplotlib ${[r, g, b]}`,
    );
  }
});

test('writeHeatmapPng paints each cell with the viridis colour of its value and writes the file atomically', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-heatmap-'));
  const m = [
    [1, 0.25, 0.06],
    [0.25, 1, 0.5],
    [0.06, 0.5, 1],
  ];
  const labels = ['epoch 6', 'epoch 12', 'epoch <17>'];
  const path = join(dir, 'cka.png');
  const layout = await writeHeatmapPng(m, labels, path, { title: 'Linear CKA & co' });
  assert.deepEqual(readdirSync(dir), ['cka.png'], 'no temp files left');
  const meta = await sharp(path).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, layout.width);
  assert.equal(meta.height, layout.height);
  const at = await rgbAt(readFileSync(path));
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      // A corner of the cell, clear of the centred value text.
      const x = layout.gridX + j * layout.cell + 3;
      const y = layout.gridY + i * layout.cell + 3;
      assert.deepEqual(at(x, y), viridis(m[i]![j]!), `cell ${i},${j}`);
    }
  }
  // Text was drawn: the centre of a dark cell holds light pixels (its printed value).
  const cx = layout.gridX + 2 * layout.cell;
  const cy = layout.gridY;
  let light = 0;
  for (let y = cy; y < cy + layout.cell; y++)
    for (let x = cx; x < cx + layout.cell; x++) if (at(x, y)[0] > 200) light++;
  assert.ok(light > 10, 'value text rendered in the cell');
});

test('writeCkaReport writes cka.json with both matrices and two heatmaps', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'inkwell-ckareport-')), 'report');
  const linear = [
    [1, 0.3],
    [0.3, 1],
  ];
  const rbf = [
    [1, 0.2],
    [0.2, 1],
  ];
  const files = await writeCkaReport(dir, { linear, rbf, labels: ['6', '12'], rbfThreshold: 0.5 });
  assert.deepEqual(readdirSync(dir).sort(), ['cka.json', 'cka_linear.png', 'cka_rbf.png']);
  const json = JSON.parse(readFileSync(files.json, 'utf8'));
  assert.deepEqual(json, { labels: ['6', '12'], linear, rbf, rbfThreshold: 0.5, debiased: false });
  for (const p of [files.linearPng, files.rbfPng]) assert.equal((await sharp(p).metadata()).format, 'png');
  await assert.rejects(
    writeCkaReport(dir, { linear, rbf: [[1]], labels: ['6', '12'] }),
    /the rbf matrix is 1x1, expected 2x2 for 2 labels/,
  );
});

test('heatmap errors: empty, ragged, wrong label count, empty colour range', async () => {
  await assert.rejects(renderHeatmapPng([], []), /matrix is empty/);
  await assert.rejects(renderHeatmapPng([[1, 2], [3]], ['a', 'b']), /row 1 has 1 values, row 0 has 2/);
  await assert.rejects(
    renderHeatmapPng(
      [
        [1, 2],
        [3, 4],
      ],
      ['a'],
    ),
    /1 labels for a 2x2 matrix, expected 2/,
  );
  await assert.rejects(renderHeatmapPng([[1]], ['a'], { vmin: 1, vmax: 1 }), /colour range \[1, 1\] is empty/);
  const rect = await renderHeatmapPng([[0.1, 0.2, 0.3]], ['row', 'a', 'b', 'c']);
  assert.equal(rect.layout.cell, 56);
});
