/**
 * `inkwell doctor [--json]`: the libtorch the addon runs (version, CUDA/cuDNN/NCCL build, where it was found) and
 * the devices it sees. JSON: {"libtorch": {"version", "cuda", "cudnn", "nccl", "source"}, "devices": [...]}.
 */
import { cpus } from 'node:os';
import type { Command } from 'commander';
import * as torch from '../../torch/index.js';

export interface DoctorDevice {
  /** A value for --device: "cpu", "cuda:0", ... */
  device: string;
  name: string;
}

export interface DoctorReport {
  libtorch: { version: string; cuda: string | null; cudnn: string | null; nccl: string | null; source: string };
  devices: DoctorDevice[];
}

export function runDoctor(): { report: DoctorReport; text: string } {
  const info = torch.libtorchInfo();
  const threads = torch.getNumThreads();
  const devices: DoctorDevice[] = [{ device: 'cpu', name: `${cpus()[0]?.model.trim() ?? 'CPU'} (${threads} threads)` }];
  const cudaCount = info.cudaLinked ? torch.cuda.deviceCount() : 0;
  for (let i = 0; i < cudaCount; i++) {
    devices.push({ device: `cuda:${i}`, name: torch.cuda.deviceName(i) ?? `CUDA device ${i}` });
  }
  const report: DoctorReport = {
    libtorch: { version: info.version, cuda: info.cuda, cudnn: info.cudnn, nccl: info.nccl, source: info.source },
    devices,
  };
  const build = info.cuda
    ? `CUDA ${info.cuda}${info.cudnn ? `, cuDNN ${info.cudnn}` : ''}${info.nccl ? `, NCCL ${info.nccl}` : ''}`
    : 'CPU only';
  const lines = [
    `libtorch ${info.version} (${info.source})`,
    `  build: ${build}`,
    `  collectives: ${info.backends.join(', ')}`,
    `devices:`,
    ...devices.map((d) => `  ${d.device.padEnd(8)} ${d.name}`),
  ];
  const missing = torch.cudaMissing();
  if (missing) lines.push(`  (no CUDA: ${missing})`);
  return { report, text: lines.join('\n') };
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('the libtorch in use (version, CUDA/cuDNN/NCCL build, where it was found) and the devices it sees')
    .option('--json', 'print JSON: {"libtorch": {version, cuda, cudnn, nccl, source}, "devices": [...]}')
    .action((opts: { json?: boolean }) => {
      const { report, text } = runDoctor();
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
    });
}
