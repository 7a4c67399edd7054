/**
 * Remote read benchmark: a random crop of an uncompressed 16-bit layer stack served over HTTP by a local
 * server (Node's http, 127.0.0.1, byte ranges), read three ways: from disk (positioned reads), over HTTP with
 * an empty cache (cold: Range requests of the rows of each layer, 64 rows per request), and again with the
 * fetched ranges in the disk cache (cached: no network). Reports median milliseconds, bytes fetched per crop against the crop's own
 * size, and whether every path returned the same voxels. The loopback server makes this the client's
 * overhead (requests, cache files); a real server adds its round-trip time per request. The server answers
 * several ranges per request (multipart/byteranges), as nginx and Apache do.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import sharp from 'sharp';
import { answerRanges } from '../data/remote/multipart.js';
import { configureRemote } from '../data/remote/store.js';
import { createRng } from '../data/rng.js';
import { Volume } from '../data/volume.js';
import { median } from '../util/stats.js';

export interface BenchRemoteOptions {
  layers?: number;
  height?: number;
  width?: number;
  /** Crop [depth, height, width]; default [20, 256, 256]. */
  crop?: readonly [number, number, number];
  /** Crops per path (median reported); default 5. */
  runs?: number;
  seed?: number;
}

export interface BenchRemoteResult {
  stack: { layers: number; height: number; width: number; dtype: 'uint16'; bytes: number };
  crop: [number, number, number];
  cropBytes: number;
  diskMs: number;
  httpColdMs: number;
  httpCachedMs: number;
  /** Opening the dataset over HTTP (listing, TIFF headers of every layer), cold. */
  httpOpenMs: number;
  /** Median bytes and requests the server sent per cold crop. */
  coldBytesPerCrop: number;
  coldRequestsPerCrop: number;
  /** Bytes sent for the cached crops (0 when every range came from the cache). */
  cachedBytes: number;
  identical: boolean;
}

interface RangeServer {
  url: string;
  sent: { bytes: number; requests: number };
  close(): Promise<void>;
}

/** A static file server for `root` on 127.0.0.1 that answers byte ranges and counts what it sends. */
async function rangeServer(root: string): Promise<RangeServer> {
  const sent = { bytes: 0, requests: 0 };
  const server = createServer((req, res) => {
    void (async () => {
      sent.requests++;
      const rel = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
      const file = rel.startsWith('..') ? null : await readFile(join(root, rel)).catch(() => null);
      if (file === null) {
        res.writeHead(404).end();
        return;
      }
      const r = answerRanges(req.headers.range, file.length, req.method === 'HEAD', true, (s, e) =>
        file.subarray(s, e),
      );
      sent.bytes += r.body.length;
      res.writeHead(r.status, r.headers).end(r.body);
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export async function benchRemote(opts: BenchRemoteOptions = {}): Promise<BenchRemoteResult> {
  const layers = opts.layers ?? 20;
  const height = opts.height ?? 1024;
  const width = opts.width ?? 6330;
  const crop: [number, number, number] = opts.crop ? [opts.crop[0], opts.crop[1], opts.crop[2]] : [20, 256, 256];
  const runs = opts.runs ?? 5;
  if (crop[0] > layers || crop[1] > height || crop[2] > width)
    throw new Error(`benchRemote: crop ${crop.join('x')} does not fit a ${layers}x${height}x${width} stack`);
  const rng = createRng(opts.seed ?? 0);
  const dir = await mkdtemp(join(tmpdir(), 'inkwell-bench-remote-'));
  const savedCache = process.env['INKWELL_HTTP_CACHE'];
  const server = await rangeServer(dir);
  try {
    const sv = join(dir, 'stack', 'surface_volume');
    await mkdir(sv, { recursive: true });
    const plane = new Uint16Array(height * width);
    for (let z = 0; z < layers; z++) {
      for (let i = 0; i < plane.length; i++) plane[i] = rng.uint32();
      await sharp(plane, { raw: { width, height, channels: 1 } })
        .toColourspace('grey16')
        .tiff({ compression: 'none' })
        .toFile(join(sv, `${String(z).padStart(2, '0')}.tif`));
    }
    const picks = Array.from(
      { length: runs },
      () => [rng.int(layers - crop[0] + 1), rng.int(height - crop[1] + 1), rng.int(width - crop[2] + 1)] as const,
    );
    const read = async (
      vol: Volume,
      [z, y, x]: readonly [number, number, number],
    ): Promise<{ ms: number; data: Uint8Array }> => {
      const t0 = performance.now();
      const w = await vol.readWindow(z, z + crop[0], y, y + crop[1], x, x + crop[2], { raw: true });
      return { ms: performance.now() - t0, data: new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength) };
    };

    const disk = await Volume.open(join(dir, 'stack'), { scale: 1, progress: false });
    const diskRuns: { ms: number; data: Uint8Array }[] = [];
    for (const p of picks) diskRuns.push(await read(disk, p));
    await disk.close();

    configureRemote({ cache: join(dir, 'cache') });
    const t0 = performance.now();
    const cold = await Volume.open(`${server.url}/stack`, { scale: 1, progress: false });
    const httpOpenMs = performance.now() - t0;
    const coldRuns: { ms: number; data: Uint8Array }[] = [];
    const coldBytes: number[] = [];
    const coldRequests: number[] = [];
    for (const p of picks) {
      const before = { ...server.sent };
      coldRuns.push(await read(cold, p));
      coldBytes.push(server.sent.bytes - before.bytes);
      coldRequests.push(server.sent.requests - before.requests);
    }
    await cold.close();

    // A fresh store over the same cache folder: nothing in memory, every range from the disk cache.
    configureRemote({ cache: join(dir, 'cache') });
    const warm = await Volume.open(`${server.url}/stack`, { scale: 1, progress: false });
    const sentBefore = server.sent.bytes;
    const cachedRuns: { ms: number; data: Uint8Array }[] = [];
    for (const p of picks) cachedRuns.push(await read(warm, p));
    const cachedBytes = server.sent.bytes - sentBefore;
    await warm.close();
    const identical = picks.every(
      (_, i) =>
        Buffer.from(diskRuns[i]!.data).equals(coldRuns[i]!.data) &&
        Buffer.from(diskRuns[i]!.data).equals(cachedRuns[i]!.data),
    );
    const round = (v: number): number => Math.round(v * 100) / 100;
    return {
      stack: { layers, height, width, dtype: 'uint16', bytes: layers * height * width * 2 },
      crop,
      cropBytes: crop[0] * crop[1] * crop[2] * 2,
      diskMs: round(median(diskRuns.map((r) => r.ms))),
      httpColdMs: round(median(coldRuns.map((r) => r.ms))),
      httpCachedMs: round(median(cachedRuns.map((r) => r.ms))),
      httpOpenMs: round(httpOpenMs),
      coldBytesPerCrop: median(coldBytes),
      coldRequestsPerCrop: median(coldRequests),
      cachedBytes,
      identical,
    };
  } finally {
    await server.close();
    configureRemote({ cache: savedCache ?? null });
    await rm(dir, { recursive: true, force: true });
  }
}
