/**
 * The project's one seedable PRNG: tile shuffling, statistics sampling, augmentations, synthetic data and the
 * data pipeline all draw from it, so that a run is repeated exactly from its seed (Math.random cannot be
 * seeded) and results never depend on timing or the number of workers.
 *
 * Generator: sfc32, Chris Doty-Humphrey's "small fast counting" generator from PractRand (128-bit state,
 * passes PractRand; a few integer ops per draw). Seeds are hashed through the splitmix32 finaliser first, so
 * that nearby seeds (0, 1, 2, ...) give unrelated streams; `deriveSeed` and `fork` derive independent child
 * streams the same way.
 *
 * `Random` is the generator; `createRng(seed)` gives the smaller `Rng` interface (`int(n)` for [0, n),
 * `bernoulli`) that tiles, volumes and the training loops use, as a view of a `Random`, not a second algorithm.
 */

/** Mixes a 32-bit value (splitmix32 finaliser, constants from Sebastiano Vigna's splitmix / murmur3 fmix32). */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Splits a JS number (integer up to 2^53, or any finite value) into two 32-bit words. */
function words(n: number): [number, number] {
  if (!Number.isFinite(n)) throw new Error(`random: seed must be a finite number, got ${n}`);
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) {
    const lo = n >>> 0;
    const hi = Math.floor(n / 0x1_0000_0000) >>> 0;
    return [lo, hi];
  }
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, n);
  return [dv.getUint32(4), dv.getUint32(0)];
}

/**
 * Hashes a list of numbers (seed, epoch, sample index, view, ...) into one 32-bit seed. Used to give every
 * sample and every view its own independent stream, so results do not depend on processing order.
 */
export function deriveSeed(...parts: readonly number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    const [lo, hi] = words(p);
    h = mix32(h ^ lo);
    h = mix32(h ^ hi);
  }
  return h;
}

/**
 * Inverse of the standard normal CDF (Peter Acklam's rational approximation, relative error < 1.2e-9),
 * used to build the quantile table below.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const plow = 0.02425;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  if (p > 1 - plow) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

let normalTable: Float32Array | null = null;

/**
 * 65536 standard-normal quantiles at (i + 0.5) / 65536. Indexing it with uniform 16-bit draws gives N(0, 1)
 * samples up to a discretisation far below augmentation noise levels (tails cut at about +-4.3 sigma), ~10x
 * faster than Box-Muller; used for per-voxel noise over millions of voxels.
 */
export function normalTable16(): Float32Array {
  if (normalTable === null) {
    const t = new Float32Array(65536);
    for (let i = 0; i < t.length; i++) t[i] = normalQuantile((i + 0.5) / 65536);
    normalTable = t;
  }
  return normalTable;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  /** The seed this stream was created from (for a fork: the seed derived for it). */
  readonly seed: number;

  constructor(seed: number) {
    const [lo, hi] = words(seed);
    this.seed = seed;
    this.a = mix32(lo ^ 0x6a09e667);
    this.b = mix32(hi ^ 0xbb67ae85);
    this.c = mix32(this.a ^ this.b ^ 0x3c6ef372);
    this.d = 1;
    // Warm-up as recommended for sfc32 so that the first outputs are well mixed.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A new generator whose stream is determined by this generator's seed material and `parts`. */
  fork(...parts: readonly number[]): Random {
    return new Random(deriveSeed(this.nextUint32(), ...parts));
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi) (Python's random.uniform draws from the closed interval; the difference is nil). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi], both inclusive, like Python's random.randint. */
  int(lo: number, hi: number): number {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
      throw new Error(`random.int: expected integers lo <= hi, got [${lo}, ${hi}]`);
    }
    return lo + this.below(hi - lo + 1);
  }

  /**
   * Integer in [0, n), n <= 2^32, exactly uniform: Lemire's multiply-and-reject ("Fast Random Integer
   * Generation in an Interval", ACM TOMACS 2019). The result is floor(u * n / 2^32) of a 32-bit draw u, which
   * is what floor(next() * n) gives whenever that product is exact (n <= 2^21), except that the (2^32 mod n)
   * draws that would make some values more likely are drawn again (probability below n / 2^32 per call).
   */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296)
      throw new Error(`random.below: expected an integer in [1, 2^32], got ${n}`);
    const reject = 4294967296 % n;
    for (;;) {
      const u = this.nextUint32();
      // u * n reaches 2^64, past exact doubles, so it is formed from u's 16-bit halves (partial products < 2^48).
      const a = (u >>> 16) * n;
      const aLo = a % 65536;
      const s = aLo * 65536 + (u & 0xffff) * n;
      if (s % 4294967296 >= reject) return (a - aLo) / 65536 + Math.floor(s / 4294967296);
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    const u = this.next(); // drawn even when p >= 1, so the stream advances the same for every p
    return p >= 1 || u < p;
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = this.next();
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * v;
    this.spare = r * Math.sin(t);
    this.hasSpare = true;
    return r * Math.cos(t);
  }

  /** Fills `out` with N(mean, std^2) values (both Box-Muller outputs used; ~2x faster than calling normal()). */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    const n = out.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      let u = this.next();
      while (u === 0) u = this.next();
      const r = std * Math.sqrt(-2 * Math.log(u));
      const t = 2 * Math.PI * this.next();
      out[i] = mean + r * Math.cos(t);
      out[i + 1] = mean + r * Math.sin(t);
    }
    if (i < n) out[i] = mean + std * this.normal();
    return out;
  }

  /**
   * Fills `out` with N(mean, std^2) values drawn through the 16-bit quantile table (two samples per 32-bit
   * draw). For bulk noise (per-voxel augmentation noise, synthetic volumes) where speed matters more than tails.
   */
  fillNormalFast(out: Float32Array, mean = 0, std = 1): Float32Array {
    const table = normalTable16();
    const n = out.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const u = this.nextUint32();
      out[i] = mean + std * (table[u & 0xffff] as number);
      out[i + 1] = mean + std * (table[u >>> 16] as number);
    }
    if (i < n) out[i] = mean + std * (table[this.nextUint32() & 0xffff] as number);
    return out;
  }

  /** Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the u^(1/shape) boost. */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new Error(`random.gamma: shape must be > 0, got ${shape}`);
    if (shape < 1) {
      let u = this.next();
      while (u === 0) u = this.next();
      return this.gamma(shape + 1) * u ** (1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) from two gamma draws (numpy's np.random.beta for the mixup/cutmix lambda). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** One element, uniformly. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('random.choice: empty list');
    return items[this.below(items.length)] as T;
  }

  /** An index drawn with probability proportional to `weights`. */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) {
      if (!(w >= 0)) throw new Error(`random.weightedIndex: weights must be >= 0, got ${w}`);
      total += w;
    }
    if (!(total > 0)) throw new Error('random.weightedIndex: weights sum to 0');
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** k distinct integers from [0, n), in random order (Python's random.sample(range(n), k)). */
  sample(n: number, k: number): number[] {
    if (!Number.isInteger(k) || k < 0 || k > n)
      throw new Error(`random.sample: cannot draw ${k} distinct values from ${n}`);
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.below(n - i);
      const t = pool[i] as number;
      pool[i] = pool[j] as number;
      pool[j] = t;
    }
    return pool.slice(0, k);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }
}

/** The `Rng` interface: the part of the generator tiles, volumes, readers and the training loops use. */
export interface Rng {
  /** The seed this stream was created from. */
  readonly seed: number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** Uniform integer in [0, n), n <= 2^32 (exactly uniform, no modulo bias). */
  int(n: number): number;
  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Standard normal draw (Box-Muller). */
  normal(): number;
  /** True with probability p. */
  bernoulli(p: number): boolean;
  /** One element of a non-empty array. */
  choice<T>(items: readonly T[]): T;
  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** An independent child stream; the parent advances by one draw. */
  fork(): Rng;
}

/** `Rng` as a view of a `Random`: every draw is the `Random` method of the same meaning. */
class RandomRng implements Rng {
  constructor(private readonly r: Random) {}
  get seed(): number {
    return this.r.seed;
  }
  uint32(): number {
    return this.r.nextUint32();
  }
  next(): number {
    return this.r.next();
  }
  int(n: number): number {
    return this.r.below(n);
  }
  uniform(lo: number, hi: number): number {
    return this.r.uniform(lo, hi);
  }
  normal(): number {
    return this.r.normal();
  }
  bernoulli(p: number): boolean {
    return this.r.chance(p);
  }
  choice<T>(items: readonly T[]): T {
    return this.r.choice(items);
  }
  shuffle<T>(items: T[]): T[] {
    return this.r.shuffle(items);
  }
  fork(): Rng {
    return new RandomRng(this.r.fork());
  }
}

/** A seedable generator; the same seed always yields the same sequence. */
export function createRng(seed: number): Rng {
  return new RandomRng(new Random(seed));
}
