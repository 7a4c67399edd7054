/**
 * A size-limited local cache of fetched bytes: one file per fetched byte range or chunk, named by the SHA-256
 * of its key (URL and range), under `<dir>/<first two hex digits>/`.
 *
 * Crash safety: an entry is written to a temp file and renamed into place, so a killed process leaves at
 * most a `.tmp` file, which the next `open` deletes; a complete entry also ends with a trailer (magic,
 * length, SHA-256 of the bytes) that is checked on every read, so a damaged file is dropped and fetched again
 * rather than served. The trailer is also why entries are not fsynced (unlike src/util/atomic.ts): after a
 * power cut a renamed but unflushed entry fails its check and is refetched, and a cold crop writes thousands
 * of small entries, where an fsync each would cost more than the fetches. Entries that a killed process
 * finished are kept: a re-run resumes from them. Eviction is least-recently-used (file modification time
 * across processes, touched on each hit) down to the size limit.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MAGIC = Buffer.from('INKWCAC1', 'latin1');
const TRAILER = MAGIC.length + 8 + 32;

/** Parses `20GB`, `512MiB`, `1e9` (bytes); decimal and binary units. */
export function parseByteSize(text: string, what = '--cache-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(text);
  if (!m) throw new Error(`${what}: '${text}' is not a size, expected e.g. 20GB, 512MiB or a byte count`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const pow = { b: 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] as 'b' | 'k' | 'm' | 'g' | 't'];
  const base = unit.endsWith('ib') ? 1024 : 1000;
  const bytes = Math.floor(Number(m[1]) * base ** pow);
  if (!Number.isFinite(bytes) || bytes <= 0) throw new Error(`${what}: '${text}' is not a positive size`);
  return bytes;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Entries dropped because their trailer did not match (damaged files). */
  damaged: number;
  evicted: number;
}

export class DiskCache {
  /** Key hash -> file size, in least-recently-used-first order. */
  private readonly index = new Map<string, number>();
  /** Entries whose file time this process already touched (once is enough for cross-process LRU order). */
  private readonly touched = new Set<string>();
  private bytes = 0;
  private tmpCounter = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, damaged: 0, evicted: 0 };

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  /** Opens (or creates) the cache at `dir`: deletes leftover temp files, indexes complete entries by age. */
  static async open(dir: string, maxBytes: number): Promise<DiskCache> {
    const cache = new DiskCache(dir, maxBytes);
    const found: { hash: string; size: number; mtime: number }[] = [];
    let shards: string[] = [];
    try {
      shards = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => e.isDirectory() && /^[0-9a-f]{2}$/.test(e.name))
        .map((e) => e.name);
    } catch {
      /* a new cache */
    }
    for (const shard of shards) {
      for (const name of await readdir(join(dir, shard))) {
        const path = join(dir, shard, name);
        if (name.endsWith('.tmp')) {
          await rm(path, { force: true });
          continue;
        }
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        const st = await stat(path).catch(() => null);
        if (st) found.push({ hash: name, size: st.size, mtime: st.mtimeMs });
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      cache.index.set(f.hash, f.size);
      cache.bytes += f.size;
    }
    await cache.evict();
    return cache;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  get entries(): number {
    return this.index.size;
  }

  private hashOf(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  private pathOf(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash);
  }

  /** The bytes stored under `key`, or null (absent, or damaged and removed). */
  async get(key: string): Promise<Uint8Array | null> {
    const hash = this.hashOf(key);
    let file: Buffer;
    try {
      file = await readFile(this.pathOf(hash));
    } catch {
      this.forget(hash);
      this.stats.misses++;
      return null;
    }
    const data = checkEntry(file);
    if (data === null) {
      this.stats.damaged++;
      this.stats.misses++;
      this.forget(hash);
      await rm(this.pathOf(hash), { force: true });
      return null;
    }
    this.stats.hits++;
    // Re-inserted as most recently used (an entry another process wrote is counted from now on).
    this.forget(hash);
    this.index.set(hash, file.length);
    this.bytes += file.length;
    if (!this.touched.has(hash)) {
      this.touched.add(hash);
      const now = new Date();
      await utimes(this.pathOf(hash), now, now).catch(() => undefined);
    }
    return data;
  }

  /** Stores `data` under `key` (atomically), then evicts old entries beyond the limit. */
  async put(key: string, data: Uint8Array): Promise<void> {
    if (data.length + TRAILER > this.maxBytes) return; // larger than the whole cache: not kept
    const hash = this.hashOf(key);
    const trailer = Buffer.alloc(TRAILER);
    MAGIC.copy(trailer, 0);
    trailer.writeBigUInt64LE(BigInt(data.length), MAGIC.length);
    createHash('sha256')
      .update(data)
      .digest()
      .copy(trailer, MAGIC.length + 8);
    const path = this.pathOf(hash);
    const tmp = `${path}.${process.pid}.${this.tmpCounter++}.tmp`;
    await mkdir(join(this.dir, hash.slice(0, 2)), { recursive: true });
    try {
      await writeFile(tmp, Buffer.concat([data, trailer]));
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    this.touched.add(hash);
    this.forget(hash);
    this.index.set(hash, data.length + TRAILER);
    this.bytes += data.length + TRAILER;
    await this.evict();
  }

  private forget(hash: string): void {
    const size = this.index.get(hash);
    if (size !== undefined) {
      this.bytes -= size;
      this.index.delete(hash);
    }
  }

  private async evict(): Promise<void> {
    for (const [hash, size] of this.index) {
      if (this.bytes <= this.maxBytes) break;
      this.index.delete(hash);
      this.touched.delete(hash);
      this.bytes -= size;
      this.stats.evicted++;
      await rm(this.pathOf(hash), { force: true });
    }
  }
}

/** The payload of a cache file, or null when its trailer does not vouch for it. */
function checkEntry(file: Buffer): Uint8Array | null {
  if (file.length < TRAILER) return null;
  const t = file.subarray(file.length - TRAILER);
  if (!t.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const len = Number(t.readBigUInt64LE(MAGIC.length));
  if (len !== file.length - TRAILER) return null;
  const data = file.subarray(0, len);
  if (
    !createHash('sha256')
      .update(data)
      .digest()
      .equals(t.subarray(MAGIC.length + 8))
  )
    return null;
  return data;
}
