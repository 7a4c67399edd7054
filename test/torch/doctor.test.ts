/**
 * `inkwell doctor [--json]` through bin/inkwell: exactly the documented JSON shape, the libtorch facts agree with
 * the PyTorch that the parity tests run (same version, same CUDA and cuDNN build: the build records that Python),
 * and a machine without CUDA is told what is missing rather than crashing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { REPO_ROOT } from '../../src/torch/build.js';
import { hasTorchPython, NO_TORCH_REASON, PYTHON, PYTHON_ENV } from '../helpers/python.js';

function doctor(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'inkwell'), 'doctor', ...args], { encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

test('doctor --json has exactly {libtorch: {version, cuda, cudnn, nccl, source}, devices} and lists the CPU', () => {
  const r = doctor('--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    libtorch: Record<string, unknown>;
    devices: { device: string; name: string }[];
  };
  assert.deepEqual(Object.keys(report), ['libtorch', 'devices']);
  assert.deepEqual(Object.keys(report.libtorch), ['version', 'cuda', 'cudnn', 'nccl', 'source']);
  assert.equal(report.libtorch['version'], torch.buildInfo().torchVersion);
  assert.equal(report.libtorch['source'], torch.torchBuild()?.source);
  assert.equal(report.devices[0]?.device, 'cpu');
  const cuda = torch.libtorchInfo().cudaLinked ? torch.cuda.deviceCount() : 0;
  assert.deepEqual(
    report.devices.slice(1).map((d) => d.device),
    Array.from({ length: cuda }, (_, i) => `cuda:${i}`),
  );
  const text = doctor();
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^libtorch ${report.libtorch['version']} \\(`));
});

test('doctor agrees with the Python torch the parity tests use: version, CUDA and cuDNN', {
  skip: hasTorchPython() ? false : NO_TORCH_REASON,
}, () => {
  const py = spawnSync(
    PYTHON,
    [
      '-c',
      [
        'import json, torch',
        'v = torch.backends.cudnn.version() if torch.version.cuda else None',
        'names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]',
        'print(json.dumps([torch.__version__.split("+")[0], torch.version.cuda,',
        '  None if v is None else "%d.%d.%d" % (v // 10000, v // 100 % 100, v % 100) if v >= 90000 else "%d.%d.%d" % (v // 1000, v // 100 % 10, v % 100),',
        '  names]))',
      ].join('\n'),
    ],
    { encoding: 'utf8', env: PYTHON_ENV },
  );
  assert.equal(py.status, 0, py.stderr);
  const [version, cuda, cudnn, names] = JSON.parse(py.stdout) as [string, string | null, string | null, string[]];
  const info = torch.libtorchInfo();
  // Debian's python3-torch reports 1.13.0a0 for the 1.13.0 libtorch it is built from.
  assert.equal(info.version, version.replace(/a0$/, ''), `addon libtorch ${info.version}, ${PYTHON} torch ${version}`);
  assert.equal(info.cuda, cuda);
  assert.equal(info.cudnn, cudnn);
  // Where the addon sees GPUs and was built with the CUDA runtime's headers, doctor names them as PyTorch does.
  const cudaCount = info.cudaLinked ? torch.cuda.deviceCount() : 0;
  if (cudaCount > 0 && torch.cuda.deviceName(0) !== null) {
    assert.deepEqual(
      Array.from({ length: cudaCount }, (_, i) => torch.cuda.deviceName(i)),
      names.slice(0, cudaCount),
    );
  }
});

test('without a usable CUDA device, cudaMissing names what is missing and doctor says so', () => {
  const missing = torch.cudaMissing();
  if (missing === null) {
    assert.ok(torch.cuda.deviceCount() > 0);
    assert.match(
      torch.cudaMissing(torch.cuda.deviceCount()) ?? '',
      /^there is no CUDA device \d+; this process sees \d+/,
    );
    return;
  }
  const info = torch.libtorchInfo();
  if (!info.cuda) assert.match(missing, /^this libtorch \(.+\) is a CPU-only build, so it has no CUDA backend/);
  else if (!info.cudaLinked) assert.match(missing, /CUDA .+, but the addon was linked without libtorch_cuda/);
  else assert.match(missing, /was built with CUDA but sees no GPU/);
  assert.throws(
    () => torch.requireDevice('cuda:0', '--device'),
    new RegExp(`^Error: --device cuda:0: ${missing.slice(0, 20).replace(/[()]/g, '.')}`),
  );
  assert.ok(doctor().stdout.includes(`(no CUDA: ${missing})`));
  const n = torch.cuda.deviceCount();
  assert.throws(
    () => torch.cuda.deviceName(n),
    new RegExp(`^Error: cudaDeviceName: no CUDA device ${n} \\(this process sees ${n}\\)`),
  );
});
