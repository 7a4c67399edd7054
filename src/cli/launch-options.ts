/**
 * The launcher's flags (torchrun's names) for the commands that can run data-parallel: `--nproc-per-node`,
 * `--nnodes`, `--node-rank`, `--master-addr`, `--master-port`. Their numbers go through the shared parsers
 * (./options.ts), so a bad value stops the command before any worker starts; src/train/launch.ts runs the plan.
 */
import type { Command } from 'commander';
import { nonNegativeInt, parseIntegerFlag, positiveInt } from './options.js';

/** Adds --nproc-per-node, --nnodes, --node-rank, --master-addr, --master-port to a command. */
export function addLaunchOptions(cmd: Command): Command {
  return cmd
    .option(
      '--nproc-per-node <n>',
      'start n data-parallel worker processes on this node (torchrun-style; each re-runs this command with RANK, WORLD_SIZE, ... set)',
      positiveInt('a worker count'),
    )
    .option(
      '--nnodes <n>',
      'nodes taking part (multi-node: run the same command on each node)',
      positiveInt('a node count'),
    )
    .option('--node-rank <i>', "this node's index, 0..nnodes-1", nonNegativeInt('a node rank'))
    .option('--master-addr <host>', 'address of node 0 (rank 0 hosts the rendezvous; default 127.0.0.1)')
    .option(
      '--master-port <port>',
      'rendezvous port (default: a free port on one node, 29500 across nodes)',
      parseIntegerFlag('a port', { min: 1, max: 65535 }),
    );
}
