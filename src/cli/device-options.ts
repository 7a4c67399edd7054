/** `--device` and `--amp`, shared by every command that runs a model (docs/devices.md). */
import { type Command, InvalidArgumentError } from 'commander';
import { parseDevice, type Device } from '../torch/index.js';
import type { AmpMode } from '../torch/amp.js';
import { parseAmp } from '../train/device.js';

export interface DeviceFlags {
  device?: Device;
  amp?: AmpMode;
}

function wrap<T>(parse: (s: string) => T): (s: string) => T {
  return (s) => {
    try {
      return parse(s);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** The flags that were given, as optional fields (exactOptionalPropertyTypes: absent, never undefined). */
export function deviceOptions(o: DeviceFlags): DeviceFlags {
  return { ...(o.device ? { device: o.device } : {}), ...(o.amp ? { amp: o.amp } : {}) };
}

/** Adds `--device cpu|cuda|cuda:N` and, for commands that train or run long forwards, `--amp bf16|fp16|off`. */
export function addDeviceOptions(cmd: Command, o: { amp: boolean; configKey?: boolean }): Command {
  const fromConfig = o.configKey ? " (config key 'device'; default cpu)" : ' (default cpu)';
  cmd.option(
    '--device <device>',
    `where the model runs: cpu, cuda or cuda:N${fromConfig}`,
    wrap((s) => parseDevice(s, '--device')),
  );
  if (o.amp) {
    cmd.option(
      '--amp <mode>',
      `mixed precision: bf16 (autocast), fp16 (autocast + gradient scaler; CUDA only) or off${o.configKey ? " (config key 'amp')" : ''}`,
      wrap((s) => parseAmp(s)),
    );
  }
  return cmd;
}
