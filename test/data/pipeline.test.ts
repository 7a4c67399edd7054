import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { collate, PrefetchPipeline, prefetchBatches, sampleSeed, type Batch } from '../../src/data/pipeline.js';

/** A sample source module as a data: URL, so tests need no extra files. */
function sourceModule(body: string): string {
  return 'data:text/javascript,' + encodeURIComponent(body);
}

// Sample i: x = [i, seed, i * 2], plus scalars; `delay` makes workers finish out of order.
const TOY = sourceModule(`
export function createSource(o) {
  return {
    length: o.n,
    async get(i, seed) {
      if (o.delay) await new Promise((r) => setTimeout(r, (seed % 7) * o.delay));
      if (i === o.failAt) throw new Error('boom at ' + i);
      if (i === o.exitAt) process.exit(3);
      return { x: Float32Array.from([i, seed % 1000, i * 2]), id: i, even: i % 2 === 0 };
    },
  };
}`);

async function collect(p: PrefetchPipeline, epoch: number, order?: number[]): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of p.epoch(epoch, order)) out.push(b);
  return out;
}

test('batches arrive in order, with per-sample seeds, whatever the number of workers and timing', async () => {
  const results: Batch[][] = [];
  for (const workers of [0, 1, 2]) {
    const p = await PrefetchPipeline.open({
      source: { module: TOY, options: { n: 23, delay: 2 } },
      batchSize: 4,
      seed: 99,
      workers,
    });
    try {
      assert.equal(p.length, 23);
      assert.equal(p.batchesPerEpoch(), 6);
      results.push(await collect(p, 3));
    } finally {
      await p.close();
    }
  }
  const [inline, one, two] = results as [Batch[], Batch[], Batch[]];
  assert.equal(inline.length, 6);
  inline.forEach((b, k) => {
    assert.equal(b.index, k);
    assert.deepEqual(
      b.indices,
      Array.from({ length: b.size }, (_, j) => 4 * k + j),
    );
    assert.deepEqual(
      b.seeds,
      b.indices.map((i) => sampleSeed(99, 3, i)),
    );
    assert.deepEqual(b.values['id'], b.indices);
    assert.equal(b.lengths['x'], 3);
    const x = b.arrays['x'] as Float32Array;
    assert.ok(x instanceof Float32Array && x.length === 3 * b.size);
    b.indices.forEach((i, j) =>
      assert.deepEqual([...x.subarray(3 * j, 3 * j + 3)], [i, (b.seeds[j] as number) % 1000, 2 * i]),
    );
  });
  assert.equal(inline[5]?.size, 3, 'the last batch is partial');
  for (const other of [one, two]) {
    assert.equal(other.length, inline.length);
    other.forEach((b, k) => {
      const ref = inline[k] as Batch;
      assert.deepEqual(b.indices, ref.indices);
      assert.deepEqual(b.values, ref.values);
      assert.deepEqual(b.arrays['x'], ref.arrays['x']);
      assert.equal(
        (b.arrays['x'] as Float32Array).buffer.byteLength,
        4 * 3 * b.size,
        'a fresh, transferred (not detached) buffer',
      );
    });
  }
});

test('a custom order and dropLast are honoured; another epoch reseeds the samples', async () => {
  const p = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 10 } },
    batchSize: 3,
    seed: 1,
    workers: 1,
    dropLast: true,
  });
  try {
    const order = [9, 2, 5, 0, 7, 1, 3, 8];
    const a = await collect(p, 0, order);
    assert.deepEqual(
      a.map((b) => b.indices),
      [
        [9, 2, 5],
        [0, 7, 1],
      ],
    );
    const b = await collect(p, 1, order);
    assert.deepEqual(
      b.map((x) => x.indices),
      [
        [9, 2, 5],
        [0, 7, 1],
      ],
    );
    assert.notDeepEqual(a[0]?.seeds, b[0]?.seeds);
    await assert.rejects(collect(p, 2, [0, 10]), /index 10 is outside the source \(0\.\.9\)/);
  } finally {
    await p.close();
  }
});

test('the queue is bounded: a slow consumer never has more than `prefetch` batches produced ahead', async () => {
  const p = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 40 } },
    batchSize: 2,
    seed: 0,
    workers: 2,
    prefetch: 3,
  });
  try {
    let seen = 0;
    for await (const b of p.epoch(0)) {
      assert.ok(b.size === 2);
      seen++;
      await new Promise((r) => setTimeout(r, 5));
      const s = p.stats();
      assert.ok(s.dispatched - s.yielded <= 3, `${s.dispatched} dispatched, ${s.yielded} yielded`);
    }
    assert.equal(seen, 20);
    const s = p.stats();
    assert.equal(s.maxAhead, 3);
    assert.equal(s.completed, 20);
  } finally {
    await p.close();
  }
});

test('an error in a worker rejects the loop with an Error naming the sample', async () => {
  const p = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 30, failAt: 13 } },
    batchSize: 4,
    seed: 0,
    workers: 2,
  });
  try {
    const got: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const b of p.epoch(0)) got.push(b.index);
      })(),
      (err: Error) => {
        assert.match(err.message, /sample 13 \(batch 3 of epoch 0\) failed in worker \d: boom at 13/);
        assert.match(String((err.cause as Error).stack), /boom at 13/);
        return true;
      },
    );
    assert.ok(
      got.every((i) => i < 3),
      'no batch after the failing one is yielded',
    );
    // The pipeline stays usable for an epoch that avoids the bad sample.
    const ok = await collect(p, 1, [0, 1, 2, 3, 4]);
    assert.equal(ok.length, 2);
  } finally {
    await p.close();
  }
  const inline = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 30, failAt: 13 } },
    batchSize: 4,
    seed: 0,
    workers: 0,
  });
  await assert.rejects(collect(inline, 0), /sample 13 \(batch 3 of epoch 0\) failed in the main thread: boom at 13/);
  await inline.close();
});

test('a worker that dies breaks the pipeline with an error naming it and its batch', async () => {
  const p = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 12, exitAt: 6 } },
    batchSize: 2,
    seed: 0,
    workers: 1,
  });
  try {
    await assert.rejects(collect(p, 0), /worker 0 exited unexpectedly \(code 3\) while producing batch(es)? [\d, ]*3/);
    await assert.rejects(collect(p, 1), /worker 0 exited unexpectedly/);
  } finally {
    await p.close();
  }
});

test('sources that cannot load are reported when opening', async () => {
  await assert.rejects(
    PrefetchPipeline.open({ source: { module: sourceModule('export const x = 1;') }, batchSize: 2, seed: 0 }),
    /worker 0: pipeline: sample source data:.* exports no createSource\(options\) function/,
  );
  await assert.rejects(
    PrefetchPipeline.open({ source: { module: '/nonexistent/source.js' }, batchSize: 2, seed: 0, workers: 0 }),
    /cannot load sample source \/nonexistent\/source\.js/,
  );
  await assert.rejects(
    PrefetchPipeline.open({ source: { module: TOY }, batchSize: 0, seed: 0 }),
    /batchSize must be a positive integer/,
  );
});

test('breaking out of an epoch cancels it cleanly; close stops the workers and is idempotent', async () => {
  const p = await PrefetchPipeline.open({
    source: { module: TOY, options: { n: 50, delay: 1 } },
    batchSize: 2,
    seed: 5,
    workers: 2,
  });
  for await (const b of p.epoch(0)) if (b.index === 2) break;
  const again = await collect(p, 0, [4, 5, 6]);
  assert.deepEqual(
    again.map((b) => b.indices),
    [[4, 5], [6]],
  );
  await p.close();
  await p.close();
  await assert.rejects(collect(p, 1), /closed/);
});

test('collate names the sample whose arrays do not match', () => {
  assert.throws(
    () => collate([{ a: new Float32Array(3) }, { a: new Float32Array(4) }], [7, 8]),
    /sample 8 key 'a' is Float32Array\(4\), expected Float32Array\(3\) like sample 7/,
  );
  assert.throws(() => collate([{ a: 1 }, { b: 1 }], [0, 1]), /sample 1 has keys \[b\], expected \[a\]/);
});

test('synthetic tiles flow through a worker as two augmented 20x128x128 views', async () => {
  const module = fileURLToPath(new URL('../../src/data/synth/synth-tile-source.js', import.meta.url));
  const batches: Batch[] = [];
  for await (const b of prefetchBatches({
    source: { module, options: { height: 384, width: 384, seed: 4 } },
    batchSize: 2,
    seed: 1,
    workers: 1,
    order: [0, 1, 2],
  })) {
    batches.push(b);
  }
  assert.equal(batches.length, 2);
  const b = batches[0] as Batch;
  assert.equal(b.lengths['view0'], 20 * 128 * 128);
  const v0 = b.arrays['view0'] as Float32Array;
  const v1 = b.arrays['view1'] as Float32Array;
  assert.equal(v0.length, 2 * 20 * 128 * 128);
  assert.ok(v0.every((v) => v >= 0 && v <= 1));
  assert.notDeepEqual(v0.subarray(0, 1000), v1.subarray(0, 1000), 'two different views');
  assert.ok((b.values['y'] as number[]).every((y) => y >= 0 && y + 128 <= 384));
});
