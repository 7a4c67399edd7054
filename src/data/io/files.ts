/**
 * File access for dataset locations that may be local paths or http(s) URLs, so that layout detection and
 * the readers work on both: what is a folder, what a folder holds, a text file, positioned reads.
 *
 * Over HTTP, a folder's entries come from the server's directory listing (src/data/remote/listing.ts); where
 * there is none, from probing the names the known layouts use (meta.json, masks, Zarr metadata, layers/ and
 * surface_volume/) and counting layers `NN.tif` with a handful of HEAD requests (exponential, then binary
 * search for the last one).
 */
import { type FileHandle, open, readdir, readFile, stat } from 'node:fs/promises';
import type { ListedEntry } from '../remote/listing.js';
import { remoteStore } from '../remote/store.js';
import { baseLocation, dirLocation, isUrl, joinLocation, trimLocation } from '../remote/url.js';

export type { ListedEntry } from '../remote/listing.js';

const probes = new Map<string, Promise<ListedEntry[]>>();

/** Layer files under a remote `layers/` or `surface_volume/` folder that has no listing. */
async function probeLayers(dir: string): Promise<ListedEntry[]> {
  const store = remoteStore();
  for (const ext of ['tif', 'png', 'jpg', 'tiff', 'jpeg']) {
    for (const digits of [2, 3]) {
      const name = (n: number): string => `${String(n).padStart(digits, '0')}.${ext}`;
      const has = (n: number): Promise<boolean> => store.exists(joinLocation(dir, name(n)), 'probeLayers');
      for (const first of [0, 1]) {
        if (!(await has(first))) continue;
        // Exponential steps to a missing layer, then a binary search for the last present one.
        let lo = first;
        let hi = first + 1;
        while (hi < 10 ** digits && (await has(hi))) {
          lo = hi;
          hi = first + (hi - first) * 2;
        }
        hi = Math.min(hi, 10 ** digits);
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          if (await has(mid)) lo = mid;
          else hi = mid;
        }
        return Array.from({ length: lo - first + 1 }, (_, i) => ({ name: name(first + i), dir: false }));
      }
    }
  }
  return [];
}

/** The names the known layouts use, probed one by one where a server lists nothing. */
async function probeFolder(dir: string): Promise<ListedEntry[]> {
  const name = baseLocation(dir);
  if (name === 'layers' || name === 'surface_volume') return probeLayers(dir);
  const base = name.replace(/_superseded$/, '');
  const files = [
    ...new Set([
      'meta.json',
      'mask.png',
      'inklabels.png',
      'ir.png',
      `${name}_mask.png`,
      `${name}_inklabels.png`,
      `${base}_mask.png`,
      `${base}_inklabels.png`,
      '.zarray',
      '.zattrs',
      '.zgroup',
      'inkwell-manifest.json',
    ]),
  ];
  const store = remoteStore();
  const found: ListedEntry[] = [];
  const hits = await Promise.all(files.map((f) => store.exists(joinLocation(dir, f), 'probe')));
  files.forEach((f, i) => {
    if (hits[i]) found.push({ name: f, dir: false });
  });
  for (const sub of ['layers', 'surface_volume']) {
    if ((await listDir(joinLocation(dir, sub))).length > 0) found.push({ name: sub, dir: true });
  }
  return found;
}

/** The entries of folder `dir` (empty when it does not exist or holds nothing readable). */
export async function listDir(dir: string): Promise<ListedEntry[]> {
  if (!isUrl(dir)) {
    try {
      return (await readdir(dir, { withFileTypes: true })).map((e) => ({ name: e.name, dir: e.isDirectory() }));
    } catch {
      return [];
    }
  }
  const key = trimLocation(dir);
  let p = probes.get(key);
  if (!p) {
    p = remoteStore()
      .listing(key)
      .then((l) => l ?? probeFolder(key));
    probes.set(key, p);
    p.catch(() => probes.delete(key));
  }
  return p;
}

/** 'dir', 'file', or null when nothing is at `location`. */
export async function kindOf(location: string): Promise<'dir' | 'file' | null> {
  if (!isUrl(location)) {
    try {
      const st = await stat(location);
      return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : null;
    } catch {
      return null;
    }
  }
  const parent = dirLocation(location);
  const name = baseLocation(location);
  if (parent !== trimLocation(location)) {
    const listed = await remoteStore().listing(parent);
    if (listed) {
      const e = listed.find((x) => x.name === name);
      return e ? (e.dir ? 'dir' : 'file') : null;
    }
  }
  if (await remoteStore().listing(location)) return 'dir';
  if (await remoteStore().exists(location)) return 'file';
  return (await probeFolder(trimLocation(location))).length > 0 ? 'dir' : null;
}

/** A text file's contents, or null when it does not exist. */
export async function readText(location: string): Promise<string | null> {
  if (!isUrl(location)) {
    try {
      return await readFile(location, 'utf8');
    } catch {
      return null;
    }
  }
  const bytes = await remoteStore().whole(location, 'readText');
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

/** Whole file bytes for a decoder: a path stays a path (sharp reads it), a URL is fetched (and cached). */
export async function fileInput(location: string, op: string): Promise<string | Buffer> {
  if (!isUrl(location)) return location;
  const bytes = await remoteStore().whole(location, op);
  if (bytes === null) throw new Error(`${op}: ${location} does not exist (404)`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Reads at byte positions of one file: a file handle, or cached 4 KiB blocks of a remote file. */
export interface ByteSource {
  readonly size: number;
  /** Up to `length` bytes at `position` (fewer only at the end of the file). */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Block size for remote header reads: a TIFF directory is a few small reads close together. */
const BLOCK = 4 * 1024;

export async function openByteSource(location: string, op: string): Promise<ByteSource> {
  if (!isUrl(location)) {
    let fh: FileHandle;
    try {
      fh = await open(location, 'r');
    } catch (err) {
      throw new Error(`${op}: cannot open ${location}: ${(err as Error).message}`);
    }
    const size = (await fh.stat()).size;
    const handle = fh;
    return {
      size,
      async read(position, length) {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buf, 0, length, position);
        return buf.subarray(0, bytesRead);
      },
      close: () => handle.close(),
    };
  }
  const store = remoteStore();
  // The first block tells the size (Content-Range), saving a HEAD request.
  await store.range(location, 0, BLOCK, op);
  const size = await store.size(location, op);
  return {
    size,
    async read(position, length) {
      const end = Math.min(position + length, size);
      if (end <= position) return new Uint8Array(0);
      const first = Math.floor(position / BLOCK);
      const last = Math.floor((end - 1) / BLOCK);
      const blocks = await store.ranges(
        location,
        Array.from({ length: last - first + 1 }, (_, i) => [(first + i) * BLOCK, (first + i + 1) * BLOCK] as const),
        op,
      );
      const joined = blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks);
      return joined.subarray(position - first * BLOCK, end - first * BLOCK);
    },
    close: async () => undefined,
  };
}
