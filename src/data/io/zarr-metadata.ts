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

function intArray(
  op: string, file: string, field: string, v: unknown, min: number, rank: number | null,
): number[] {
  const what = min === 0 ? 'integers >= 0' : `integers >= ${min}`;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < min)) {
    throw new Error(`${op}: ${file} has ${field} ${show(v)}, expected a list of ${what}`);
  }
  if (rank !== null && v.length !== rank) {
    throw new Error(`${op}: ${file} has ${field} ${show(v)} (${v.length}-D), expected ${rank}-D [z,y,x]`);
  }
  return v as number[];
}

function codec(op: string, file: string, field: string, v: unknown): { id: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { id?: unknown }).id !== 'string') {
    throw new Error(`${op}: ${file} has ${field} ${show(v)}, expected null or an object with a string "id"`);
  }
  return v as { id: string };
}

/** Checks every `.zarray` field of a 3-D uint8/uint16 volume; `file` is the path named in errors. */
export function validateZarray(meta: Record<string, unknown>, file: string, op = 'openZarr'): ZarrayMeta {
  if (meta['zarr_format'] !== 2) throw new Error(`${op}: ${file} has zarr_format ${show(meta['zarr_format'])}, expected 2`);
  const shape = intArray(op, file, 'shape', meta['shape'], 0, null);
  const chunks = intArray(op, file, 'chunks', meta['chunks'], 1, null);
  if (shape.length !== 3) throw new Error(`${op}: ${file} has shape ${show(shape)} (${shape.length}-D), expected 3-D [z,y,x]`);
  if (chunks.length !== shape.length) {
    throw new Error(`${op}: ${file} has chunks ${show(chunks)} for shape ${show(shape)}, expected one chunk size per dimension`);
  }
  if (shape.some((s) => s === 0)) {
    throw new Error(`${op}: ${file} has shape ${show(shape)}, which holds no voxels; expected a non-empty [z,y,x] volume`);
  }
  const dtype = meta['dtype'];
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype)) {
    throw new Error(`${op}: ${file} has dtype ${show(dtype)}, expected uint8 ('|u1') or uint16 ('<u2' / '>u2')`);
  }
  if (!('compressor' in meta)) throw new Error(`${op}: ${file} has no compressor field, expected null or a codec object`);
  const rawCompressor = meta['compressor'];
  const compressor = rawCompressor === null ? null : codec(op, file, 'compressor', rawCompressor);
  if (compressor !== null && !COMPRESSORS.includes(compressor.id)) {
    throw new Error(`${op}: ${file} has compressor id ${show(compressor.id)}, expected one of ${COMPRESSORS.join(', ')} or null`);
  }
  const fill = meta['fill_value'];
  const maxValue = dtype.endsWith('2') ? 65535 : 255;
  if (!('fill_value' in meta) || (fill !== null && (typeof fill !== 'number' || !Number.isInteger(fill) || fill < 0 || fill > maxValue))) {
    throw new Error(`${op}: ${file} has fill_value ${show(fill)}, expected null or an integer in [0, ${maxValue}] for ${dtype}`);
  }
  const order = meta['order'];
  if (order !== 'C' && order !== 'F') throw new Error(`${op}: ${file} has order ${show(order)}, expected "C" or "F"`);
  const rawFilters = meta['filters'];
  let filters: { id: string }[] | null = null;
  if (rawFilters !== null && rawFilters !== undefined) {
    if (!Array.isArray(rawFilters)) throw new Error(`${op}: ${file} has filters ${show(rawFilters)}, expected null or a list of codec objects`);
    filters = rawFilters.map((f, i) => codec(op, file, `filters[${i}]`, f));
  }
  const sep = meta['dimension_separator'];
  if (sep !== undefined && sep !== '.' && sep !== '/') {
    throw new Error(`${op}: ${file} has dimension_separator ${show(sep)}, expected "." or "/" (or no field: ".")`);
  }
  return {
    shape: shape as [number, number, number], chunks: chunks as [number, number, number],
    dtype: dtype as ZarrayMeta['dtype'], compressor, fillValue: fill as number | null, order, filters,
    dimensionSeparator: sep,
  };
}

function transforms(op: string, file: string, field: string, v: unknown, rank: number): void {
  if (!Array.isArray(v) || v.length === 0) {
    throw new Error(`${op}: ${file} has ${field} ${show(v)}, expected a list holding one "scale" transform`);
  }
  v.forEach((t: unknown, i: number) => {
    const at = `${field}[${i}]`;
    const type = (t as { type?: unknown } | null)?.type;
    if (typeof t !== 'object' || t === null || (type !== 'scale' && type !== 'translation')) {
      throw new Error(`${op}: ${file} has ${at} ${show(t)}, expected {"type": "scale" | "translation", ...}`);
    }
    if (i === 0 && type !== 'scale') throw new Error(`${op}: ${file} has ${at} of type ${show(type)}, expected "scale" first`);
    if (i > 0 && (type !== 'translation' || i > 1)) {
      throw new Error(`${op}: ${file} has ${at} of type ${show(type)}, expected at most one "translation" after the "scale"`);
    }
    const values = (t as Record<string, unknown>)[type];
    const ok = Array.isArray(values) && values.length === rank
      && values.every((x) => typeof x === 'number' && Number.isFinite(x) && (type === 'translation' || x > 0));
    if (!ok) {
      const want = type === 'scale' ? 'positive numbers' : 'finite numbers';
      throw new Error(`${op}: ${file} has ${at}.${type} ${show(values)}, expected ${rank} ${want} (one per axis)`);
    }
  });
}

/**
 * Checks the first OME-Zarr multiscale in `.zattrs` (OME-NGFF 0.4; 0.1-0.3 files without axes or transforms
 * pass) and returns its level paths, finest first. The axes must be three spatial axes [z,y,x] in some naming.
 */
export function validateMultiscales(attrs: Record<string, unknown>, file: string, op = 'openZarr'): string[] {
  const ms = attrs['multiscales'];
  if (!Array.isArray(ms) || ms.length === 0) {
    throw new Error(`${op}: ${file} has multiscales ${show(ms)}, expected a non-empty list (OME-Zarr)`);
  }
  const m = ms[0] as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    throw new Error(`${op}: ${file} has multiscales[0] ${show(m)}, expected an object with "datasets"`);
  }
  const rank = 3;
  const axes = m['axes'];
  if (axes !== undefined) {
    const names = Array.isArray(axes) ? axes.map((a: unknown) => (typeof a === 'string' ? a : (a as { name?: unknown } | null)?.name)) : [];
    const types = Array.isArray(axes) ? axes.map((a: unknown) => (typeof a === 'object' && a !== null ? (a as { type?: unknown }).type : undefined)) : [];
    if (!Array.isArray(axes) || axes.length !== rank || names.some((n) => typeof n !== 'string' || n === '') || new Set(names).size !== rank) {
      throw new Error(`${op}: ${file} has multiscales[0].axes ${show(axes)}, expected ${rank} uniquely named axes [z,y,x]`);
    }
    const bad = types.findIndex((t) => t !== undefined && t !== 'space');
    if (bad >= 0) {
      throw new Error(`${op}: ${file} has multiscales[0].axes[${bad}] of type ${show(types[bad])}, expected "space" (a 3-D volume [z,y,x])`);
    }
  }
  const datasets = m['datasets'];
  if (!Array.isArray(datasets) || datasets.length === 0) {
    throw new Error(`${op}: ${file} has multiscales[0].datasets ${show(datasets)}, expected a non-empty list of levels`);
  }
  const paths = datasets.map((d: unknown, i: number) => {
    const path = (d as { path?: unknown } | null)?.path;
    if (typeof path !== 'string' || path === '' || path.split('/').some((p) => p === '..' || p === '')) {
      throw new Error(`${op}: ${file} has multiscales[0].datasets[${i}].path ${show(path)}, expected a relative folder name`);
    }
    const ct = (d as Record<string, unknown>)['coordinateTransformations'];
    if (ct !== undefined) transforms(op, file, `multiscales[0].datasets[${i}].coordinateTransformations`, ct, rank);
    return path;
  });
  if (new Set(paths).size !== paths.length) throw new Error(`${op}: ${file} lists a level path twice in multiscales[0].datasets ${show(paths)}`);
  if (m['coordinateTransformations'] !== undefined) {
    transforms(op, file, 'multiscales[0].coordinateTransformations', m['coordinateTransformations'], rank);
  }
  return paths;
}
