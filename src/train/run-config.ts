/** The config keys every trainer's schema starts with: the run's name and folder, its seed, and the device keys. */
import { z } from 'zod';
import { int } from '../util/config.js';
import { DEVICE_CONFIG_FIELDS } from './device.js';

/** `name` (default `defaultName`), `out`, `seed` and the device keys, spread first into a trainer's zod schema. */
export function runFields(defaultName: string) {
  return {
    name: z.string().min(1).default(defaultName),
    /** Folder that holds run folders (runs/<name>/). */
    out: z.string().default('runs'),
    seed: int().default(0),
    /** device, amp, channelsLast3d, cudnnBenchmark (src/train/device.ts, docs/devices.md). */
    ...DEVICE_CONFIG_FIELDS,
  };
}
