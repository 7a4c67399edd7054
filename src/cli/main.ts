import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';

/** Runs the CLI on `argv` (without node and script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('inkwell')
    .description('Self-supervised pretraining and ink detection for the Herculaneum scrolls')
    .exitOverride()
    .showHelpAfterError();
  for (const register of commands) register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`inkwell: ${message}\n`);
    if (process.env['INKWELL_DEBUG'] && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}
