/**
 * Heatmap PNGs of CKA matrices (the reference study's figure: epoch x epoch linear and RBF CKA) and the CKA report folder.
 * Cells are painted into a raw RGB image with the viridis colour map; labels, values and the colour bar's
 * ticks are an SVG overlay that sharp composites (text through librsvg). Files are written atomically.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * matplotlib's viridis (van der Walt & Smith 2015) sampled at i/32, i = 0..32, as 8-bit RGB; `viridis`
 * interpolates linearly between them (within 3 levels of matplotlib's 256-entry lookup table).
 */
const VIRIDIS_STOPS: readonly (readonly [number, number, number])[] = [
  '440154',
  '470d60',
  '48186a',
  '482374',
  '472d7b',
  '453781',
  '424086',
  '3e4989',
  '3b528b',
  '375b8d',
  '33638d',
  '2f6b8e',
  '2c728e',
  '297a8e',
  '26828e',
  '23898e',
  '21918c',
  '1f988b',
  '1fa088',
  '22a785',
  '28ae80',
  '32b67a',
  '3fbc73',
  '4ec36b',
  '5ec962',
  '70cf57',
  '84d44b',
  '98d83e',
  'addc30',
  'c2df23',
  'd8e219',
  'ece51b',
  'fde725',
].map((h) => [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)] as const);

/** The viridis colour of t in [0, 1] (clamped) as 8-bit RGB. */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS_STOPS.length - 1);
  const i = Math.min(VIRIDIS_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS_STOPS[i]!;
  const b = VIRIDIS_STOPS[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + f * (b[c]! - a[c]!))) as [number, number, number];
}

export interface HeatmapOptions {
  /** Title above the matrix. */
  title?: string;
  /** Colour scale limits (default 0 and 1, CKA's range; values outside are clamped). */
  vmin?: number;
  vmax?: number;
  /** Cell size in pixels (default 56). */
  cell?: number;
  /** Print each cell's value (default true). */
  values?: boolean;
}

export interface HeatmapLayout {
  width: number;
  height: number;
  /** Top-left corner of the cell grid and the cell size, for readers of the image. */
  gridX: number;
  gridY: number;
  cell: number;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

const FONT = 'font-family="DejaVu Sans, Lato, sans-serif"';
const NAN_GREY = 160;

/**
 * Renders `matrix` (rows x columns) as a PNG in memory: viridis cells, values printed in them, row labels on
 * the left, column labels below, a colour bar on the right. `labels` names the rows and columns (a square
 * matrix) or, for a rectangular one, gives rows then columns.
 */
export async function renderHeatmapPng(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  opts: HeatmapOptions = {},
): Promise<{ png: Buffer; layout: HeatmapLayout }> {
  const op = 'writeHeatmapPng';
  const rows = matrix.length;
  const cols = matrix[0]?.length ?? 0;
  if (rows === 0 || cols === 0) throw new Error(`${op}: the matrix is empty, expected at least one row and column`);
  matrix.forEach((r, i) => {
    if (r.length !== cols)
      throw new Error(`${op}: row ${i} has ${r.length} values, row 0 has ${cols}; expected a rectangular matrix`);
  });
  let rowLabels: readonly string[];
  let colLabels: readonly string[];
  if (labels.length === rows && rows === cols) {
    rowLabels = labels;
    colLabels = labels;
  } else if (labels.length === rows + cols) {
    rowLabels = labels.slice(0, rows);
    colLabels = labels.slice(rows);
  } else {
    throw new Error(
      `${op}: ${labels.length} labels for a ${rows}x${cols} matrix, expected ${rows === cols ? rows : rows + cols}`,
    );
  }
  const vmin = opts.vmin ?? 0;
  const vmax = opts.vmax ?? 1;
  if (!(vmax > vmin)) throw new Error(`${op}: colour range [${vmin}, ${vmax}] is empty, expected vmin < vmax`);
  const cell = opts.cell ?? 56;
  if (!Number.isInteger(cell) || cell < 8)
    throw new Error(`${op}: cell size ${cell} is invalid, expected an integer >= 8`);
  const charW = 8;
  const gridX = 16 + Math.max(...rowLabels.map((s) => s.length)) * charW;
  const gridY = opts.title !== undefined ? 40 : 12;
  const gridW = cols * cell;
  const gridH = rows * cell;
  const barX = gridX + gridW + 16;
  const barW = 18;
  const width = barX + barW + 8 + 6 * charW;
  const height = gridY + gridH + 24 + 12;
  const rgb = Buffer.alloc(width * height * 3, 255);
  const fill = (x0: number, y0: number, w: number, h: number, c: readonly number[]): void => {
    for (let y = y0; y < y0 + h; y++)
      for (let x = x0; x < x0 + w; x++) {
        const o = (y * width + x) * 3;
        rgb[o] = c[0]!;
        rgb[o + 1] = c[1]!;
        rgb[o + 2] = c[2]!;
      }
  };
  const scaled = (v: number): number => (v - vmin) / (vmax - vmin);
  const text: string[] = [];
  const fontSize = Math.max(8, Math.min(14, Math.floor(cell / 4)));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = matrix[i]![j]!;
      const colour = Number.isFinite(v) ? viridis(scaled(v)) : [NAN_GREY, NAN_GREY, NAN_GREY];
      fill(gridX + j * cell, gridY + i * cell, cell, cell, colour);
      if (opts.values ?? true) {
        // Dark text on the bright end of the map, white on the dark end (relative luminance, ITU-R BT.709).
        const lum = (0.2126 * colour[0]! + 0.7152 * colour[1]! + 0.0722 * colour[2]!) / 255;
        const shown = Number.isFinite(v) ? v.toFixed(2) : 'nan';
        text.push(
          `<text x="${gridX + j * cell + cell / 2}" y="${gridY + i * cell + cell / 2}" font-size="${fontSize}" fill="${lum > 0.5 ? '#000' : '#fff'}" text-anchor="middle" dominant-baseline="central">${shown}</text>`,
        );
      }
    }
  }
  for (let i = 0; i < rows; i++) {
    text.push(
      `<text x="${gridX - 6}" y="${gridY + i * cell + cell / 2}" font-size="12" text-anchor="end" dominant-baseline="central">${escapeXml(rowLabels[i]!)}</text>`,
    );
  }
  for (let j = 0; j < cols; j++) {
    text.push(
      `<text x="${gridX + j * cell + cell / 2}" y="${gridY + gridH + 16}" font-size="12" text-anchor="middle">${escapeXml(colLabels[j]!)}</text>`,
    );
  }
  // Colour bar: vmax at the top, vmin at the bottom, with three ticks.
  for (let y = 0; y < gridH; y++) fill(barX, gridY + y, barW, 1, viridis(1 - y / Math.max(1, gridH - 1)));
  for (const f of [0, 0.5, 1]) {
    const y = gridY + (1 - f) * (gridH - 1);
    text.push(
      `<text x="${barX + barW + 4}" y="${y}" font-size="11" dominant-baseline="central">${(vmin + f * (vmax - vmin)).toFixed(2)}</text>`,
    );
  }
  if (opts.title !== undefined) {
    text.push(
      `<text x="${gridX + gridW / 2}" y="24" font-size="15" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ${FONT} fill="#000">${text.join('')}</svg>`;
  let png: Buffer;
  try {
    png = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
      .png()
      .toBuffer();
  } catch (err) {
    throw new Error(
      `${op}: rendering the ${rows}x${cols} heatmap failed (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  return { png, layout: { width, height, gridX, gridY, cell } };
}

/** Writes `matrix` as a heatmap PNG at `path` (atomically); see renderHeatmapPng. */
export async function writeHeatmapPng(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  path: string,
  opts: HeatmapOptions = {},
): Promise<HeatmapLayout> {
  const { png, layout } = await renderHeatmapPng(matrix, labels, opts);
  await writeFileAtomic(path, png);
  return layout;
}

export interface CkaReportFiles {
  json: string;
  linearPng: string;
  rbfPng: string;
}

/**
 * Writes a CKA report into `dir`: cka.json ({labels, linear, rbf}, the matrices as nested arrays),
 * cka_linear.png and cka_rbf.png (heatmaps titled "Linear CKA" and "RBF CKA").
 */
export async function writeCkaReport(
  dir: string,
  report: {
    linear: readonly (readonly number[])[];
    rbf: readonly (readonly number[])[];
    labels: readonly string[];
    rbfThreshold?: number;
    debiased?: boolean;
  },
): Promise<CkaReportFiles> {
  const files = {
    json: join(dir, 'cka.json'),
    linearPng: join(dir, 'cka_linear.png'),
    rbfPng: join(dir, 'cka_rbf.png'),
  };
  const n = report.labels.length;
  for (const [name, m] of [
    ['linear', report.linear],
    ['rbf', report.rbf],
  ] as const) {
    if (m.length !== n || m.some((r) => r.length !== n)) {
      throw new Error(
        `writeCkaReport: the ${name} matrix is ${m.length}x${m[0]?.length ?? 0}, expected ${n}x${n} for ${n} labels`,
      );
    }
  }
  const tag = report.debiased ? ' (debiased)' : '';
  const rbfTitle = `RBF CKA${report.rbfThreshold !== undefined ? ` (threshold ${report.rbfThreshold})` : ''}${tag}`;
  // Debiased CKA can dip slightly below 0 (docs/ssl-and-cka.md); the colour scale clamps it at 0.
  await writeHeatmapPng(report.linear, report.labels, files.linearPng, { title: `Linear CKA${tag}` });
  await writeHeatmapPng(report.rbf, report.labels, files.rbfPng, { title: rbfTitle });
  const json = {
    labels: report.labels,
    linear: report.linear,
    rbf: report.rbf,
    ...(report.rbfThreshold !== undefined ? { rbfThreshold: report.rbfThreshold } : {}),
    debiased: report.debiased ?? false,
  };
  await writeFileAtomic(files.json, JSON.stringify(json, null, 2) + '\n');
  return files;
}
