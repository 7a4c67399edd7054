import type { Command } from 'commander';
import { registerBench } from './bench.js';

/** Every command registers itself on the program; one line per command file. */
export const commands: ((program: Command) => void)[] = [registerBench];
