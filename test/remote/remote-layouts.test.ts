/**
 * Every dataset layout read over HTTP (local test server, basic auth) gives exactly the values read from
 * disk; directory listings in nginx and Apache styles, or none (probing); strip TIFFs read by Range requests
 * of about the crop's size.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { detectLayout } from '../../src/data/layout.js';
import { configureRemote } from '../../src/data/remote/store.js';
import { Volume } from '../../src/data/volume.js';
import { useRemoteFixtures } from './fixtures.js';

const S = useRemoteFixtures();

async function sameVolume(local: string, url: string, label: string): Promise<void> {
  const a = await detectLayout(local);
  const b = await detectLayout(url);
  assert.equal(b.layout, a.layout, `${label}: layout`);
  assert.deepEqual(
    b.datasets.map((d) => d.id),
    a.datasets.map((d) => d.id),
    `${label}: ids`,
  );
  for (let i = 0; i < a.datasets.length; i++) {
    const va = await Volume.open(a.datasets[i]!, { scale: 1 });
    const vb = await Volume.open(b.datasets[i]!, { scale: 1 });
    try {
      assert.deepEqual(vb.shape, va.shape, `${label}: shape`);
      assert.equal(vb.sourceDtype, va.sourceDtype);
      const la = await va.load({ raw: true });
      const lb = await vb.load({ raw: true });
      assert.ok(
        Buffer.from(lb.data.buffer, lb.data.byteOffset, lb.data.byteLength).equals(
          Buffer.from(la.data.buffer, la.data.byteOffset, la.data.byteLength),
        ),
        `${label}: voxels differ`,
      );
      const [D, H, W] = va.shape;
      const wa = await va.readWindow(1, Math.min(D, 5), 7, Math.min(H, 40), 3, Math.min(W, 33), { raw: true });
      const wb = await vb.readWindow(1, Math.min(D, 5), 7, Math.min(H, 40), 3, Math.min(W, 33), { raw: true });
      assert.deepEqual([...wb.data], [...wa.data], `${label}: window`);
      assert.deepEqual(await vb.readMask(), await va.readMask(), `${label}: mask`);
      assert.deepEqual(await vb.readInkLabels(), await va.readInkLabels(), `${label}: ink labels`);
    } finally {
      await va.close();
      await vb.close();
    }
  }
}

test('every layout over HTTP with basic auth (nginx listing) reads the same values as from disk', async () => {
  S.server.opts.listing = 'nginx';
  configureRemote({ cache: null });
  for (const [label, rel] of Object.entries(S.fx.datasets))
    await sameVolume(join(S.fx.root, rel), `${S.server.url}/${rel}`, label);
  assert.ok(
    S.server.requests.length > 0 && S.server.requests.every((r) => r.status !== 401),
    'every request carried the credentials',
  );
  if (S.fx.zarrSkip) console.log(`# zarr layouts skipped: ${S.fx.zarrSkip}`);
});

test('Apache-style listings, and servers without listings (meta.json / mask / layer-count probes), find the layouts', async () => {
  for (const listing of ['apache', 'none'] as const) {
    S.server.opts.listing = listing;
    configureRemote({ cache: null });
    for (const label of [
      'kaggle-fragment',
      'scroll-segment (png)',
      'scroll-segment (lzw tif)',
      'ome-zarr',
      'zarr (nested)',
    ]) {
      const rel = S.fx.datasets[label];
      if (rel === undefined) continue;
      await sameVolume(join(S.fx.root, rel), `${S.server.url}/${rel}`, `${label} (${listing} listing)`);
    }
  }
  S.server.opts.listing = 'nginx';
});

for (const multiRange of [true, false]) {
  const how = multiRange ? 'several ranges per request (multipart/byteranges)' : 'one range per request';
  test(`strip TIFF crops are read with Range requests, ${how}: a small multiple of the crop's bytes`, async () => {
    S.server.opts.multiRange = multiRange;
    configureRemote({ cache: null });
    S.server.reset();
    const vol = await Volume.open(`${S.server.url}/big`, { scale: 1 });
    const openBytes = S.server.bytes();
    S.server.reset();
    const crop = await vol.readWindow(0, 8, 200, 264, 300, 364, { raw: true });
    const cropBytes = crop.data.byteLength;
    assert.equal(cropBytes, 8 * 64 * 64 * 2);
    // A server without multi-range support answers the first such request (during open, or here) with the
    // whole file, which the client cancels unread; the ranges are then asked for one by one.
    const answered = S.server.requests.filter((r) => r.status === 206);
    const fetched = answered.reduce((a, r) => a + r.bytes, 0);
    assert.ok(
      S.server.requests.every((r) => r.range !== null),
      'every pixel read is a Range request',
    );
    assert.ok(S.server.requests.length - answered.length <= (multiRange ? 0 : 1));
    // 64 rows of 8 layers: one request per layer with multipart answers (plus their part headers), else one per row.
    if (multiRange) {
      assert.equal(S.server.requests.filter((r) => r.range!.includes(',')).length, 8);
      assert.ok(fetched > cropBytes && fetched <= 2 * cropBytes, `${fetched} bytes for a ${cropBytes}-byte crop`);
    } else {
      assert.equal(answered.length, 8 * 64, 'one row per request');
      assert.equal(fetched, cropBytes, 'a narrow window fetches exactly its rows');
    }
    const layerBytes = 8 * 512 * 512 * 2;
    assert.ok(
      openBytes + fetched <= 3 * cropBytes,
      `open + crop fetched ${openBytes + fetched} bytes for a ${cropBytes}-byte crop (layers hold ${layerBytes})`,
    );
    const local = await Volume.open(join(S.fx.root, 'big'), { scale: 1 });
    assert.deepEqual([...crop.data], [...(await local.readWindow(0, 8, 200, 264, 300, 364, { raw: true })).data]);
    await vol.close();
    await local.close();
    S.server.opts.multiRange = true;
  });
}
