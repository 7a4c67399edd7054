/**
 * Child process for the kill-during-write test: writes `MB` MiB of a known pattern to `path` with the atomic
 * writer (`async`: writeFileAtomic in 256 KiB chunks; `sync`: writeFileAtomicSync; `save`: torch.save of a uint8
 * tensor, the checkpoint path), printing "writing" just before the write starts and "done" after it.
 *   node atomic-writer.js PATH MB async|sync|save
 */
import { writeFileAtomic, writeFileAtomicSync } from '../../src/util/atomic.js';

/** Byte i of the pattern: a file cut short or shuffled does not match it. */
export function patternChunk(index: number, size: number): Uint8Array {
  const c = new Uint8Array(size);
  for (let i = 0; i < size; i++) c[i] = (index * 31 + i * 7 + (i >> 11)) & 0xff;
  return c;
}

export const CHUNK = 256 * 1024;

async function run(): Promise<void> {
  const [path, mbText, mode] = process.argv.slice(2);
  if (path === undefined || mbText === undefined || mode === undefined)
    throw new Error('usage: atomic-writer PATH MB async|sync|save');
  const chunks = Array.from({ length: (Number(mbText) * 1024 * 1024) / CHUNK }, (_, i) => patternChunk(i, CHUNK));
  process.stdout.write('writing\n');
  if (mode === 'async') await writeFileAtomic(path, chunks);
  else if (mode === 'sync') writeFileAtomicSync(path, chunks);
  else {
    const torch = await import('../../src/torch/index.js');
    const all = Buffer.concat(chunks);
    const t = torch.tensor(all, { dtype: 'uint8' });
    await torch.save(path, { weight: t });
  }
  process.stdout.write('done\n');
}

if (process.argv[1]?.endsWith('atomic-writer.js')) await run();
