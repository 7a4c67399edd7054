/**
 * PyTorch `.pth` / `.pt` checkpoints, both container formats of torch/serialization.py:
 *
 * - zip (torch >= 1.6 default, `_save` / `_load`): `<stem>/data.pkl` is the object pickled with storages as
 *   persistent ids `('storage', torch.XStorage, key, location, numel)`, each storage's bytes in
 *   `<stem>/data/<key>`, plus `<stem>/version` and (torch 2.x) `<stem>/byteorder`.
 * - legacy (`_use_new_zipfile_serialization=False`, `_legacy_save` / `_legacy_load`): five things in a row -
 *   pickles of the magic number, the protocol version (1001), sys_info, the object, the list of storage keys -
 *   then for each key an int64 element count and the storage's raw bytes. Persistent ids carry a sixth field,
 *   view metadata `(view_key, offset, size)` or None.
 *
 * Tensors come back as StoredTensors (see pickle-globals.ts / strided.ts); contiguous ones view the file's
 * bytes without a copy.
 */
import { DTYPE_SIZE, type DType } from '../dtype.js';
import { pickle } from './pickle-write.js';
import { pickleEnd, unpickleWithEnd } from './pickle.js';
import { storageDType } from './pickle-globals.js';
import { PyTuple, pyTypeName, type PyValue, type PyWritable, TorchStorage } from './pyvalue.js';
import { PendingStorage } from './strided.js';
import { ZipReader, zipStoredAligned } from './zip.js';

/** torch/serialization.py MAGIC_NUMBER and PROTOCOL_VERSION of the legacy format. */
export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export interface ReadPthOptions {
  /** Keep Python floats as PyFloat (see UnpickleOptions.preserveFloats). */
  preserveFloats?: boolean;
}

/** A plain Uint8Array over the same memory (a Node Buffer's subarrays are Buffers, which compare differently). */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function isZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0x50 &&
    bytes[1] === 0x4b &&
    (bytes[2] === 3 || bytes[2] === 5) &&
    (bytes[3] === 4 || bytes[3] === 6)
  );
}

/**
 * How every legacy checkpoint begins: PROTO (2 by default, torch.save's `pickle_protocol` may raise it), a FRAME
 * header from protocol 4 on, then LONG1 of 10 bytes holding LEGACY_MAGIC.
 */
export function isLegacyPth(bytes: Uint8Array): boolean {
  if (bytes.length < 15 || bytes[0] !== 0x80) return false;
  const p = bytes[2] === 0x95 ? 11 : 2;
  if (bytes.length < p + 12 || bytes[p] !== 0x8a || bytes[p + 1] !== 10) return false;
  let v = 0n;
  for (let i = p + 11; i >= p + 2; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v === LEGACY_MAGIC;
}

/** Reads a checkpoint in either container format. */
export function readPth(bytes: Uint8Array, where: string, options: ReadPthOptions = {}): PyValue {
  const b = plainBytes(bytes);
  if (isZip(b)) return readPthZip(b, where, options);
  if (isLegacyPth(b)) return readPthLegacy(b, where, options);
  throw new Error(
    `readPth(${where}): neither a zip nor a legacy PyTorch checkpoint (first bytes ${[...b.subarray(0, 4)].map((x) => x.toString(16).padStart(2, '0')).join(' ')})`,
  );
}

interface StorageRef {
  dtype: DType;
  key: string;
  numel: number;
  view: { key: string; offset: number; numel: number } | null;
}

/** Parses `('storage', storage_type, key, location, numel[, view_metadata])`. */
function parseStorageId(pid: PyValue, where: string, legacy: boolean): StorageRef {
  const bad = (what: string): never => {
    throw new Error(`readPth(${where}): bad storage persistent id: ${what}`);
  };
  if (!(pid instanceof PyTuple)) return bad(`expected a tuple, got ${pyTypeName(pid)}`);
  const [kind, type, key, , numel, view] = pid.items;
  const kindName = kind instanceof Uint8Array ? new TextDecoder().decode(kind) : kind;
  if (kindName !== 'storage')
    return bad(`kind '${String(kindName)}' (only 'storage'; whole-module pickles are not supported)`);
  if (pid.length !== (legacy ? 6 : 5)) return bad(`${pid.length} fields, expected ${legacy ? 6 : 5}`);
  const dtype = storageDType(type ?? null);
  if (dtype === undefined) return bad(`unsupported storage type ${pyTypeName(type)}`);
  if (typeof key !== 'string') return bad(`key must be a str, got ${pyTypeName(key)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
    return bad(`numel must be a non-negative int, got ${String(numel)}`);
  let viewRef: StorageRef['view'] = null;
  if (view !== undefined && view !== null) {
    if (!(view instanceof PyTuple) || view.length !== 3) return bad('view metadata must be (key, offset, size)');
    const [vk, vo, vn] = view.items;
    if (
      typeof vk !== 'string' ||
      typeof vo !== 'number' ||
      typeof vn !== 'number' ||
      vo < 0 ||
      vn < 0 ||
      vo + vn > numel
    ) {
      return bad(`view (${String(vk)}, ${String(vo)}, ${String(vn)}) does not fit a storage of ${numel} elements`);
    }
    viewRef = { key: vk, offset: vo, numel: vn };
  }
  return { dtype, key, numel, view: viewRef };
}

/** Reverses each element's bytes (for big-endian files). */
function byteswap(data: Uint8Array, itemsize: number): Uint8Array {
  const out = data.slice();
  if (itemsize === 1) return out;
  for (let i = 0; i < out.length; i += itemsize) out.subarray(i, i + itemsize).reverse();
  return out;
}

function readPthZip(bytes: Uint8Array, where: string, options: ReadPthOptions): PyValue {
  const zip = new ZipReader(bytes, where);
  const pkls = zip.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  if (pkls.length !== 1) {
    const names = zip.entries
      .slice(0, 8)
      .map((e) => e.name)
      .join(', ');
    throw new Error(
      `readPth(${where}): expected exactly one '<folder>/data.pkl' in the zip, found ${pkls.length} (entries: ${names}${zip.entries.length > 8 ? ', ...' : ''})`,
    );
  }
  const pkl = pkls[0]!;
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const orderEntry = zip.get(`${prefix}byteorder`);
  const order = orderEntry === undefined ? 'little' : new TextDecoder().decode(zip.read(orderEntry)).trim();
  if (order !== 'little' && order !== 'big') throw new Error(`readPth(${where}): unknown byteorder '${order}'`);
  // torch reads `version` first (caffe2/serialize/inline_container.cc); a damaged one means a damaged file. torch 2.x
  // also records `.format_version`, `.storage_alignment` (torch/serialization.py, _save) and a decimal
  // `.data/serialization_id` (inline_container.cc): read like `version`, so that their CRCs are checked and a
  // damaged record is an error, not ignored.
  for (const record of ['version', '.format_version', '.storage_alignment', '.data/serialization_id']) {
    const entry = zip.get(`${prefix}${record}`);
    if (entry === undefined) continue;
    const value = new TextDecoder().decode(zip.read(entry)).trim();
    if (!/^\d+$/.test(value))
      throw new Error(`readPth(${where}): '${prefix}${record}' holds '${value}', expected a number`);
  }

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const ref = parseStorageId(pid, where, false);
    const cached = storages.get(ref.key);
    if (cached !== undefined) {
      if (cached.dtype !== ref.dtype)
        throw new Error(`readPth(${where}): storage '${ref.key}' used as both ${cached.dtype} and ${ref.dtype}`);
      return cached;
    }
    const name = `${prefix}data/${ref.key}`;
    const entry = zip.get(name);
    if (entry === undefined) throw new Error(`readPth(${where}): storage record '${name}' is missing`);
    let data = zip.read(entry);
    const want = ref.numel * DTYPE_SIZE[ref.dtype];
    if (data.byteLength !== want) {
      throw new Error(
        `readPth(${where}): storage record '${name}' has ${data.byteLength} bytes, expected ${want} (${ref.numel} ${ref.dtype})`,
      );
    }
    if (order === 'big') data = byteswap(data, DTYPE_SIZE[ref.dtype]);
    const storage = new TorchStorage(ref.dtype, data);
    storages.set(ref.key, storage);
    return storage;
  };
  const pklWhere = `${where}:${pkl.name}`;
  const { value, end } = unpickleWithEnd(zip.read(pkl), {
    where: pklWhere,
    persistentLoad,
    preserveFloats: options.preserveFloats ?? false,
  });
  if (end !== pkl.size) throw new Error(`readPth(${pklWhere}): ${pkl.size - end} stray bytes after the pickle's STOP`);
  return value;
}

function readPthLegacy(bytes: Uint8Array, where: string, options: ReadPthOptions): PyValue {
  const fail = (message: string): never => {
    throw new Error(`readPth(${where}): legacy format: ${message}`);
  };
  const magic = unpickleWithEnd(bytes, { where: `${where} (magic number)` });
  if (magic.value !== LEGACY_MAGIC) fail('invalid magic number');
  const proto = unpickleWithEnd(bytes, { where: `${where} (protocol version)`, start: magic.end });
  if (proto.value !== LEGACY_PROTOCOL)
    fail(`unsupported protocol version ${String(proto.value)}, expected ${LEGACY_PROTOCOL}`);
  const sys = unpickleWithEnd(bytes, { where: `${where} (sys_info)`, start: proto.end });
  if (sys.value instanceof Map && sys.value.get('little_endian') === false)
    fail('written on a big-endian machine; not supported');
  const objStart = sys.end;
  const objWhere = `${where} (object)`;

  // Pass 1: learn each root storage's dtype and size (the bytes come after the pickle).
  const roots = new Map<string, { dtype: DType; numel: number }>();
  const objEnd = pickleEnd(bytes, objStart, objWhere);
  unpickleWithEnd(bytes, {
    where: objWhere,
    start: objStart,
    persistentLoad: (pid) => {
      const ref = parseStorageId(pid, where, true);
      const seen = roots.get(ref.key);
      if (seen !== undefined && (seen.dtype !== ref.dtype || seen.numel !== ref.numel))
        fail(`storage '${ref.key}' described twice differently`);
      roots.set(ref.key, { dtype: ref.dtype, numel: ref.numel });
      return new PendingStorage(ref.dtype, ref.numel);
    },
  });

  const keys = unpickleWithEnd(bytes, { where: `${where} (storage keys)`, start: objEnd });
  if (!Array.isArray(keys.value)) fail(`storage key list is a ${pyTypeName(keys.value)}`);
  const storages = new Map<string, TorchStorage>();
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as PyValue[]) {
    if (typeof key !== 'string') return fail(`storage key is a ${pyTypeName(key)}`);
    const root = roots.get(key);
    if (root === undefined) return fail(`storage '${key}' is listed but never used`);
    if (at + 8 > bytes.length) fail(`truncated before storage '${key}' (byte ${at} of ${bytes.length})`);
    const count = dv.getBigInt64(at, true);
    if (count !== BigInt(root.numel)) fail(`storage '${key}' holds ${count} elements, the pickle says ${root.numel}`);
    const n = root.numel * DTYPE_SIZE[root.dtype];
    at += 8;
    if (at + n > bytes.length)
      fail(`truncated in storage '${key}': needs ${n} bytes at byte ${at}, file has ${bytes.length - at}`);
    storages.set(key, new TorchStorage(root.dtype, bytes.subarray(at, at + n)));
    at += n;
  }
  for (const key of roots.keys()) if (!storages.has(key)) fail(`storage '${key}' has no data`);
  if (at !== bytes.length) fail(`${bytes.length - at} stray bytes after the last storage`);

  // Pass 2: the real thing.
  const views = new Map<string, TorchStorage>();
  return unpickleWithEnd(bytes, {
    where: objWhere,
    start: objStart,
    preserveFloats: options.preserveFloats ?? false,
    persistentLoad: (pid) => {
      const ref = parseStorageId(pid, where, true);
      const root = storages.get(ref.key)!;
      if (ref.view === null) return root;
      const v = ref.view;
      let view = views.get(v.key);
      if (view === undefined) {
        const size = DTYPE_SIZE[ref.dtype];
        view = new TorchStorage(ref.dtype, root.data.subarray(v.offset * size, (v.offset + v.numel) * size));
        views.set(v.key, view);
      }
      return view;
    },
  }).value;
}

export interface WritePthOptions {
  /** The folder inside the zip; torch uses the file's stem. Defaults to 'archive'. */
  archiveName?: string;
}

/**
 * Encodes `value` as a zip-format checkpoint laid out as torch 1.13's `torch.save` does (stored entries, data
 * 64-byte aligned, `<name>/data.pkl`, `<name>/data/<key>`, `<name>/version` = "3\n") plus torch 2.x's
 * `<name>/byteorder` = "little". Returns the file as chunks (tensor bytes are not copied).
 */
export function encodePth(value: PyWritable, options: WritePthOptions = {}): Uint8Array[] {
  const name = options.archiveName ?? 'archive';
  if (name.length === 0 || name.includes('/')) throw new Error(`writePth: bad archive name '${name}'`);
  const storages: TorchStorage[] = [];
  const pkl = pickle(value, {
    storageKey: (s) => {
      storages.push(s);
      return String(storages.length - 1);
    },
  });
  const enc = new TextEncoder();
  return zipStoredAligned([
    { name: `${name}/data.pkl`, data: pkl },
    { name: `${name}/byteorder`, data: enc.encode('little') },
    ...storages.map((s, i) => ({ name: `${name}/data/${i}`, data: s.data })),
    { name: `${name}/version`, data: enc.encode('3\n') },
  ]);
}

/** The zip's folder name torch would use for a file: its base name without the extension. */
export function archiveNameFor(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  const stem = (dot > 0 ? base.slice(0, dot) : base).replace(/[^A-Za-z0-9_.-]/g, '_');
  return stem.length > 0 ? stem : 'archive';
}
