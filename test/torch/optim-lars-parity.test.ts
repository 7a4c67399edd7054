/**
 * LARS against a reference written in the fixture script from the update rule of VICReg's LARS
 * (facebookresearch/vicreg, main_vicreg.py): weight decay and the trust ratio skip 1-D parameters when the
 * filters are on, the trust ratio falls back to 1 for a zero parameter or a zero update.
 */
import assert from 'node:assert/strict';
import { assertClose } from '../helpers/compare.js';
import { describeReplay } from './optim-fixtures.js';

const CASES: [string, string][] = [
  [
    'lars_vicreg',
    "VICReg's setting: 1-D parameters excluded from weight decay and adaptation, a zero-initialised parameter",
  ],
  ['lars_no_filters', 'no filters: every parameter decayed and adapted'],
  ['lars_zero_update', 'an all-zero update (no weight decay, zero gradient) keeps trust ratio 1'],
  ['lars_groups', 'two parameter groups with different lr, weight decay, momentum and eta'],
];

describeReplay('LARS matches the VICReg LARS update rule', 'lars_', CASES, {
  reference: 'reference',
  check: ({ name, c, fx, params }) => {
    // The comparison means something only if the parameters moved well beyond the tolerance.
    const moved = params.map((_, i) => {
      try {
        assertClose(fx.stored(`${name}.p_init.${i}`), fx.stored(`${name}.p${c.steps - 1}.${i}`), 'moved', {
          rtol: 0,
          atol: 1e-4,
        });
        return false;
      } catch {
        return true;
      }
    });
    assert.ok(moved.every(Boolean), `every parameter moved by more than 1e-4 (${moved.join(', ')})`);
  },
});
