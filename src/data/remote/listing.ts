/**
 * Directory listings as web servers generate them (nginx `autoindex on`, Apache mod_autoindex, Python's
 * http.server): an HTML page of links, one per entry, folders ending in `/`. Only links to direct children
 * are kept: sort links (`?C=N;O=D`), the parent (`../`, `/`), absolute URLs elsewhere and fragments are not.
 */
export interface ListedEntry {
  name: string;
  dir: boolean;
}

export function parseListing(html: string, dirPath: string): ListedEntry[] {
  const out = new Map<string, ListedEntry>();
  const base = dirPath.endsWith('/') ? dirPath : `${dirPath}/`;
  for (const m of html.matchAll(/<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    let href = (m[1] ?? m[2] ?? m[3] ?? '').replace(/&amp;/g, '&');
    if (href === '' || href.startsWith('?') || href.startsWith('#') || /^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
    // Some listings link absolute paths: keep those directly under this folder.
    if (href.startsWith('/')) {
      if (!href.startsWith(base)) continue;
      href = href.slice(base.length);
    }
    if (href.startsWith('./')) href = href.slice(2);
    const dir = href.endsWith('/');
    const raw = dir ? href.slice(0, -1) : href;
    if (raw === '' || raw === '..' || raw === '.' || raw.includes('/')) continue;
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      continue;
    }
    out.set(name, { name, dir });
  }
  return [...out.values()];
}
