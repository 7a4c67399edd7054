/**
 * Dataset locations are strings: a local path or an http(s) URL. These helpers let the layout and reader code
 * treat both alike (node:path's `join` would collapse `https://` into `https:/`).
 */
import { basename, dirname, join } from 'node:path';

const URL_PREFIX = /^https?:\/\//i;

export function isUrl(location: string): boolean {
  return URL_PREFIX.test(location);
}

/** `url` with any user:password part removed, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

/**
 * Parses `url` and refuses embedded credentials: they would end up in configs, checkpoints, logs and shell
 * history. The error names the URL without them and says where credentials belong.
 */
export function checkUrl(url: string, op: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${op}: '${redactUrl(url)}' is not a valid URL, expected http(s)://host/path`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new Error(
      `${op}: ${redactUrl(url)} has credentials embedded in it; remove them from the URL and set ` +
        'INKWELL_HTTP_USER and INKWELL_HTTP_PASSWORD, or add a "machine <host> login <user> password <password>" ' +
        'line to a netrc file (NETRC or ~/.netrc)',
    );
  }
  if (u.search !== '' || u.hash !== '')
    throw new Error(`${op}: ${u.href} has a query or fragment, expected a plain path URL`);
  return u;
}

/** A location with any trailing slash removed (a URL keeps its `scheme://host/`). */
export function trimLocation(location: string): string {
  if (!isUrl(location)) return location;
  const u = checkUrl(location, 'trimLocation');
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${path}`;
}

/** `join` for paths and URLs alike; URL parts are percent-encoded names. */
export function joinLocation(base: string, ...parts: string[]): string {
  if (!isUrl(base)) return join(base, ...parts);
  let out = trimLocation(base);
  for (const p of parts) {
    for (const seg of p.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..')
        throw new Error(`joinLocation: '${p}' climbs out of ${redactUrl(base)}, expected a name inside it`);
      out += `/${encodeURIComponent(seg)}`;
    }
  }
  return out;
}

/** The last name of a path or URL (decoded). */
export function baseLocation(location: string): string {
  if (!isUrl(location)) return basename(location);
  const path = new URL(trimLocation(location)).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

export function dirLocation(location: string): string {
  if (!isUrl(location)) return dirname(location);
  const t = trimLocation(location);
  const u = new URL(t);
  if (u.pathname === '/' || u.pathname === '') return t;
  return t.slice(0, t.lastIndexOf('/'));
}
