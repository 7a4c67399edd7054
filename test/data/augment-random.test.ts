import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveSeed, normalQuantile, Random } from '../../src/data/augment/random.js';

test('the same seed gives the same stream, different seeds differ', () => {
  const a = new Random(42);
  const b = new Random(42);
  const c = new Random(43);
  const xa = Array.from({ length: 20 }, () => a.nextUint32());
  const xb = Array.from({ length: 20 }, () => b.nextUint32());
  const xc = Array.from({ length: 20 }, () => c.nextUint32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
});

test('deriveSeed separates (seed, epoch, index) tuples and is order sensitive', () => {
  const seen = new Set<number>();
  for (let e = 0; e < 4; e++) for (let i = 0; i < 500; i++) seen.add(deriveSeed(7, e, i));
  assert.equal(seen.size, 2000);
  assert.notEqual(deriveSeed(1, 2), deriveSeed(2, 1));
  assert.equal(deriveSeed(2 ** 40 + 3), deriveSeed(2 ** 40 + 3));
  assert.notEqual(deriveSeed(2 ** 40 + 3), deriveSeed(3));
});

test('int is inclusive like random.randint and covers its range', () => {
  const r = new Random(1);
  const counts = new Map<number, number>();
  for (let i = 0; i < 4000; i++) {
    const v = r.int(0, 3);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [0, 1, 2, 3]);
  for (const c of counts.values()) assert.ok(c > 850 && c < 1150, `count ${c}`);
  assert.throws(() => r.int(3, 1), /lo <= hi/);
});

test('below is exactly uniform even where the plain product floor(next() * n) is biased', () => {
  // n = 3 * 2^30: floor(u * n / 2^32) maps 4 draws onto 3 values, so multiples of 3 would come up half the time.
  const r = new Random(1);
  let zeros = 0;
  for (let i = 0; i < 60_000; i++) if (r.below(3 * 2 ** 30) % 3 === 0) zeros++;
  assert.ok(Math.abs(zeros / 60_000 - 1 / 3) < 0.01, `P(v % 3 = 0) = ${zeros / 60_000}`);
  // n = 2^32 needs no rejection: the draw itself.
  const a = new Random(3);
  const b = new Random(3);
  for (let i = 0; i < 1000; i++) assert.equal(a.below(2 ** 32), b.nextUint32());
  assert.throws(() => r.below(2 ** 32 + 1), /integer in \[1, 2\^32\]/);
  assert.throws(() => r.below(0), /integer in \[1, 2\^32\]/);
});

test('normal draws (Box-Muller and the quantile table) have mean 0 and std 1', () => {
  const r = new Random(5);
  for (const fill of [(o: Float32Array) => r.fillNormal(o), (o: Float32Array) => r.fillNormalFast(o)]) {
    const x = fill(new Float32Array(200_000));
    let m = 0;
    for (const v of x) m += v;
    m /= x.length;
    let s = 0;
    for (const v of x) s += (v - m) ** 2;
    s = Math.sqrt(s / x.length);
    assert.ok(Math.abs(m) < 0.01, `mean ${m}`);
    assert.ok(Math.abs(s - 1) < 0.01, `std ${s}`);
  }
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  assert.equal(normalQuantile(0.5), 0);
});

test('sample draws distinct values; beta stays in [0, 1] with the right mean', () => {
  const r = new Random(9);
  const s = r.sample(10, 10);
  assert.deepEqual(
    [...s].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  let m = 0;
  for (let i = 0; i < 5000; i++) {
    const b = r.beta(2, 6);
    assert.ok(b >= 0 && b <= 1);
    m += b;
  }
  assert.ok(Math.abs(m / 5000 - 0.25) < 0.01, `beta(2,6) mean ${m / 5000}`);
  assert.throws(() => r.sample(3, 4), /cannot draw 4/);
});
