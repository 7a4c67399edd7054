/** Config mistakes a researcher makes first get a sentence that says what to do, not a schema dump. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { loadSupervisedConfig } from '../../src/supervised/config.js';
import { loadPretrainConfig } from '../../src/ssl/config.js';

it('no datasets: pretrain and finetune say which flag gives them', async () => {
  await assert.rejects(loadPretrainConfig({}), /pretrain: no data to pretrain on: give --input DIR/);
  await assert.rejects(loadSupervisedConfig({}), /no labelled data to train on: give --train DIR/);
  await assert.rejects(
    loadPretrainConfig({ preset: 'nope', inputs: ['x'] }),
    /unknown preset 'nope' \(known: reference, vicreg-paper, cpu-small; 'seed' = 'reference'\)/,
  );
  await assert.rejects(loadPretrainConfig({ inputs: ['x'], set: ['optim.lr=-1'] }), /config: optim\.lr: /);
  const cfg = await loadPretrainConfig({ inputs: ['a', 'b'] });
  assert.deepEqual(
    cfg.data.datasets.map((d) => d.path),
    ['a', 'b'],
  );
  assert.equal(cfg.model.arch, 'resnet3d-50-reference');
  assert.deepEqual([cfg.method.vicreg.simCoeff, cfg.method.vicreg.stdCoeff, cfg.method.vicreg.covCoeff], [25, 25, 5]);
});
