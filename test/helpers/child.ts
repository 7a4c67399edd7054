/** Worker processes the data-parallel tests start themselves: launcher variables and collected output. */
import type { ChildProcess } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Collects `child`'s output until it closes. It is killed (SIGKILL) after `killAfterMs`, so that a worker
 * hung in a collective fails its test with its output instead of hanging the suite.
 */
export function collect(child: ChildProcess, killAfterMs: number): Promise<ChildResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d;
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

/** The variables a torchrun-style launcher gives worker `rank` of `worldSize` on this machine. */
export function launcherEnv(rank: number, worldSize: number, port: number): Record<string, string> {
  return {
    RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    LOCAL_RANK: String(rank),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
  };
}
