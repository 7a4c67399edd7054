/**
 * A zarrita store over HTTP that goes through the same fetch + cache + auth as everything else remote
 * (src/data/remote/store.ts): each chunk or metadata file is fetched whole, once, and cached as its own entry.
 * (zarrita's own FetchStore would bypass the disk cache and the retry/auth policy.)
 */
import type { AbsolutePath, AsyncReadable, RangeQuery } from '@zarrita/storage';
import { remoteStore } from './store.js';
import { trimLocation } from './url.js';

export class HttpZarrStore implements AsyncReadable {
  private readonly base: string;

  constructor(url: string) {
    this.base = trimLocation(url);
  }

  private urlOf(key: AbsolutePath): string {
    return `${this.base}${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  async get(key: AbsolutePath): Promise<Uint8Array | undefined> {
    return (await remoteStore().whole(this.urlOf(key), 'readZarr')) ?? undefined;
  }

  async getRange(key: AbsolutePath, range: RangeQuery): Promise<Uint8Array | undefined> {
    const url = this.urlOf(key);
    const store = remoteStore();
    if ('suffixLength' in range) {
      const size = await store.size(url, 'readZarr');
      return store.range(url, Math.max(0, size - range.suffixLength), size, 'readZarr');
    }
    return store.range(url, range.offset, range.offset + range.length, 'readZarr');
  }
}
