/**
 * The one place remote bytes come from: an HttpClient (auth, retries) in front of an optional DiskCache
 * (`--cache DIR`, `--cache-size`), plus small in-memory memos (whole files, sizes, listings) so that one
 * process never fetches the same thing twice.
 *
 * Whole files are fetched as 8 MiB byte-range pieces, each cached as its own entry: a download killed half
 * way resumes from the pieces it finished. Windows of strip TIFFs fetch just their byte ranges.
 *
 * The cache settings travel in INKWELL_HTTP_CACHE / INKWELL_HTTP_CACHE_SIZE so that the data pipeline's
 * worker threads (which inherit the environment) share them; the CLI sets them from --cache / --cache-size.
 */
import { ByteLru } from '../../util/lru.js';
import { progress } from '../../util/progress.js';
import { DiskCache, parseByteSize } from './cache.js';
import { HttpClient, type HttpOptions } from './http.js';
import { parseListing, type ListedEntry } from './listing.js';
import { redactUrl, trimLocation } from './url.js';

export const PIECE_BYTES = 8 * 1024 * 1024;
/** Ranges fetched at once for one window. */
const CONCURRENCY = 16;
/**
 * Ranges per multi-range request: under Apache's default MaxRanges (200) and short enough for the header
 * size limits of common servers (a range is ~20 characters; nginx's default large buffer is 8 KiB).
 */
const MULTI_RANGES = 64;
/** A whole-file fetch longer than this shows a progress bar. */
const PROGRESS_MIN_BYTES = 32 * 1024 * 1024;
export const DEFAULT_CACHE_SIZE = '20GB';

export interface RemoteOptions extends HttpOptions {
  cacheDir?: string | null;
  cacheBytes?: number;
  /** In-memory budget for whole files (default 256 MiB). */
  memoryBytes?: number;
  progress?: boolean;
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class RemoteStore {
  readonly http: HttpClient;
  private cachePromise: Promise<DiskCache | null>;
  private readonly memory: ByteLru<Uint8Array>;
  private readonly sizes = new Map<string, number>();
  private readonly listings = new Map<string, Promise<ListedEntry[] | null>>();
  private readonly heads = new Map<string, Promise<boolean>>();
  /** Per host: whether it answers several ranges in one request (unknown until tried). */
  private readonly multiRange = new Map<string, boolean>();
  private readonly showProgress: boolean | undefined;

  constructor(opts: RemoteOptions = {}) {
    this.http = new HttpClient(opts);
    this.memory = new ByteLru(opts.memoryBytes ?? 256 * 1024 * 1024);
    this.showProgress = opts.progress;
    const dir = opts.cacheDir ?? null;
    this.cachePromise =
      dir === null ? Promise.resolve(null) : DiskCache.open(dir, opts.cacheBytes ?? parseByteSize(DEFAULT_CACHE_SIZE));
  }

  cache(): Promise<DiskCache | null> {
    return this.cachePromise;
  }

  private async cached(key: string, fetchIt: () => Promise<Uint8Array | null>): Promise<Uint8Array | null> {
    const cache = await this.cachePromise;
    const hit = cache ? await cache.get(key) : null;
    if (hit) return hit;
    const data = await fetchIt();
    if (data && cache) await cache.put(key, data);
    return data;
  }

  /** Bytes [start, end) of `url` (fewer at the end of the file); throws if the file is missing. */
  async range(url: string, start: number, end: number, op = 'readRange'): Promise<Uint8Array> {
    const data = await this.cached(`${url}\n${start}-${end}`, async () => {
      const r = await this.http.get(url, op, { range: [start, end] });
      if (r?.total != null) this.sizes.set(url, r.total);
      return r ? r.body : null;
    });
    if (data === null) throw new Error(`${op}: ${redactUrl(url)} does not exist (404)`);
    return data;
  }

  /**
   * Several ranges of one file. Those not in the cache are asked for up to MULTI_RANGES at a time in one
   * request (multipart/byteranges), where the server supports that, else one request each; a few requests
   * are in flight at once. Each range is still cached as its own entry.
   */
  async ranges(url: string, list: readonly (readonly [number, number])[], op = 'readRange'): Promise<Uint8Array[]> {
    const out: (Uint8Array | undefined)[] = new Array(list.length);
    const cache = await this.cachePromise;
    if (cache) {
      await mapLimit(list, CONCURRENCY, async ([s, e], i) => {
        const hit = await cache.get(`${url}\n${s}-${e}`);
        if (hit) out[i] = hit;
      });
    }
    const missing = list.map((_, i) => i).filter((i) => out[i] === undefined);
    const host = new URL(url).host;
    if (missing.length > 1 && this.multiRange.get(host) !== false) {
      const batches: number[][] = [];
      for (let b = 0; b < missing.length; b += MULTI_RANGES) batches.push(missing.slice(b, b + MULTI_RANGES));
      await mapLimit(batches, CONCURRENCY / 4, async (batch) => {
        if (this.multiRange.get(host) === false) return;
        const got = await this.http.getRanges(
          url,
          op,
          batch.map((i) => list[i]!),
        );
        if (got === null) {
          this.multiRange.set(host, false);
          return;
        }
        this.multiRange.set(host, true);
        await Promise.all(
          batch.map(async (i, k) => {
            out[i] = got[k]!;
            if (cache) await cache.put(`${url}\n${list[i]![0]}-${list[i]![1]}`, got[k]!);
          }),
        );
      });
    }
    const left = missing.filter((i) => out[i] === undefined);
    await mapLimit(left, CONCURRENCY, async (i) => {
      out[i] = await this.range(url, list[i]![0], list[i]![1], op);
    });
    return out as Uint8Array[];
  }

  /** The file's size in bytes (from a cached first piece, or a HEAD request). */
  async size(url: string, op = 'size'): Promise<number> {
    const known = this.sizes.get(url);
    if (known !== undefined) return known;
    const cache = await this.cachePromise;
    const hit = cache ? await cache.get(`${url}\nsize`) : null;
    if (hit && hit.length === 8) {
      const n = Number(Buffer.from(hit).readBigUInt64LE(0));
      this.sizes.set(url, n);
      return n;
    }
    const r = await this.http.get(url, op, { head: true });
    if (r === null) throw new Error(`${op}: ${redactUrl(url)} does not exist (404)`);
    if (r.total === null) throw new Error(`${op}: ${redactUrl(url)} sent no Content-Length, expected a file size`);
    this.sizes.set(url, r.total);
    if (cache) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(r.total));
      await cache.put(`${url}\nsize`, b);
    }
    return r.total;
  }

  /** The whole file, or null when it does not exist. Fetched in cached pieces, with progress when long. */
  async whole(url: string, op = 'fetch'): Promise<Uint8Array | null> {
    const mem = this.memory.get(url);
    if (mem) return mem;
    const first = await this.cached(`${url}\n0-${PIECE_BYTES}`, async () => {
      const r = await this.http.get(url, op, { range: [0, PIECE_BYTES] });
      if (r?.total != null) this.sizes.set(url, r.total);
      return r ? r.body : null;
    });
    if (first === null) return null;
    const total = first.length < PIECE_BYTES ? first.length : await this.size(url, op);
    let data: Uint8Array = first;
    if (total > PIECE_BYTES) {
      const starts: number[] = [];
      for (let s = PIECE_BYTES; s < total; s += PIECE_BYTES) starts.push(s);
      const bar = progress(`fetch ${url.slice(url.lastIndexOf('/') + 1)}`, total, {
        unit: 'bytes',
        ...(this.showProgress === undefined
          ? total < PROGRESS_MIN_BYTES
            ? { enabled: false }
            : {}
          : { enabled: this.showProgress }),
      });
      bar.tick(first.length);
      try {
        const pieces = await mapLimit(starts, 4, async (s) => {
          const p = await this.range(url, s, s + PIECE_BYTES, op);
          bar.tick(p.length);
          return p;
        });
        data = Buffer.concat([first, ...pieces]);
      } finally {
        bar.stop();
      }
    }
    // Small enough files stay in memory (decoders ask for a file's header, then for all of it).
    if (data.length <= this.memory.maxBytes / 4) this.memory.set(url, data);
    return data;
  }

  /** Whether `url` names an existing file (HEAD; memoised). */
  exists(url: string, op = 'exists'): Promise<boolean> {
    let p = this.heads.get(url);
    if (!p) {
      p = this.http.get(url, op, { head: true }).then(
        (r) => {
          if (r?.total != null) this.sizes.set(url, r.total);
          return r !== null && !r.contentType.startsWith('text/html');
        },
        (err: Error) => {
          // 403 is what nginx answers for a folder without autoindex: nothing to read there. 401 stays an error.
          if (/answered 403/.test(err.message)) return false;
          throw err;
        },
      );
      this.heads.set(url, p);
      p.catch(() => this.heads.delete(url));
    }
    return p;
  }

  /**
   * The entries of the folder at `url` from the server's HTML directory listing, or null when it serves
   * none (404; 403, as nginx answers for a folder without autoindex; or a page that is not HTML).
   */
  listing(url: string, op = 'list'): Promise<ListedEntry[] | null> {
    const dir = `${trimLocation(url)}/`;
    let p = this.listings.get(dir);
    if (!p) {
      p = (async () => {
        let r: Awaited<ReturnType<typeof this.http.get>>;
        try {
          r = await this.http.get(dir, op);
        } catch (err) {
          if (/answered 403/.test((err as Error).message)) return null;
          throw err;
        }
        if (r === null || !r.contentType.startsWith('text/html')) return null;
        return parseListing(new TextDecoder().decode(r.body), new URL(dir).pathname);
      })();
      this.listings.set(dir, p);
      p.catch(() => this.listings.delete(dir));
    }
    return p;
  }
}

let shared: RemoteStore | null = null;

/** The process's store, configured from INKWELL_HTTP_CACHE / INKWELL_HTTP_CACHE_SIZE. */
export function remoteStore(): RemoteStore {
  if (!shared) {
    const dir = process.env['INKWELL_HTTP_CACHE'];
    const size = process.env['INKWELL_HTTP_CACHE_SIZE'];
    shared = new RemoteStore({
      cacheDir: dir === undefined || dir === '' ? null : dir,
      cacheBytes: parseByteSize(size ?? DEFAULT_CACHE_SIZE, 'INKWELL_HTTP_CACHE_SIZE'),
    });
  }
  return shared;
}

/**
 * Sets the cache used for remote datasets from now on (this process and worker threads it starts), as the
 * CLI's --cache / --cache-size do. `null` turns the disk cache off.
 */
export function configureRemote(opts: { cache?: string | null; cacheSize?: string }): void {
  if (opts.cacheSize !== undefined) {
    parseByteSize(opts.cacheSize);
    process.env['INKWELL_HTTP_CACHE_SIZE'] = opts.cacheSize;
  }
  if (opts.cache === null) delete process.env['INKWELL_HTTP_CACHE'];
  else if (opts.cache !== undefined) process.env['INKWELL_HTTP_CACHE'] = opts.cache;
  shared = null;
}
