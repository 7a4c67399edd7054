/**
 * Worker-thread side of the prefetch pipeline (pipeline.ts): loads the sample source once, then produces
 * the batches it is sent, one at a time, posting each back with its typed arrays transferred. Between
 * batches it yields to the event loop so that a 'cancel' (the consumer broke out of an epoch) or a 'close'
 * is seen before the next queued batch is started.
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  collate,
  loadSource,
  transferables,
  type FromWorker,
  type Sample,
  type SampleSource,
  type SampleSourceSpec,
  type ToWorker,
} from './pipeline.js';

type BatchTask = Extract<ToWorker, { type: 'batch' }>;

const port = parentPort;
if (port === null) throw new Error('pipeline-worker: must run in a worker thread');
const { spec } = workerData as { spec: SampleSourceSpec; workerIndex: number };

const queue: BatchTask[] = [];
let cancelledUpTo = 0;
let busy = false;
let closing = false;
let source: SampleSource | null = null;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  (port as NonNullable<typeof port>).postMessage(msg, transfer);
}

async function runTask(t: BatchTask, src: SampleSource): Promise<void> {
  const samples: Sample[] = [];
  for (let k = 0; k < t.indices.length; k++) {
    const index = t.indices[k] as number;
    try {
      samples.push(await src.get(index, t.seeds[k] as number));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      post({ type: 'error', gen: t.gen, batch: t.batch, sample: index, message: e.message, stack: e.stack ?? '' });
      return;
    }
  }
  try {
    const payload = collate(samples, t.indices);
    post({ type: 'batch', gen: t.gen, batch: t.batch, payload }, transferables(payload.arrays));
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    post({ type: 'error', gen: t.gen, batch: t.batch, sample: null, message: e.message, stack: e.stack ?? '' });
  }
}

async function shutdown(): Promise<void> {
  try {
    await source?.close?.();
  } finally {
    (port as NonNullable<typeof port>).close();
  }
}

async function pump(): Promise<void> {
  if (busy || source === null) return;
  busy = true;
  while (queue.length > 0 && !closing) {
    const t = queue.shift() as BatchTask;
    if (t.gen <= cancelledUpTo) continue;
    await runTask(t, source);
    await new Promise((r) => setImmediate(r));
  }
  busy = false;
  if (closing) await shutdown();
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'batch') queue.push(m);
  else if (m.type === 'cancel') cancelledUpTo = Math.max(cancelledUpTo, m.gen);
  else if (m.type === 'close') {
    closing = true;
    queue.length = 0;
    if (!busy) void shutdown();
    return;
  }
  void pump();
});

try {
  source = await loadSource(spec);
  post({ type: 'ready', length: source.length });
  void pump();
} catch (err) {
  post({ type: 'init-error', message: (err as Error).message });
  port.close();
}
