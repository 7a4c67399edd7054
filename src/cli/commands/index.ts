import type { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerConvert } from './convert.js';
import { registerCrop } from './crop.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerEmbed } from './embed.js';
import { registerExport } from './export.js';
import { registerCka } from './cka.js';
import { registerInfer } from './infer.js';
import { registerInspect } from './inspect.js';
import { registerPretrain } from './pretrain.js';
import { registerReport } from './report.js';
import { registerScore } from './score.js';
import { registerServe } from './serve.js';
import { registerFinetune, registerProbe } from './supervised.js';
import { registerSynth } from './synth.js';

/** Every command registers itself on the program; one line per command file. */
export const commands: ((program: Command) => void)[] = [
  registerInspect,
  registerConvert,
  registerCrop,
  registerEmbed,
  registerExport,
  registerSynth,
  registerPretrain,
  registerProbe,
  registerFinetune,
  registerInfer,
  registerScore,
  registerCka,
  registerReport,
  registerServe,
  registerDemo,
  registerBench,
  registerDoctor,
];
