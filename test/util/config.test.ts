/** Config layering: defaults < preset < file < --set, validation errors naming keys, YAML/JSON files. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { parseOverrides, readConfigFile, resolveConfig } from '../../src/util/config.js';

const Schema = z
  .object({
    optim: z
      .object({ lr: z.number().positive().default(0.05), nesterov: z.boolean().default(true) })
      .strict()
      .default({ lr: 0.05, nesterov: true }),
    data: z
      .object({ tileSize: z.number().int().default(128), zRange: z.tuple([z.number(), z.number()]).default([14, 36]) })
      .strict()
      .default({ tileSize: 128, zRange: [14, 36] }),
    name: z.string().default('run'),
  })
  .strict();

describe('configs', () => {
  it('fills defaults, then applies preset, file and --set in that order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-cfg-'));
    writeFileSync(join(dir, 'c.yaml'), 'optim:\n  lr: 0.2\ndata:\n  tileSize: 64\n');
    const file = await readConfigFile(join(dir, 'c.yaml'));
    const cfg = resolveConfig(
      Schema,
      { optim: { lr: 0.1, nesterov: false } },
      file,
      parseOverrides(['data.zRange=[10, 30]', 'name=demo']),
    );
    assert.deepEqual(cfg, {
      optim: { lr: 0.2, nesterov: false },
      data: { tileSize: 64, zRange: [10, 30] },
      name: 'demo',
    });
    assert.deepEqual(resolveConfig(Schema), {
      optim: { lr: 0.05, nesterov: true },
      data: { tileSize: 128, zRange: [14, 36] },
      name: 'run',
    });
  });

  it('errors name the bad keys', async () => {
    assert.throws(
      () => resolveConfig(Schema, parseOverrides(['optim.lr=-1', 'data.tileSize=abc'])),
      /config: optim\.lr: .*; data\.tileSize: /,
    );
    assert.throws(() => resolveConfig(Schema, parseOverrides(['optim.momentum=0.9'])), /config: optim: .*momentum/);
    assert.throws(() => parseOverrides(['lr']), /--set expects key=value, got 'lr'/);
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-cfg-'));
    writeFileSync(join(dir, 'bad.yaml'), 'optim: [1, 2\n');
    await assert.rejects(readConfigFile(join(dir, 'bad.yaml')), /bad\.yaml is not valid YAML\/JSON/);
    await assert.rejects(readConfigFile(join(dir, 'none.yaml')), /cannot read .*none\.yaml: ENOENT/);
  });
});
