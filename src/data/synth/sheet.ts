/**
 * Density of papyrus sheets in a surface volume (docs/synthetic-data.md), in density units: air 0.1,
 * papyrus 1.0. A sheet occupies layers [s, s + T] below its surface s(y, x) with 0.7-layer sigmoid edges;
 * horizontal fibres in its upper half, vertical fibres in its lower half (amplitude 0.12), isotropic grain
 * (amplitude 0.05); ink adds +delta in layers s - 1.5 .. s + 2.5 and halves the fibre contrast there.
 */
export interface SheetSpec {
  /** Surface layer per pixel [h, w] (fractional). */
  surface: Float32Array;
  /** Thickness in layers per pixel [h, w]. */
  thickness: Float32Array;
  /** Unit-variance fibre textures [h, w]: streaks along x (upper half) and along y (lower half). */
  fibreH: Float32Array;
  fibreV: Float32Array;
  /** Ink on this sheet (0/1 per pixel) and its density step; omit for blank sheets. */
  ink?: Uint8Array;
  inkDelta?: number;
}

export interface DensityParams {
  air: number;
  papyrus: number;
  /** Sigmoid edge width in layers. */
  edge: number;
  fibreAmp: number;
  grainAmp: number;
  /** Ink band relative to the surface, in layers (s - 1.5 .. s + 2.5). */
  inkFrom: number;
  inkTo: number;
}

export const DEFAULT_DENSITY: DensityParams = {
  air: 0.1,
  papyrus: 1.0,
  edge: 0.7,
  fibreAmp: 0.12,
  grainAmp: 0.05,
  inkFrom: -1.5,
  inkTo: 2.5,
};

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Renders `sheets` into a [layers, h, w] density volume. `grain` is a unit-variance [layers, h, w] field
 * (or null), `crack` a per-pixel factor on the papyrus part (1 = intact, or null).
 */
export function renderDensity(
  layers: number,
  h: number,
  w: number,
  sheets: readonly SheetSpec[],
  grain: Float32Array | null,
  crack: Float32Array | null,
  params: DensityParams = DEFAULT_DENSITY,
): Float32Array {
  const plane = h * w;
  if (grain !== null && grain.length !== layers * plane)
    throw new Error(`renderDensity: grain holds ${grain.length} values, expected ${layers}x${h}x${w}`);
  for (const s of sheets) {
    for (const [k, a] of [
      ['surface', s.surface],
      ['thickness', s.thickness],
      ['fibreH', s.fibreH],
      ['fibreV', s.fibreV],
    ] as const) {
      if (a.length !== plane) throw new Error(`renderDensity: sheet ${k} holds ${a.length} values, expected ${h}x${w}`);
    }
  }
  const { air, papyrus, edge, fibreAmp, grainAmp, inkFrom, inkTo } = params;
  const out = new Float32Array(layers * plane).fill(air);
  const invEdge = 1 / edge;
  const reach = 8 * edge; // beyond this the edge sigmoid is below 1e-4
  for (const sh of sheets) {
    const { surface, thickness, fibreH, fibreV, ink } = sh;
    const delta = sh.inkDelta ?? 0;
    for (let z = 0; z < layers; z++) {
      const o = z * plane;
      for (let i = 0; i < plane; i++) {
        const u = z - (surface[i] as number);
        const T = thickness[i] as number;
        if (u < -reach || u > T + reach) continue;
        const top = u > reach ? 1 : sigmoid(u * invEdge);
        const bottom = T - u > reach ? 1 : sigmoid((T - u) * invEdge);
        const occ = top * bottom;
        // Horizontal fibres above mid-thickness, vertical below, blended over about one layer.
        const wv = sigmoid(u - T / 2);
        const fib = (1 - wv) * (fibreH[i] as number) + wv * (fibreV[i] as number);
        const inked = ink !== undefined && ink[i] === 1 && u >= inkFrom && u <= inkTo;
        const amp = inked ? 0.5 * fibreAmp : fibreAmp;
        const g = grain === null ? 0 : grainAmp * (grain[o + i] as number);
        let add = occ * (papyrus - air + amp * fib + g);
        if (crack !== null) add *= crack[i] as number;
        if (inked) add += delta;
        out[o + i] = (out[o + i] as number) + add;
      }
    }
  }
  return out;
}
