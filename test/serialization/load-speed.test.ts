/**
 * Loading a ~200 MB zip checkpoint is a file read plus CRC-32 and pickle parsing, with tensors viewing the
 * file's bytes: it must take well under a second (no per-element JS work). The bound asserted here is loose
 * (2 s) so that a busy CI machine does not fail it; the measured time is reported as a diagnostic, next to
 * PyTorch's torch.load of the same file when PyTorch is there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  flattenTensors,
  loadCheckpointFile,
  PyOrderedDict,
  saveCheckpointFile,
} from '../../src/torch/serialization/index.js';
import { hasTorchPython, PYTHON, PYTHON_ENV } from '../helpers/python.js';
import { tempDir } from './describe.js';

test('a 200 MB zip checkpoint loads in well under a second', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'big.pth');
  try {
    const sd = new PyOrderedDict();
    for (let i = 0; i < 50; i++) {
      const data = new Uint8Array(4 * 1024 * 1024);
      data.fill(i + 1);
      sd.set(`layer${i}.weight`, { dtype: 'float32', shape: [1024, 1024], data });
    }
    await saveCheckpointFile(path, { epoch: 1, state_dict: sd });
    await loadCheckpointFile(path); // warm the page cache and the JIT
    const times: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const { value } = await loadCheckpointFile(path);
      times.push(performance.now() - t0);
      const tensors = flattenTensors(value);
      assert.equal(tensors.length, 50);
      assert.equal(tensors[49]![1].data[12345], 50);
    }
    const best = Math.min(...times);
    t.diagnostic(
      `inkwell loadCheckpointFile, 209.7 MB: best of 3 ${best.toFixed(0)} ms (${times.map((x) => x.toFixed(0)).join(', ')})`,
    );
    if (hasTorchPython()) {
      // torch's allocator keeps freed storages for reuse, so its repeated loads skip the page faults that a
      // fresh 200 MB buffer costs; the first load in a fresh process is the fair comparison.
      const py = spawnSync(
        PYTHON,
        [
          '-c',
          [
            'import sys, time, torch',
            'ts = []',
            'for _ in range(4):',
            '    t0 = time.perf_counter(); torch.load(sys.argv[1]); ts.append(time.perf_counter() - t0)',
            'print(round(ts[0] * 1000), round(min(ts[1:]) * 1000))',
          ].join('\n'),
          path,
        ],
        { encoding: 'utf8', env: PYTHON_ENV },
      );
      const [first, warm] = py.stdout.trim().split(' ');
      if (py.status === 0)
        t.diagnostic(`PyTorch torch.load of the same file: first load ${first} ms, then best of 3 ${warm} ms`);
    }
    assert.ok(best < 2000, `loading took ${best.toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
