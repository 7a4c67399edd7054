import type { Command } from 'commander';

/** Every command registers itself on the program; one line per command file. */
export const commands: ((program: Command) => void)[] = [];
