/**
 * HTTP basic-auth credentials for remote datasets (the Vesuvius Challenge data server asks for a registered
 * user's). They come from INKWELL_HTTP_USER / INKWELL_HTTP_PASSWORD, or from a netrc file (NETRC, else
 * ~/.netrc), never from the command line; they are only ever put into an Authorization header, never into a
 * message, a log, a config or a checkpoint. Messages name where they came from (`source`), not their values.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Credentials {
  /** Where they came from, for messages: 'INKWELL_HTTP_USER/INKWELL_HTTP_PASSWORD' or the netrc path. */
  source: string;
  header: string;
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * The netrc file's login/password for `host` (`machine host`), or its `default` entry. Tokens are separated
 * by white space; `macdef` bodies (up to an empty line) are skipped, as in inetutils' ruserpass.
 */
export function parseNetrc(text: string, host: string): { user: string; password: string } | null {
  const lines = text.split(/\r?\n/);
  const tokens: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const words = lines[i]!.trim().split(/\s+/).filter(Boolean);
    const m = words.indexOf('macdef');
    if (m >= 0) {
      tokens.push(...words.slice(0, m));
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== '') i++;
      continue;
    }
    tokens.push(...words);
  }
  let current: 'match' | 'default' | 'other' | null = null;
  let found: { user?: string; password?: string } | null = null;
  let fallback: { user?: string; password?: string } | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === 'machine') {
      if (found) break;
      current = tokens[++i] === host ? 'match' : 'other';
      if (current === 'match') found = {};
    } else if (t === 'default') {
      if (found) break;
      current = 'default';
      fallback = {};
    } else if ((t === 'login' || t === 'password' || t === 'account') && i + 1 < tokens.length) {
      const v = tokens[++i]!;
      const target = current === 'match' ? found : current === 'default' ? fallback : null;
      if (target && t === 'login') target.user = v;
      if (target && t === 'password') target.password = v;
    }
  }
  const hit = found ?? fallback;
  if (!hit || hit.user === undefined || hit.password === undefined) return null;
  return { user: hit.user, password: hit.password };
}

/** Credentials for `host`, or null when none are configured. Environment variables win over netrc. */
export function credentialsFor(host: string, env: NodeJS.ProcessEnv = process.env): Credentials | null {
  const user = env['INKWELL_HTTP_USER'];
  const password = env['INKWELL_HTTP_PASSWORD'];
  if ((user === undefined) !== (password === undefined)) {
    throw new Error(
      `http: only ${user === undefined ? 'INKWELL_HTTP_PASSWORD' : 'INKWELL_HTTP_USER'} is set, ` +
        `expected both INKWELL_HTTP_USER and INKWELL_HTTP_PASSWORD (or neither, to use a netrc file)`,
    );
  }
  if (user !== undefined && password !== undefined) {
    return { source: 'INKWELL_HTTP_USER/INKWELL_HTTP_PASSWORD', header: basic(user, password) };
  }
  const path = env['NETRC'] ?? join(homedir(), '.netrc');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const hit = parseNetrc(text, host);
  return hit ? { source: path, header: basic(hit.user, hit.password) } : null;
}
