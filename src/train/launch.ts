/**
 * A torchrun-style launcher for any inkwell command: `inkwell pretrain --nproc-per-node 2 ...` starts 2 local
 * worker processes that re-run the same command line without the launcher flags, each with the standard
 * variables set (torch/distributed/run.py and elastic's LocalElasticAgent do the same):
 *
 *   RANK = node_rank * nproc_per_node + local_rank, LOCAL_RANK, WORLD_SIZE = nnodes * nproc_per_node,
 *   LOCAL_WORLD_SIZE, GROUP_RANK (= node rank), MASTER_ADDR, MASTER_PORT,
 *   INKWELL_NUM_THREADS / OMP_NUM_THREADS = cores / local workers (unless already set, as torchrun's
 *   OMP_NUM_THREADS default).
 *
 * Multi-node: run the same command on every node with `--nnodes N --node-rank i --master-addr HOST
 * --master-port P`. A worker reads only the variables, so Slurm scripts, torchrun-like wrappers or a Kubernetes
 * job can start workers directly without this launcher.
 *
 * Failure (torchrun's default policy): when a worker exits non-zero or by a signal, the others are stopped
 * (SIGTERM, then SIGKILL after a grace period) and `launch` rejects with a LaunchError naming the first worker
 * that failed; the launcher's own SIGINT/SIGTERM are passed on to the workers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface LaunchOptions {
  /** Worker processes on this node. */
  nprocPerNode: number;
  /** Nodes taking part (default 1). */
  nnodes?: number;
  /** This node's index, 0..nnodes-1 (default 0). */
  nodeRank?: number;
  /** Address of rank 0's node (default 127.0.0.1; required on other nodes when nnodes > 1). */
  masterAddr?: string;
  /** Rendezvous port (default: a free port on a single node, 29500 across nodes, as torchrun). */
  masterPort?: number;
  /** What each worker runs: [executable, ...args] (e.g. node, bin/inkwell, pretrain, ...). */
  command: readonly string[];
  /** Environment of the workers before the launcher's variables (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** libtorch threads per worker (default: cores / nprocPerNode, at least 1; an INKWELL_NUM_THREADS already set wins). */
  threadsPerWorker?: number;
  /** Receives the workers' output, chunk by chunk; default: the workers write to this process's stdout/stderr. */
  output?: (localRank: number, stream: 'stdout' | 'stderr', chunk: string) => void;
  /** Launcher messages (default stderr). */
  log?: (line: string) => void;
  /** Time between SIGTERM and SIGKILL when stopping the other workers (default 5 s). */
  killGraceMs?: number;
}

export interface WorkerExit {
  rank: number;
  localRank: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  workers: WorkerExit[];
}

/** A worker failed; `failed` is the first that did (the others were stopped because of it). */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly failed: WorkerExit,
    readonly workers: WorkerExit[],
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

/** A TCP port nobody listens on right now (the OS picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function checkInt(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new Error(
      `launch: ${name} must be an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? 'inf' : max}, got ${v}`,
    );
}

function describeExit(w: WorkerExit): string {
  return w.signal ? `was killed by ${w.signal}` : `exited with code ${w.code}`;
}

/** Starts the workers of this node, waits for all of them; rejects with a LaunchError when one fails. */
export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  checkInt('nprocPerNode', o.nprocPerNode, 1);
  checkInt('nnodes', nnodes, 1);
  checkInt('nodeRank', nodeRank, 0, nnodes - 1);
  if (o.command.length === 0) throw new Error('launch: empty worker command');
  if (nnodes > 1 && nodeRank > 0 && o.masterAddr === undefined) {
    throw new Error(
      `launch: node ${nodeRank} of ${nnodes} needs --master-addr (the address of node 0, where rank 0 hosts the rendezvous)`,
    );
  }
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort ?? (nnodes === 1 ? await freePort() : 29500);
  checkInt('masterPort', masterPort, 1, 65535);
  const worldSize = nnodes * o.nprocPerNode;
  const base = o.env ?? process.env;
  const threads = o.threadsPerWorker ?? Math.max(1, Math.floor(availableParallelism() / o.nprocPerNode));
  checkInt('threadsPerWorker', threads, 1);
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const grace = o.killGraceMs ?? 5000;

  const children: { child: ChildProcess; exit: WorkerExit }[] = [];
  const exits: WorkerExit[] = [];
  let failed: WorkerExit | null = null;
  let stopping = false;
  const timers: NodeJS.Timeout[] = [];
  const stopOthers = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    for (const { child, exit } of children) {
      if (exit.code !== null || exit.signal !== null) continue;
      child.kill(signal);
      timers.push(
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }, grace),
      );
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`launch: received ${signal}; passing it on to the ${o.nprocPerNode} worker(s)`);
    stopOthers(signal);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    await new Promise<void>((resolve) => {
      let remaining = o.nprocPerNode;
      for (let localRank = 0; localRank < o.nprocPerNode; localRank++) {
        const rank = nodeRank * o.nprocPerNode + localRank;
        const env: NodeJS.ProcessEnv = {
          ...base,
          RANK: String(rank),
          LOCAL_RANK: String(localRank),
          WORLD_SIZE: String(worldSize),
          LOCAL_WORLD_SIZE: String(o.nprocPerNode),
          GROUP_RANK: String(nodeRank),
          MASTER_ADDR: masterAddr,
          MASTER_PORT: String(masterPort),
          INKWELL_NUM_THREADS: base['INKWELL_NUM_THREADS'] ?? String(threads),
          OMP_NUM_THREADS: base['OMP_NUM_THREADS'] ?? String(threads),
        };
        const child = spawn(o.command[0]!, o.command.slice(1), {
          env,
          stdio: o.output ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
        });
        const exit: WorkerExit = { rank, localRank, pid: child.pid, code: null, signal: null };
        children.push({ child, exit });
        if (o.output) {
          const out = o.output;
          child.stdout?.setEncoding('utf8').on('data', (d: string) => out(localRank, 'stdout', d));
          child.stderr?.setEncoding('utf8').on('data', (d: string) => out(localRank, 'stderr', d));
        }
        let done = false;
        const finish = (code: number | null, signal: NodeJS.Signals | null) => {
          if (done) return;
          done = true;
          exit.code = code;
          exit.signal = signal;
          exits.push(exit);
          if ((code !== 0 || signal !== null) && failed === null && !stopping) {
            failed = exit;
            log(
              `launch: worker rank ${rank} (local rank ${localRank}, pid ${exit.pid ?? '?'}) ${describeExit(exit)}; stopping the other workers`,
            );
            stopOthers('SIGTERM');
          }
          if (--remaining === 0) resolve();
        };
        child.on('error', (err) => {
          log(`launch: could not start worker rank ${rank}: ${err.message}`);
          finish(127, null);
        });
        child.on('close', finish);
      }
    });
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    for (const t of timers) clearTimeout(t);
  }
  const workers = children.map((c) => c.exit);
  const first = failed as WorkerExit | null;
  if (first) {
    const others = workers
      .filter((w) => w !== first)
      .map((w) => `rank ${w.rank} ${describeExit(w)}`)
      .join(', ');
    throw new LaunchError(
      `launch: worker rank ${first.rank} of ${worldSize} (local rank ${first.localRank} on node ${nodeRank}, pid ${first.pid ?? '?'}) failed: it ${describeExit(first)}` +
        `${others ? `; then ${others}` : ''}. See rank ${first.rank}'s error above.`,
      first,
      workers,
    );
  }
  const interrupted = workers.find((w) => w.code !== 0 || w.signal !== null);
  if (interrupted) {
    throw new LaunchError(
      `launch: interrupted; worker rank ${interrupted.rank} ${describeExit(interrupted)}`,
      interrupted,
      workers,
    );
  }
  return { worldSize, masterAddr, masterPort, workers };
}

// ---------------------------------------------------------------------------------------------------------
// Command-line flags: any inkwell command can take them (addLaunchOptions, src/cli/launch-options.ts, which
// parses and range-checks each number) and hand over to launchFromCli.

/** The launcher flags as the CLI parsed them. */
export interface LaunchFlags {
  nprocPerNode?: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  masterPort?: number;
}

const FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'] as const;

/** The launch plan the flags ask for, or null when none of them is given (run in this process). */
export function launchPlan(f: LaunchFlags): Omit<LaunchOptions, 'command'> | null {
  const given =
    f.nprocPerNode !== undefined ||
    f.nnodes !== undefined ||
    f.nodeRank !== undefined ||
    f.masterAddr !== undefined ||
    f.masterPort !== undefined;
  if (!given) return null;
  const nprocPerNode = f.nprocPerNode ?? 1;
  const nnodes = f.nnodes ?? 1;
  const nodeRank = f.nodeRank ?? 0;
  // Each flag's own range is the parser's (src/cli/launch-options.ts); this one spans two flags.
  if (nodeRank >= nnodes) throw new Error(`--node-rank: ${nodeRank} is not below --nnodes ${nnodes}`);
  return {
    nprocPerNode,
    nnodes,
    nodeRank,
    ...(f.masterAddr !== undefined ? { masterAddr: f.masterAddr } : {}),
    ...(f.masterPort !== undefined ? { masterPort: f.masterPort } : {}),
  };
}

/** `argv` without the launcher flags (both `--flag value` and `--flag=value`). */
export function stripLaunchArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((FLAGS as readonly string[]).includes(a)) {
      i++;
      continue;
    }
    if (FLAGS.some((f) => a.startsWith(`${f}=`))) continue;
    out.push(a);
  }
  return out;
}

/** The inkwell CLI entry (bin/inkwell of this package), as workers run it. */
export function inkwellEntry(): string {
  const bin = fileURLToPath(new URL('../../../bin/inkwell', import.meta.url));
  if (existsSync(bin)) return bin;
  const script = process.argv[1];
  if (script && existsSync(script)) return script;
  throw new Error(`launch: cannot find the inkwell entry point (${bin} is missing)`);
}

/**
 * For a command's action: when launcher flags are given, starts the workers on `argv` (the command line as the
 * CLI received it, e.g. commander's `program.rawArgs`) without those flags and returns true once they all
 * succeeded (throws a LaunchError naming the failed rank otherwise); returns false when no launcher flag is
 * given, and the command runs in this process (a worker started by an external launcher reads the variables).
 */
export async function launchFromCli(
  flags: LaunchFlags,
  argv: readonly string[],
  opts: Pick<LaunchOptions, 'log' | 'env'> = {},
): Promise<boolean> {
  const plan = launchPlan(flags);
  if (plan === null) return false;
  // Node flags carry over (e.g. --max-old-space-size), the test runner's do not.
  const nodeFlags = process.execArgv.filter((a) => !a.startsWith('--test'));
  const command = [process.execPath, ...nodeFlags, inkwellEntry(), ...stripLaunchArgs(argv)];
  await launch({ ...plan, ...opts, command });
  return true;
}
