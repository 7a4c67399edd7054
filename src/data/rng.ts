/**
 * A small seedable PRNG for tile shuffling, statistics sampling and augmentation, so that a run can be
 * repeated exactly from its seed (Math.random cannot be seeded).
 *
 * Generator: mulberry32 (Tommy Ettinger, public domain): 32-bit state, passes gjrand/PractRand up to the sizes
 * a data loader uses and costs a few integer ops per draw. Seeds go through splitmix32 first so that nearby
 * seeds (0, 1, 2, ...) give unrelated streams, and `fork()` derives independent child streams the same way.
 */

/** One splitmix32 step on `x` (Steele et al.'s SplitMix finaliser, 32-bit variant): a well-mixed 32-bit word. */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A mulberry32 generator: each call returns a uniform 32-bit unsigned integer. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export interface Rng {
  /** The seed this stream was created from. */
  readonly seed: number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** Uniform integer in [0, n). */
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

/** A seedable generator; the same seed always yields the same sequence. */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number, got ${seed}`);
  const draw = mulberry32(splitmix32(Math.trunc(seed) >>> 0));
  const rng: Rng = {
    seed,
    uint32: draw,
    next: () => draw() / 4294967296,
    int(n) {
      if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
      // Rejection sampling removes the modulo bias of `draw() % n`.
      const limit = 4294967296 - (4294967296 % n);
      for (;;) {
        const v = draw();
        if (v < limit) return v % n;
      }
    },
    uniform: (lo, hi) => lo + (hi - lo) * (draw() / 4294967296),
    normal() {
      // 1 - u keeps the log argument in (0, 1].
      const u = 1 - draw() / 4294967296;
      const v = draw() / 4294967296;
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    bernoulli: (p) => draw() / 4294967296 < p,
    choice<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('Rng.choice: empty array');
      return items[rng.int(items.length)] as T;
    },
    shuffle<T>(items: T[]): T[] {
      for (let i = items.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = items[i] as T;
        items[i] = items[j] as T;
        items[j] = t;
      }
      return items;
    },
    fork: () => createRng(splitmix32(draw())),
  };
  return rng;
}
