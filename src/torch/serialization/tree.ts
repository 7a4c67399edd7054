/**
 * Walking loaded checkpoint values: tensors by dotted name, key selection, prefix stripping, and the JSON view
 * of the non-tensor parts (epoch, arch, hyper-parameters) that `inspect` and safetensors metadata show.
 */
import {
  isStoredTensor,
  PyFloat,
  PyGlobalRef,
  PyOrderedDict,
  PyTuple,
  pyTypeName,
  type PyValue,
  TorchDevice,
  TorchDType,
  TorchStorage,
} from './pyvalue.js';
import type { StoredTensor } from './stored.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** How a dict key reads as one segment of a dotted name (`module.conv1.weight`, `state.0.momentum_buffer`). */
export function keySegment(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (k === null) return 'None';
  if (k instanceof PyFloat) return String(k.value);
  if (k instanceof PyTuple) return `(${k.items.map(keySegment).join(', ')})`;
  return `<${pyTypeName(k)}>`;
}

function join(prefix: string, seg: string): string {
  return prefix.length === 0 ? seg : `${prefix}.${seg}`;
}

/** The children of a container, with their name segments; undefined for leaves. */
function children(v: PyValue): [string, PyValue][] | undefined {
  if (v instanceof Map) return [...v].map(([k, x]) => [keySegment(k), x]);
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
  if (v instanceof PyTuple) return v.items.map((x, i) => [String(i), x]);
  if (v instanceof Set) return [...v].map((x, i) => [String(i), x]);
  return undefined;
}

/**
 * Every tensor reachable from `value`, named by the dotted path of keys / list indices leading to it, in
 * container order (e.g. `state_dict.module.conv1.weight`, `optimizer.state.0.momentum_buffer`). A bare tensor
 * is named ''. Instance attributes (a state dict's `_metadata`) are not part of the walk.
 */
export function flattenTensors(value: PyValue, prefix = ''): [string, StoredTensor][] {
  const out: [string, StoredTensor][] = [];
  const ancestors = new Set<object>();
  const walk = (v: PyValue, path: string): void => {
    if (isStoredTensor(v)) {
      out.push([path, v]);
      return;
    }
    const kids = children(v);
    if (kids === undefined || ancestors.has(v as object)) return;
    ancestors.add(v as object);
    for (const [seg, x] of kids) walk(x, join(path, seg));
    ancestors.delete(v as object);
  };
  walk(value, prefix);
  return out;
}

/** True when a tensor is reachable from `v`. */
export function containsTensor(v: PyValue, ancestors = new Set<object>()): boolean {
  if (isStoredTensor(v)) return true;
  const kids = children(v);
  if (kids === undefined || ancestors.has(v as object)) return false;
  ancestors.add(v as object);
  const found = kids.some(([, x]) => containsTensor(x, ancestors));
  ancestors.delete(v as object);
  return found;
}

function describeKeys(v: PyValue): string {
  const kids = children(v);
  if (kids === undefined) return `it is a ${pyTypeName(v)}`;
  const names = kids.slice(0, 12).map(([k]) => k);
  return `available: ${names.join(', ')}${kids.length > 12 ? ', ...' : ''}`;
}

/**
 * `value[key]`: an exact top-level key first, else a dotted path through dicts and lists
 * (`model.state_dict`, `optimizer.param_groups.0`). Keys may contain dots themselves
 * (`state_dict.module.fc.bias` where the state dict's key is `module.fc.bias`): at each level the longest
 * run of segments that names a key is tried first.
 */
export function selectKey(value: PyValue, key: string): PyValue {
  if (value instanceof Map && value.has(key)) return value.get(key)!;
  const segs = key.split('.');
  const search = (v: PyValue, from: number): { found: PyValue } | undefined => {
    if (from === segs.length) return { found: v };
    const kids = children(v);
    if (kids === undefined) return undefined;
    for (let to = segs.length; to > from; to--) {
      const name = segs.slice(from, to).join('.');
      const hit = kids.find(([k]) => k === name);
      const r = hit === undefined ? undefined : search(hit[1], to);
      if (r !== undefined) return r;
    }
    return undefined;
  };
  const r = search(value, 0);
  if (r !== undefined) return r.found;
  // Name the first segment that leads nowhere, with what is there instead.
  let cur = value;
  let walked = '';
  for (const seg of segs) {
    const hit = children(cur)?.find(([k]) => k === seg);
    if (hit === undefined) break;
    cur = hit[1];
    walked = join(walked, seg);
  }
  const missing = segs[walked.length === 0 ? 0 : walked.split('.').length] ?? key;
  throw new Error(
    `selectKey: no '${missing}' in ${walked.length === 0 ? 'the checkpoint' : `'${walked}'`} (${describeKeys(cur)})`,
  );
}

/** Strips one prefix from a key ('module.' from DDP checkpoints); a key equal to the bare prefix becomes ''. */
function stripKey(k: string, prefix: string): string {
  if (k.startsWith(prefix)) return k.slice(prefix.length);
  const bare = prefix.endsWith('.') ? prefix.slice(0, -1) : undefined;
  return k === bare ? '' : k;
}

/**
 * A copy of the dict with `prefix` removed from every string key that starts with it (others unchanged).
 * An OrderedDict stays one, and its `_metadata` keys are stripped the same way (as torch's
 * `consume_prefix_in_state_dict_if_present` does), so `load_state_dict` still finds module versions.
 */
export function stripPrefix(map: PyValue, prefix: string): Map<PyValue, PyValue> {
  if (!(map instanceof Map)) throw new Error(`stripPrefix: expected a dict, got ${pyTypeName(map)}`);
  const out: Map<PyValue, PyValue> = map instanceof PyOrderedDict ? new PyOrderedDict() : new Map();
  for (const [k, v] of map) {
    if (typeof k !== 'string' || !k.startsWith(prefix)) {
      if (out.has(k)) throw new Error(`stripPrefix: key '${keySegment(k)}' collides with a stripped key`);
      out.set(k, v);
      continue;
    }
    const nk = k.slice(prefix.length);
    if (out.has(nk) || (nk !== k && map.has(nk)))
      throw new Error(`stripPrefix: stripping '${prefix}' from '${k}' collides with the key '${nk}'`);
    out.set(nk, v);
  }
  if (map instanceof PyOrderedDict && out instanceof PyOrderedDict && map.attrs !== undefined) {
    const attrs = new Map(map.attrs);
    const meta = attrs.get('_metadata');
    if (meta instanceof Map) {
      const m: Map<PyValue, PyValue> = meta instanceof PyOrderedDict ? new PyOrderedDict() : new Map();
      for (const [k, v] of meta) m.set(typeof k === 'string' ? stripKey(k, prefix) : k, v);
      attrs.set('_metadata', m);
    }
    out.attrs = attrs;
  }
  return out;
}

function base64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** A JSON view of a non-tensor value (NaN/Infinity and bigints as strings, bytes as `{ $bytes: base64 }`). */
export function toJson(v: PyValue): JsonValue {
  return pruneTensors(v) ?? null;
}

/**
 * The JSON view of `v` with tensors (and storages) left out; containers that held only tensors disappear
 * too (undefined), while containers that were empty to begin with stay.
 */
export function pruneTensors(v: PyValue, ancestors = new Set<object>()): JsonValue | undefined {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return String(v);
  if (v instanceof PyFloat) return Number.isFinite(v.value) ? v.value : String(v.value);
  if (isStoredTensor(v) || v instanceof TorchStorage) return undefined;
  if (v instanceof Uint8Array) return { $bytes: base64(v) };
  if (v instanceof TorchDevice || v instanceof TorchDType) return v.toString();
  if (v instanceof PyGlobalRef) return v.qualifiedName;
  if (ancestors.has(v)) return '<recursion>';
  ancestors.add(v);
  try {
    if (v instanceof Map) {
      const o: { [key: string]: JsonValue } = {};
      for (const [k, x] of v) {
        const j = pruneTensors(x, ancestors);
        if (j !== undefined) o[keySegment(k)] = j;
      }
      return v.size > 0 && Object.keys(o).length === 0 ? undefined : o;
    }
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : [...v];
    const kept = items.map((x) => pruneTensors(x, ancestors)).filter((j): j is JsonValue => j !== undefined);
    return items.length > 0 && kept.length === 0 ? undefined : kept;
  } finally {
    ancestors.delete(v);
  }
}

/**
 * The non-tensor leaves of a value as dotted name -> JSON text (strings as themselves), descending only into
 * containers that hold tensors; used to keep `epoch`, `arch` or `optimizer.param_groups` as safetensors metadata.
 */
export function flattenNonTensors(value: PyValue, prefix = ''): [string, string][] {
  const out: [string, string][] = [];
  const walk = (v: PyValue, path: string, ancestors: Set<object>): void => {
    if (isStoredTensor(v) || v instanceof TorchStorage) return;
    const kids = children(v);
    if (kids !== undefined && containsTensor(v)) {
      if (ancestors.has(v as object)) return;
      ancestors.add(v as object);
      for (const [seg, x] of kids) walk(x, join(path, seg), ancestors);
      ancestors.delete(v as object);
      return;
    }
    out.push([path, typeof v === 'string' ? v : JSON.stringify(toJson(v))]);
  };
  walk(value, prefix, new Set());
  return out;
}
