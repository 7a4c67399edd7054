/**
 * A small static file server for the remote-data tests: basic auth, nginx- or Apache-style directory
 * listings (or none, as a server with autoindex off), byte ranges (one, or several as multipart/byteranges),
 * a count of requests and body bytes served, and injected 5xx failures.
 */
import { closeSync, openSync, readdirSync, readSync, type Stats, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';
import { answerRanges } from '../../src/data/remote/multipart.js';

export interface TestServerOptions {
  root: string;
  user?: string;
  password?: string;
  listing?: 'nginx' | 'apache' | 'none';
  /** Answer the next N requests with 503. */
  failNext?: number;
  /** Answer several ranges in one request (multipart/byteranges); default true. */
  multiRange?: boolean;
}

export interface ServedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
  bytes: number;
  authorization: string | null;
}

export interface TestServer {
  url: string;
  requests: ServedRequest[];
  opts: TestServerOptions;
  /** Body bytes served since the last reset. */
  bytes(): number;
  reset(): void;
  close(): Promise<void>;
}

function listingHtml(style: 'nginx' | 'apache', urlPath: string, dir: string): string {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  const links = entries.map((e) => {
    const name = e.isDirectory() ? `${e.name}/` : e.name;
    return style === 'nginx'
      ? `<a href="${encodeURIComponent(e.name)}${e.isDirectory() ? '/' : ''}">${name}</a>    07-Dec-2026 10:00    -`
      : `<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a ` +
          `href="${encodeURIComponent(e.name)}${e.isDirectory() ? '/' : ''}">${name}</a></td></tr>`;
  });
  if (style === 'nginx') {
    return (
      `<html><head><title>Index of ${urlPath}</title></head><body><h1>Index of ${urlPath}</h1><hr><pre><a ` +
      `href="../">../</a>\n${links.join('\n')}\n</pre><hr></body></html>`
    );
  }
  return (
    `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN"><html><head><title>Index of ` +
    `${urlPath}</title></head><body><h1>Index of ${urlPath}</h1><table>` +
    `<tr><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th></tr>` +
    `<tr><td><a href="/">Parent Directory</a></td></tr>${links.join('')}</table></body></html>`
  );
}

export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const requests: ServedRequest[] = [];
  const expected =
    opts.user === undefined ? null : `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64')}`;
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const record: ServedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      range: req.headers.range ?? null,
      status: 0,
      bytes: 0,
      authorization: req.headers.authorization ?? null,
    };
    requests.push(record);
    const finish = (status: number, headers: Record<string, string | number>, body?: Buffer | string): void => {
      record.status = status;
      const buf = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(status, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      record.bytes = buf.length;
      res.end(buf);
    };
    if (opts.failNext && opts.failNext > 0) {
      opts.failNext--;
      finish(503, { 'content-type': 'text/plain' }, 'busy');
      return;
    }
    if (expected !== null && req.headers.authorization !== expected) {
      finish(401, { 'www-authenticate': 'Basic realm="data"', 'content-type': 'text/plain' }, 'unauthorized');
      return;
    }
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rel = normalize(urlPath).replace(/^[/\\]+/, '');
    if (rel.split(sep).includes('..')) {
      finish(400, {}, 'bad path');
      return;
    }
    const file = join(opts.root, rel);
    let st: Stats;
    try {
      st = statSync(file);
    } catch {
      finish(404, { 'content-type': 'text/plain' }, 'not found');
      return;
    }
    if (st.isDirectory()) {
      if (!urlPath.endsWith('/')) {
        finish(301, { location: `${urlPath}/` });
        return;
      }
      const style = opts.listing ?? 'nginx';
      if (style === 'none') finish(403, { 'content-type': 'text/html' }, '<html>403 Forbidden</html>');
      else finish(200, { 'content-type': 'text/html' }, listingHtml(style, urlPath, file));
      return;
    }
    const fd = openSync(file, 'r');
    try {
      const read = (a: number, b: number): Uint8Array => {
        const buf = Buffer.alloc(b - a);
        readSync(fd, buf, 0, b - a, a);
        return buf;
      };
      const r = answerRanges(req.headers.range, st.size, req.method === 'HEAD', opts.multiRange ?? true, read);
      finish(r.status, r.headers, r.body);
    } finally {
      closeSync(fd);
    }
  };
  const server: Server = createServer(handle);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    opts,
    bytes: () => requests.reduce((a, r) => a + r.bytes, 0),
    reset: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
