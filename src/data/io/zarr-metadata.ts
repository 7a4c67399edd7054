/**
 * Validation of Zarr v2 array metadata (`.zarray`) and OME-Zarr multiscales (`.zattrs`) before any chunk is
 * read. Loose metadata otherwise succeeds silently with a wrong result: `chunks [0,32,32]` reads as an all-zero
 * crop, a negative shape is shown as "-96 rows". Every error names the file and the field, and says what was
 * expected. Field rules: Zarr storage specification v2 (zarr-specs, docs/v2/v2.0.rst, "Metadata") and OME-NGFF
 * 0.4 (ngff.openmicroscopy.org/0.4, "multiscales metadata"); see docs/data-formats.md.
 */

/** The `.zarray` fields inkwell reads, checked. */
export interface ZarrayMeta {
  shape: [number, number, number];
  chunks: [number, number, number];
  dtype: '|u1' | '<u1' | '>u1' | '<u2' | '>u2';
  compressor: { id: string } | null;
  fillValue: number | null;
  order: 'C' | 'F';
  filters: { id: string }[] | null;
  /** Absent means "." (the spec's default). */
  dimensionSeparator: '.' | '/' | undefined;
}

/** Compressors zarrita decodes (its codec registry: blosc, lz4, zstd, gzip, zlib). */
const COMPRESSORS = ['blosc', 'lz4', 'zstd', 'gzip', 'zlib'];
/** uint8 and uint16 volumes only: the scroll data inkwell reads (docs/data-formats.md). */
const DTYPES = ['|u1', '<u1', '>u1', '<u2', '>u2'];

const show = (v: unknown): string => (v === undefined ? 'missing' : JSON.stringify(v));

/** Errors of one metadata file: `${op}: ${file} has ${field} ${value}, expected ${what}`. */
function reporter(op: string, file: string): (field: string, value: unknown, expected: string) => never {
  return (field, value, expected) => {
    throw new Error(`${op}: ${file} has ${field} ${show(value)}, expected ${expected}`);
  };
}
type Fail = ReturnType<typeof reporter>;

function intArray(fail: Fail, field: string, v: unknown, min: number): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < min)) {
    fail(field, v, `a list of integers >= ${min}`);
  }
  return v as number[];
}

function codec(fail: Fail, field: string, v: unknown): { id: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { id?: unknown }).id !== 'string') {
    fail(field, v, 'null or an object with a string "id"');
  }
  return v as { id: string };
}

/** Checks every `.zarray` field of a 3-D uint8/uint16 volume; `file` is the path named in errors. */
export function validateZarray(meta: Record<string, unknown>, file: string, op = 'openZarr'): ZarrayMeta {
  const fail = reporter(op, file);
  if (meta['zarr_format'] !== 2) fail('zarr_format', meta['zarr_format'], '2');
  const shape = intArray(fail, 'shape', meta['shape'], 0);
  const chunks = intArray(fail, 'chunks', meta['chunks'], 1);
  if (shape.length !== 3) fail(`shape (${shape.length}-D)`, shape, '3-D [z,y,x]');
  if (chunks.length !== shape.length) fail('chunks', chunks, `one chunk size per dimension of shape ${show(shape)}`);
  if (shape.some((n) => n === 0)) fail('shape', shape, 'a non-empty [z,y,x] volume (this one holds no voxels)');
  const dtype = meta['dtype'];
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype)) {
    fail('dtype', dtype, "uint8 ('|u1') or uint16 ('<u2' / '>u2')");
  }
  const d = dtype as ZarrayMeta['dtype'];
  const raw = meta['compressor'];
  if (raw === undefined) fail('compressor', raw, 'null or a codec object (the field is required)');
  const compressor = raw === null ? null : codec(fail, 'compressor', raw);
  if (compressor !== null && !COMPRESSORS.includes(compressor.id)) {
    fail('compressor id', compressor.id, `one of ${COMPRESSORS.join(', ')} or null`);
  }
  const fill = meta['fill_value'];
  const max = d.endsWith('2') ? 65535 : 255;
  const fillOk = fill === null || (typeof fill === 'number' && Number.isInteger(fill) && fill >= 0 && fill <= max);
  if (!fillOk) {
    fail('fill_value', fill, `null or an integer in [0, ${max}] for ${d}`);
  }
  const order = meta['order'];
  if (order !== 'C' && order !== 'F') fail('order', order, '"C" or "F"');
  const rawFilters = meta['filters'];
  let filters: { id: string }[] | null = null;
  if (rawFilters !== null && rawFilters !== undefined) {
    if (!Array.isArray(rawFilters)) fail('filters', rawFilters, 'null or a list of codec objects');
    filters = (rawFilters as unknown[]).map((f, i) => codec(fail, `filters[${i}]`, f));
  }
  const sep = meta['dimension_separator'];
  if (sep !== undefined && sep !== '.' && sep !== '/') {
    fail('dimension_separator', sep, '"." or "/" (or no field: ".")');
  }
  return {
    shape: shape as [number, number, number],
    chunks: chunks as [number, number, number],
    dtype: d,
    compressor,
    fillValue: fill as number | null,
    order: order as 'C' | 'F',
    filters,
    dimensionSeparator: sep as '.' | '/' | undefined,
  };
}

/** One "scale" (positive, one per axis) first, then at most one "translation" (finite): OME-NGFF 0.4. */
function transforms(fail: Fail, field: string, v: unknown, rank: number): void {
  if (!Array.isArray(v) || v.length === 0) fail(field, v, 'a list holding one "scale" transform');
  (v as unknown[]).forEach((t, i) => {
    const at = `${field}[${i}]`;
    const type = (t as { type?: unknown } | null)?.type;
    if (typeof t !== 'object' || t === null || (type !== 'scale' && type !== 'translation')) {
      fail(at, t, '{"type": "scale" | "translation", ...}');
    }
    if (i === 0 && type !== 'scale') fail(`${at} of type`, type, '"scale" first');
    if (i > 0 && (type !== 'translation' || i > 1)) {
      fail(`${at} of type`, type, 'at most one "translation" after the "scale"');
    }
    const kind = type as 'scale' | 'translation';
    const values = (t as Record<string, unknown>)[kind];
    const ok =
      Array.isArray(values) &&
      values.length === rank &&
      values.every((x) => typeof x === 'number' && Number.isFinite(x) && (kind === 'translation' || x > 0));
    const want = kind === 'scale' ? 'positive' : 'finite';
    if (!ok) fail(`${at}.${kind}`, values, `${rank} ${want} numbers (one per axis)`);
  });
}

const axisName = (a: unknown): unknown => (typeof a === 'string' ? a : (a as { name?: unknown } | null)?.name);
const axisType = (a: unknown): unknown =>
  typeof a === 'object' && a !== null ? (a as { type?: unknown }).type : undefined;

/**
 * Checks the first OME-Zarr multiscale in `.zattrs` (OME-NGFF 0.4; 0.1-0.3 files without axes or transforms
 * pass) and returns its level paths, finest first. The axes must be three spatial axes [z,y,x] in some naming.
 */
export function validateMultiscales(attrs: Record<string, unknown>, file: string, op = 'openZarr'): string[] {
  const fail = reporter(op, file);
  const ms = attrs['multiscales'];
  if (!Array.isArray(ms) || ms.length === 0) fail('multiscales', ms, 'a non-empty list (OME-Zarr)');
  const m = (ms as unknown[])[0] as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('multiscales[0]', m, 'an object with "datasets"');
  const rank = 3;
  const axes = m!['axes'];
  if (axes !== undefined) {
    const names = Array.isArray(axes) ? axes.map(axisName) : [];
    if (
      !Array.isArray(axes) ||
      axes.length !== rank ||
      names.some((n) => typeof n !== 'string' || n === '') ||
      new Set(names).size !== rank
    ) {
      fail('multiscales[0].axes', axes, `${rank} uniquely named axes [z,y,x]`);
    }
    const types = (axes as unknown[]).map(axisType);
    const bad = types.findIndex((t) => t !== undefined && t !== 'space');
    if (bad >= 0) fail(`multiscales[0].axes[${bad}] of type`, types[bad], '"space" (a 3-D volume [z,y,x])');
  }
  const datasets = m!['datasets'];
  if (!Array.isArray(datasets) || datasets.length === 0) {
    fail('multiscales[0].datasets', datasets, 'a non-empty list of levels');
  }
  const paths = (datasets as unknown[]).map((d, i) => {
    const path = (d as { path?: unknown } | null)?.path;
    if (typeof path !== 'string' || path === '' || path.split('/').some((p) => p === '..' || p === '')) {
      fail(`multiscales[0].datasets[${i}].path`, path, 'a relative folder name');
    }
    const ct = (d as Record<string, unknown>)['coordinateTransformations'];
    if (ct !== undefined) transforms(fail, `multiscales[0].datasets[${i}].coordinateTransformations`, ct, rank);
    return path as string;
  });
  if (new Set(paths).size !== paths.length) fail('multiscales[0].datasets paths', paths, 'each level listed once');
  const ct = m!['coordinateTransformations'];
  if (ct !== undefined) transforms(fail, 'multiscales[0].coordinateTransformations', ct, rank);
  return paths;
}
