/**
 * `inkwell serve`: a read-only local web viewer on Node's own HTTP server. The page (static/) uses
 * OpenSeadragon, served from node_modules, over tiles rendered on demand (tiles.ts).
 *
 * Read-only and confined: only GET/HEAD; every path is decoded and normalised first, and anything with `..`,
 * a backslash, a NUL or an encoded slash is refused (403) before routing; static files are served only from
 * the page's own folder and OpenSeadragon's build folder, checked after resolving; datasets and overlays are
 * addressed by index, never by path. Listens on 127.0.0.1 unless told otherwise.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteLru } from '../util/lru.js';
import { openViewerDataset, resolveInput, type ViewerDataset } from './sources.js';
import { maxLevel, renderLayerTile, renderOverlayTile, tileRegion } from './tiles.js';

export interface ServeOptions {
  input: string;
  predictions?: readonly string[];
  port?: number;
  host?: string;
  /** Tile side in pixels (default 256). */
  tileSize?: number;
  log?: (line: string) => void;
}

export interface Viewer {
  url: string;
  server: Server;
  datasets: ViewerDataset[];
  /** Paths (with query) of every request answered, for tests and logs. */
  requests: { path: string; status: number }[];
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The page's files live in the source tree (src/serve/static), beside the compiled dist/. */
const STATIC_DIR = resolve(here, '..', '..', '..', 'src', 'serve', 'static');
const OSD_DIR = join(
  dirname(createRequire(import.meta.url).resolve('openseadragon/package.json')),
  'build',
  'openseadragon',
);

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.map': 'application/json',
  '.json': 'application/json',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `rel` inside `root`, or an HttpError: the resolved path must stay under root. */
export function confinedPath(root: string, rel: string): string {
  const full = resolve(root, rel);
  if (full !== root && !full.startsWith(root + sep))
    throw new HttpError(403, `refused: ${rel} is outside the served folder`);
  return full;
}

/** The request's path segments, decoded; refuses traversal and odd characters instead of normalising them away. */
export function pathSegments(rawUrl: string): string[] {
  const pathname = rawUrl.split('?')[0] ?? '/';
  if (/%2f|%5c|%00/i.test(pathname)) throw new HttpError(403, 'refused: encoded slash, backslash or NUL in the path');
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    throw new HttpError(400, 'bad percent-encoding in the path');
  }
  const segs = decoded.split('/').filter((s) => s !== '');
  if (segs.some((s) => s === '..' || s === '.' || s.includes('\\') || s.includes('\0')))
    throw new HttpError(403, 'refused: path traversal');
  return segs;
}

function intParam(v: string | null | undefined, what: string): number {
  const n = Number(v);
  if (v === null || v === undefined || v === '' || !Number.isInteger(n))
    throw new HttpError(400, `${what} must be an integer, got '${v ?? ''}'`);
  return n;
}

function numParam(v: string | null, what: string, fallback: number): number {
  if (v === null || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `${what} must be a number, got '${v}'`);
  return n;
}

export async function startViewer(opts: ServeOptions): Promise<Viewer> {
  const tileSize = opts.tileSize ?? 256;
  const { datasets: found, predictionDirs } = await resolveInput(opts.input);
  const predictions = [...(opts.predictions ?? []), ...predictionDirs];
  const datasets: ViewerDataset[] = [];
  for (const d of found) datasets.push(await openViewerDataset(d, predictions));
  // Rendered tiles, kept in memory.
  const tiles = new ByteLru<Buffer>(128 * 1024 * 1024);
  const requests: Viewer['requests'] = [];

  const info = {
    tileSize,
    datasets: datasets.map((d, i) => ({
      index: i,
      id: d.id,
      layout: d.volume.dataset.layout,
      width: d.volume.width,
      height: d.volume.height,
      dtype: d.volume.sourceDtype,
      layers: d.layers,
      window: d.window,
      maxLevel: maxLevel(d.volume.width, d.volume.height),
      overlays: d.overlays.map((o, k) => ({ index: k, name: o.name, kind: o.kind })),
    })),
  };

  const dataset = (v: string | undefined): ViewerDataset => {
    const d = datasets[intParam(v, 'dataset')];
    if (!d) throw new HttpError(404, `no dataset ${v}`);
    return d;
  };

  async function route(segs: string[], query: URLSearchParams): Promise<{ type: string; body: Buffer | string }> {
    const [head, ...rest] = segs;
    if (head === undefined) return { type: MIME['.html']!, body: await readFile(join(STATIC_DIR, 'index.html')) };
    if (head === 'static' || head === 'osd') {
      const file = confinedPath(head === 'static' ? STATIC_DIR : OSD_DIR, rest.join('/'));
      try {
        return { type: MIME[extname(file)] ?? 'application/octet-stream', body: await readFile(file) };
      } catch {
        throw new HttpError(404, `no such file: /${segs.join('/')}`);
      }
    }
    if (head === 'api' && rest[0] === 'info' && rest.length === 1)
      return { type: MIME['.json']!, body: JSON.stringify(info) };
    if (head === 'api' && rest[0] === 'value' && rest.length === 1) {
      const d = dataset(query.get('ds') ?? undefined);
      const layer = intParam(query.get('z'), 'z');
      const x = intParam(query.get('x'), 'x');
      const y = intParam(query.get('y'), 'y');
      if (!d.layers.includes(layer) || x < 0 || y < 0 || x >= d.volume.width || y >= d.volume.height)
        throw new HttpError(404, 'outside the dataset');
      const z = layer - d.volume.zStart;
      const v = (await d.volume.readWindow(z, z + 1, y, y + 1, x, x + 1, { raw: true })).data[0]!;
      const overlays: Record<string, number> = {};
      for (const o of d.overlays) {
        const vals = await o.load();
        overlays[o.name] =
          o.kind === 'prediction' ? vals[y * d.volume.width + x]! / 255 : vals[y * d.volume.width + x]! > 0 ? 1 : 0;
      }
      return { type: MIME['.json']!, body: JSON.stringify({ x, y, z: layer, value: v, overlays }) };
    }
    // /tiles/<ds>/layer/<z>/<level>/<col>_<row>.png and /tiles/<ds>/overlay/<k>/<level>/<col>_<row>.png
    if (head === 'tiles' && rest.length === 5) {
      const [dsText, kind, which, levelText, name] = rest as [string, string, string, string, string];
      const d = dataset(dsText);
      const m = /^(\d+)_(\d+)\.png$/.exec(name);
      if (!m) throw new HttpError(404, `bad tile name ${name}, expected <col>_<row>.png`);
      const r = tileRegion(
        intParam(levelText, 'level'),
        Number(m[1]),
        Number(m[2]),
        d.volume.width,
        d.volume.height,
        tileSize,
      );
      if (!r) throw new HttpError(404, 'tile outside the image');
      if (kind === 'layer') {
        const layer = intParam(which, 'z');
        if (!d.layers.includes(layer)) throw new HttpError(404, `no layer ${layer} in ${d.id}`);
        const lo = numParam(query.get('lo'), 'lo', d.window[0]);
        const hi = numParam(query.get('hi'), 'hi', d.window[1]);
        return { type: 'image/png', body: await renderLayerTile(d, layer, r, lo, hi) };
      }
      if (kind === 'overlay') {
        const o = d.overlays[intParam(which, 'overlay')];
        if (!o) throw new HttpError(404, `no overlay ${which} in ${d.id}`);
        return { type: 'image/png', body: await renderOverlayTile(d, o, r) };
      }
    }
    throw new HttpError(404, `nothing at /${segs.join('/')}`);
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '/';
    let status = 200;
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        throw new HttpError(405, `${req.method ?? '?'} not allowed: the viewer is read-only`);
      const segs = pathSegments(raw);
      const query = new URL(raw, 'http://viewer').searchParams;
      const cacheable = segs[0] === 'tiles';
      let out = cacheable ? tiles.get(raw) : undefined;
      let type = 'image/png';
      if (!out) {
        const r = await route(segs, query);
        type = r.type;
        out = Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
        if (cacheable) tiles.set(raw, out);
      }
      res.writeHead(200, {
        'content-type': type,
        'content-length': out.length,
        'cache-control': cacheable ? 'max-age=3600' : 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : out);
    } catch (err) {
      status = err instanceof HttpError ? err.status : 500;
      const msg = (err as Error).message;
      if (status === 500) opts.log?.(`serve: ${raw}: ${msg}`);
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(msg);
    }
    requests.push({ path: raw, status });
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(new Error(`serve: cannot listen on ` + `${host}:${opts.port ?? 8080} (${err.code ?? err.message})`)),
    );
    server.listen(opts.port ?? 8080, host, ok);
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    server,
    datasets,
    requests,
    close: async () => {
      await new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      });
      for (const d of datasets) await d.volume.close();
    },
  };
}
