/**
 * Child process of cache.test.ts: fetches byte ranges of one URL through a disk-cached RemoteStore, forever,
 * printing each finished range; the parent kills it with SIGKILL mid-way.
 */
import { RemoteStore } from '../../src/data/remote/store.js';

const [url, dir, pieceText] = process.argv.slice(2);
const piece = Number(pieceText);
const store = new RemoteStore({ cacheDir: dir!, cacheBytes: 1e9 });
for (let i = 0; ; i++) {
  await store.range(url!, i * piece, (i + 1) * piece, 'cache-child');
  process.stdout.write(`${i}\n`);
}
