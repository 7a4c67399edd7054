/**
 * The reference study's names: `reference`, `reference-1`/`-2` and the `-reference` arch suffix are current;
 * the earlier `seed` spellings stay accepted (saved configs and scripts use them) and resolve to the same thing.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseArch } from '../../src/models/registry.js';
import { loadPretrainConfig } from '../../src/ssl/config.js';
import { loadSupervisedConfig, protocolDatasets } from '../../src/supervised/config.js';
import { canonicalName } from '../../src/util/config.js';

it('pretrain preset and augmentation: seed resolves to reference, other names are untouched', async () => {
  const a = await loadPretrainConfig({ preset: 'reference', inputs: ['x'] });
  const b = await loadPretrainConfig({ preset: 'seed', inputs: ['x'], set: ['data.augment=seed'] });
  assert.deepEqual(b, a);
  assert.equal(a.data.augment, 'reference');
  assert.equal(canonicalName('kaggle'), 'kaggle');
  await assert.rejects(loadPretrainConfig({ inputs: ['x'], set: ['data.augment=seeds'] }), /config: data\.augment: /);
});

it('probe protocols: seed-N and reference-N give the same datasets; unknown names list the current ones', async () => {
  assert.deepEqual(protocolDatasets('seed-1', '/f'), protocolDatasets('reference-1', '/f'));
  assert.deepEqual(protocolDatasets('seed-2', '/f'), protocolDatasets('reference-2', '/f'));
  assert.throws(() => protocolDatasets('seed-3', '/f'), /unknown protocol 'seed-3' \(known: reference-1, reference-2;/);
  const cfg = await loadSupervisedConfig({ protocol: { name: 'seed-2', fragments: '/f' }, set: ['data.augment=seed'] });
  assert.equal(cfg.data.augment, 'reference');
  assert.equal(cfg.data.valRequireInk, true);
});

it('architecture suffix: -seed and -reference name the same variant', () => {
  assert.deepEqual(parseArch('resnet3d-18-seed').preset, parseArch('resnet3d-18-reference').preset);
  assert.equal(parseArch('resnet3d-18-reference').preset.maxPool !== undefined, true);
  assert.deepEqual(parseArch('resnet3d-18').preset, {});
});
