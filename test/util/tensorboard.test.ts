/** TensorBoard event files read back by an independent decoder written from the TFRecord/event.proto specs. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32c, EventWriter } from '../../src/util/tensorboard.js';
import { hasTorchPython, NO_TORCH_REASON, runPython } from '../helpers/python.js';

describe('TensorBoard event files', () => {
  it('CRC-32C matches the published check value', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  });

  it('scalars come back with their tags, steps and values', {
    skip: hasTorchPython() ? false : NO_TORCH_REASON,
  }, () => {
    const w = new EventWriter(mkdtempSync(join(tmpdir(), 'inkwell-tb-')));
    w.scalars(1, { 'loss/total': 2.5, 'loss/var': 0.125 }, 1000.5);
    w.scalars(300, { lr: 0.05 }, 1001);
    w.close();
    const events = JSON.parse(runPython('tfevents_read.py', [w.path])) as {
      step?: number;
      wall_time: number;
      file_version?: string;
      values: Record<string, number>;
    }[];
    assert.equal(events.length, 3);
    assert.equal(events[0]!.file_version, 'brain.Event:2');
    assert.deepEqual(events[1], { wall_time: 1000.5, step: 1, values: { 'loss/total': 2.5, 'loss/var': 0.125 } });
    assert.equal(events[2]!.step, 300);
    assert.ok(Math.abs(events[2]!.values['lr']! - 0.05) < 1e-8);
    assert.throws(() => w.scalars(2, { x: 1 }), /already closed/);
  });

  it('purgeStep writes what SummaryWriter(purge_step=P) writes: a file version and SessionLog START at P', {
    skip: hasTorchPython() ? false : NO_TORCH_REASON,
  }, () => {
    const w = new EventWriter(mkdtempSync(join(tmpdir(), 'inkwell-tb-')), { purgeStep: 9 });
    w.scalars(9, { loss: 1 }, 1000);
    w.close();
    const events = JSON.parse(runPython('tfevents_read.py', [w.path])) as {
      step?: number;
      file_version?: string;
      session_log?: number;
    }[];
    assert.deepEqual(
      events.map((e) => [e.step ?? 0, e.file_version ?? null, e.session_log ?? null]),
      [
        [0, 'brain.Event:2', null],
        [9, 'brain.Event:2', null],
        [9, null, 1],
        [9, null, null],
      ],
    );
    assert.throws(
      () => new EventWriter(mkdtempSync(join(tmpdir(), 'inkwell-tb-')), { purgeStep: -1 }),
      /purgeStep must be an integer >= 0/,
    );
  });
});
