/**
 * What the viewer opens: a run folder through its config.yaml (its datasets, its predictions), predictions
 * matched to datasets by `<id>_prob.png`, and a streamed (HTTP) dataset whose tiles equal the local ones.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { findPredictions, resolveInput } from '../../src/serve/sources.js';
import { startViewer } from '../../src/serve/server.js';
import { tempDir, writeKaggleFragment, writeSegment } from '../data/reader-fixtures.js';
import { serveWithAuth } from '../remote/fixtures.js';
import type { TestServer } from '../remote/http-server.js';

let root: string;
let http: TestServer;

async function grey(path: string, h: number, w: number, v: number): Promise<void> {
  await sharp(new Uint8Array(h * w).fill(v), { raw: { width: w, height: h, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toFile(path);
}

before(async () => {
  root = tempDir('inkwell-serve-src-');
  await writeKaggleFragment(join(root, 'frag'), { layers: 4, height: 64, width: 48, bits: 16 });
  await writeSegment(join(root, 'segs', 'seg-a'), 'seg-a', { layers: 4, height: 64, width: 48, bits: 8 });
  const run = join(root, 'run');
  mkdirSync(join(run, 'predictions', 'r3d18'), { recursive: true });
  writeFileSync(
    join(run, 'config.yaml'),
    `name: run\ndata:\n  train:\n    - path: ${join(root, 'frag')}\n  val:\n    - path: ` +
      `${join(root, 'segs', 'seg-a')}\n`,
  );
  await grey(join(run, 'predictions', 'frag_prob.png'), 64, 48, 200);
  await grey(join(run, 'predictions', 'r3d18', 'frag_prob.png'), 32, 24, 100);
  await grey(join(run, 'predictions', 'seg-a_prob.png'), 64, 48, 50);
  await grey(join(run, 'predictions', 'frag_labels.png'), 64, 48, 255);
  http = await serveWithAuth(root);
});
after(async () => {
  await http.close();
});

test('a run folder (or its report.html) opens its datasets and finds their predictions', async () => {
  for (const input of [join(root, 'run'), join(root, 'run', 'report.html')]) {
    const r = await resolveInput(input);
    assert.deepEqual(
      r.datasets.map((d) => d.id),
      ['frag', 'seg-a'],
    );
    assert.deepEqual(r.predictionDirs, [join(root, 'run')]);
  }
  const frag = await findPredictions([join(root, 'run')], 'frag', 64, 48);
  assert.deepEqual(
    frag.map((p) => p.name),
    ['run/predictions/frag_prob.png', 'run/predictions/r3d18/frag_prob.png'],
  );
  const seg = await findPredictions([join(root, 'run')], 'seg-a', 64, 48);
  assert.deepEqual(
    seg.map((p) => p.name),
    ['run/predictions/seg-a_prob.png'],
  );
  await assert.rejects(findPredictions([join(root, 'nope')], 'frag', 64, 48), /--predictions .*nope does not exist/);
});

test('the viewer serves a streamed dataset: info, tiles and values equal the local one', async () => {
  const local = await startViewer({
    input: join(root, 'frag'),
    predictions: [join(root, 'run')],
    port: 0,
    tileSize: 16,
  });
  const remote = await startViewer({
    input: `${http.url}/frag`,
    predictions: [join(root, 'run')],
    port: 0,
    tileSize: 16,
  });
  try {
    type Info = { datasets: { overlays: { name: string }[]; window: number[] }[] };
    const info = async (v: { url: string }): Promise<Info> => (await fetch(`${v.url}api/info`)).json() as Promise<Info>;
    const [a, b] = [await info(local), await info(remote)];
    assert.deepEqual(b!.datasets[0]!.window, a!.datasets[0]!.window);
    assert.deepEqual(
      b!.datasets[0]!.overlays.map((o) => o.name),
      ['mask', 'ink labels', 'run/predictions/frag_prob.png', 'run/predictions/r3d18/frag_prob.png'],
    );
    for (const p of [
      'tiles/0/layer/1/6/1_2.png',
      'tiles/0/layer/3/4/0_0.png?lo=0&hi=30000',
      'tiles/0/overlay/2/6/0_0.png',
      'api/value?ds=0&z=2&x=5&y=9',
    ]) {
      const [ra, rb] = await Promise.all([fetch(local.url + p), fetch(remote.url + p)]);
      assert.equal(ra.status, 200, p);
      assert.ok(
        Buffer.from(await rb.arrayBuffer()).equals(Buffer.from(await ra.arrayBuffer())),
        `${p} differs between local and HTTP`,
      );
    }
    const v = (await (await fetch(`${local.url}api/value?ds=0&z=2&x=5&y=9`)).json()) as {
      overlays: Record<string, number>;
    };
    assert.ok(Math.abs(v.overlays['run/predictions/frag_prob.png']! - 200 / 255) < 1e-9);
    assert.ok(
      Math.abs(v.overlays['run/predictions/r3d18/frag_prob.png']! - 100 / 255) < 1e-9,
      'a half-size prediction is resized to the dataset',
    );
    assert.equal((await fetch(`${local.url}tiles/0/layer/9/6/0_0.png`)).status, 404, 'a layer outside the dataset');
    assert.equal((await fetch(`${local.url}tiles/3/layer/1/6/0_0.png`)).status, 404, 'a dataset that is not served');
  } finally {
    await local.close();
    await remote.close();
  }
});
