/**
 * GET/HEAD over HTTP(S) with Node's fetch: basic auth from src/data/remote/auth.ts, byte-range requests,
 * retries with exponential backoff on 5xx / 429 / network errors / timeouts, and one clear error for 401/403
 * naming the URL (never the credentials).
 */
import { credentialsFor, type Credentials } from './auth.js';
import { byterangesBoundary, parseByteranges, parseContentRange, type BytePart } from './multipart.js';
import { checkUrl, redactUrl } from './url.js';

export interface HttpOptions {
  /** Extra attempts after the first (default 4). */
  retries?: number;
  /** Per-request timeout in ms (default 60 s). */
  timeoutMs?: number;
  /** First backoff in ms, doubled per attempt (default 250). */
  backoffMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface HttpResult {
  status: number;
  body: Uint8Array;
  contentType: string;
  /** The whole file's size when the server said it (Content-Range total, or Content-Length of a 200). */
  total: number | null;
}

export interface HttpStats {
  requests: number;
  /** Body bytes received. */
  bytes: number;
  retries: number;
}

class RetryableError extends Error {}

export class HttpClient {
  readonly stats: HttpStats = { requests: 0, bytes: 0, retries: 0 };
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly creds = new Map<string, Credentials | null>();

  constructor(opts: HttpOptions = {}) {
    this.retries = opts.retries ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.backoffMs = opts.backoffMs ?? 250;
    this.env = opts.env ?? process.env;
  }

  private credentialsFor(host: string): Credentials | null {
    if (!this.creds.has(host)) this.creds.set(host, credentialsFor(host, this.env));
    return this.creds.get(host)!;
  }

  /**
   * GETs `url` (bytes [start, end) when `range` is given; HEAD when `head`). Returns null for 404/410.
   * A server that ignores the Range header (200) is answered from the slice of its full body.
   */
  get(
    url: string,
    op: string,
    opts: { range?: readonly [number, number]; head?: boolean } = {},
  ): Promise<HttpResult | null> {
    const range = opts.range ? `bytes=${opts.range[0]}-${opts.range[1] - 1}` : null;
    return this.withRetries(url, op, range, (href, headers, cred) => this.once(href, op, headers, cred, opts));
  }

  /**
   * Several byte ranges of `url` in one request (a `multipart/byteranges` answer, or one part when the server
   * merged them), each [start, end) and cut at the end of the file. Null when the server answered with the
   * whole file instead (no support for several ranges): its body is then not read.
   */
  getRanges(url: string, op: string, ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[] | null> {
    const header = `bytes=${ranges.map(([s, e]) => `${s}-${e - 1}`).join(',')}`;
    return this.withRetries(url, op, header, (href, headers, cred) => this.onceRanges(href, op, headers, cred, ranges));
  }

  private async withRetries<T>(
    url: string,
    op: string,
    range: string | null,
    fn: (href: string, headers: Record<string, string>, cred: Credentials | null) => Promise<T>,
  ): Promise<T> {
    const u = checkUrl(url, op);
    const headers: Record<string, string> = {};
    const cred = this.credentialsFor(u.hostname);
    if (cred) headers['authorization'] = cred.header;
    if (range !== null) headers['range'] = range;
    let last: Error | null = null;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
      }
      try {
        return await fn(u.href, headers, cred);
      } catch (err) {
        if (!(err instanceof RetryableError)) throw err;
        last = err;
      }
    }
    throw new Error(
      `${op}: ${redactUrl(url)} failed after ${this.retries + 1} attempts ` + `(${last?.message ?? 'unknown error'})`,
    );
  }

  private async fetch(url: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<Response> {
    this.stats.requests++;
    try {
      return await fetch(url, { method, headers, signal: AbortSignal.timeout(this.timeoutMs), redirect: 'follow' });
    } catch (err) {
      throw this.networkError(err);
    }
  }

  private networkError(err: unknown): RetryableError {
    const e = err as Error & { cause?: { code?: string } };
    return new RetryableError(
      e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (e.cause?.code ?? e.message),
    );
  }

  private async readBody(res: Response): Promise<Uint8Array> {
    try {
      const body = new Uint8Array(await res.arrayBuffer());
      this.stats.bytes += body.length;
      return body;
    } catch (err) {
      throw this.networkError(err);
    }
  }

  /** Throws for answers that are neither data nor "not found": auth (401/403), retryable (5xx...), others. */
  private checkStatus(res: Response, url: string, op: string, cred: Credentials | null): void {
    if (res.status === 401 || res.status === 403) {
      const how = cred
        ? `the credentials from ${cred.source} were refused`
        : `no credentials are configured for ${new URL(url).hostname}: set INKWELL_HTTP_USER and ` +
          `INKWELL_HTTP_PASSWORD, or add it to a netrc file (NETRC or ~/.netrc)`;
      throw new Error(
        `${op}: ${redactUrl(url)} answered ` +
          `${res.status} ${res.statusText || (res.status === 401 ? 'Unauthorized' : 'Forbidden')}; ${how}`,
      );
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw new RetryableError(`HTTP ${res.status}`);
    if (res.status === 416) {
      throw new Error(`${op}: ${redactUrl(url)} answered 416 Range Not Satisfiable; file shorter than expected?`);
    }
    if (res.status !== 200 && res.status !== 206 && res.status !== 404 && res.status !== 410) {
      throw new Error(`${op}: ${redactUrl(url)} answered HTTP ${res.status}, expected 200 or 206`);
    }
  }

  private async onceRanges(
    url: string,
    op: string,
    headers: Record<string, string>,
    cred: Credentials | null,
    ranges: readonly (readonly [number, number])[],
  ): Promise<Uint8Array[] | null> {
    const res = await this.fetch(url, 'GET', headers);
    this.checkStatus(res, url, op, cred);
    if (res.status === 404 || res.status === 410) throw new Error(`${op}: ${redactUrl(url)} does not exist (404)`);
    if (res.status === 200) {
      await res.body?.cancel();
      return null;
    }
    const body = await this.readBody(res);
    const boundary = byterangesBoundary(res.headers.get('content-type') ?? '');
    let parts: BytePart[];
    if (boundary !== null) parts = parseByteranges(body, boundary, `${op}: ${redactUrl(url)}`);
    else {
      const r = parseContentRange(res.headers.get('content-range') ?? '');
      if (!r || body.length !== r.end - r.start)
        throw new RetryableError(`206 body of ${body.length} bytes does not match its Content-Range`);
      parts = [{ start: r.start, data: body, total: r.total }];
    }
    const total = parts.find((p) => p.total !== null)?.total ?? Infinity;
    return ranges.map(([s, e]) => {
      const end = Math.min(e, total);
      const part = parts.find((p) => p.start <= s && end <= p.start + p.data.length);
      if (!part) throw new Error(`${op}: ${redactUrl(url)} answered without bytes ${s}..${end} that were asked for`);
      return part.data.subarray(s - part.start, end - part.start);
    });
  }

  private async once(
    url: string,
    op: string,
    headers: Record<string, string>,
    cred: Credentials | null,
    opts: { range?: readonly [number, number]; head?: boolean },
  ): Promise<HttpResult | null> {
    const res = await this.fetch(url, opts.head ? 'HEAD' : 'GET', headers);
    let body = opts.head ? new Uint8Array(0) : await this.readBody(res);
    this.checkStatus(res, url, op, cred);
    if (res.status === 404 || res.status === 410) return null;
    const contentType = res.headers.get('content-type') ?? '';
    let total: number | null = null;
    if (res.status === 206) {
      const r = parseContentRange(res.headers.get('content-range') ?? '');
      if (!r || !opts.range || r.start !== opts.range[0]) {
        throw new Error(
          `${op}: ${redactUrl(url)} answered 206 with Content-Range ` +
            `'${res.headers.get('content-range') ?? ''}', expected bytes ${opts.range?.[0] ?? 0}-...`,
        );
      }
      total = r.total;
      const want = Math.min(opts.range[1], total ?? Infinity) - opts.range[0];
      if (!opts.head && body.length !== want)
        throw new RetryableError(`206 body of ${body.length} bytes, expected ${want}`);
    } else {
      const len = res.headers.get('content-length');
      total = len === null ? (opts.head ? null : body.length) : Number(len);
      if (!opts.head && len !== null && body.length !== Number(len))
        throw new RetryableError(`body of ${body.length} bytes, Content-Length ${len}`);
      if (opts.range && !opts.head) body = body.subarray(opts.range[0], Math.min(opts.range[1], body.length));
    }
    return { status: res.status, body, contentType, total };
  }
}
