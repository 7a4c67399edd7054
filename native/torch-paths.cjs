// Prints the include folders, the library folder, the link flags or the defines of the libtorch that native/
// builds against: TORCH_DIR (a libtorch root, or a pip torch package folder with include/ and lib/), which
// scripts/bootstrap.sh sets to the Python torch it finds or the one it installs into .torch/, or else Debian's
// libtorch-dev (libtorch 1.13, INKWELL_TORCH=debian). Also the Node-API headers (`napi`).
const { execFileSync } = require('node:child_process');
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const { dirname, join } = require('node:path');

const what = process.argv[2];
const torchDir = process.env.TORCH_DIR;
let include;
let lib;
if (torchDir) {
  include = [join(torchDir, 'include'), join(torchDir, 'include', 'torch', 'csrc', 'api', 'include')];
  lib = join(torchDir, 'lib');
  if (!existsSync(join(include[0], 'ATen', 'ATen.h'))) {
    console.error(`TORCH_DIR=${torchDir} has no include/ATen/ATen.h: point it at a libtorch root or a pip torch package folder`);
    process.exit(1);
  }
} else {
  include = ['/usr/include', '/usr/include/torch/csrc/api/include'];
  lib = '/usr/lib/x86_64-linux-gnu';
  const multiarch = require('node:child_process').spawnSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).stdout?.trim();
  if (multiarch) lib = `/usr/lib/${multiarch}`;
}
const found = (dirs, file) => dirs.some((dir) => existsSync(join(dir, file)));
const c10dHeader = (name) => join('torch', 'csrc', 'distributed', 'c10d', name);

// c10d's Gloo process group is part of every build (data parallelism on every libtorch): its header includes
// Gloo's, which pip wheels do not ship; Debian's libgloo-dev provides them (the bootstrap installs it).
function requireGloo() {
  if (!found(include, c10dHeader('ProcessGroupGloo.hpp'))) {
    console.error(`torch-paths: ${include[0]} has no c10d headers (a libtorch built without USE_DISTRIBUTED?)`);
    process.exit(1);
  }
  if (!found([...include, '/usr/include'], join('gloo', 'algorithm.h'))) {
    console.error('torch-paths: Gloo headers not found (gloo/algorithm.h): apt-get install libgloo-dev');
    process.exit(1);
  }
}

// A CUDA libtorch is linked as one (libtorch_cuda, ProcessGroupNCCL) where its CUDA libraries load (ldd resolves
// every dependency of libtorch_cuda.so; a pip wheel's come as nvidia-* wheels) and an NVIDIA driver is installed:
// elsewhere its CUDA half would only slow every process's start. INKWELL_CUDA=1 or 0 overrides the driver check.
function cudaLinkable() {
  if (process.env.INKWELL_CUDA === '0') return false;
  const file = join(lib, 'libtorch_cuda.so');
  if (!existsSync(file)) return false;
  const driver = existsSync('/dev/nvidiactl') || /libcuda\.so\.1/.test(ldconfigCache());
  if (!driver && process.env.INKWELL_CUDA !== '1') return false;
  try {
    return !/not found/.test(execFileSync('ldd', [file], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

function ldconfigCache() {
  for (const cmd of ['ldconfig', '/sbin/ldconfig']) {
    try {
      return execFileSync(cmd, ['-p'], { encoding: 'utf8' });
    } catch {
      // not on PATH: try the next
    }
  }
  return '';
}

// CUDA and NCCL headers for ProcessGroupNCCL: NCCL_INCLUDE_DIR, CUDA_HOME, /usr/local/cuda, or the nvidia-* pip
// packages next to a pip torch (site-packages/nvidia/<part>/include).
function cudaIncludes() {
  const dirs = [process.env.NCCL_INCLUDE_DIR, process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'include'), '/usr/local/cuda/include'];
  if (torchDir) {
    const nvidia = join(dirname(torchDir), 'nvidia');
    if (existsSync(nvidia)) for (const part of readdirSync(nvidia)) dirs.push(join(nvidia, part, 'include'));
  }
  return dirs.filter((d) => d && existsSync(d));
}

// The Node-API headers: the distribution's (/usr/include/node), else the node-api-headers npm package.
function napiInclude() {
  if (existsSync('/usr/include/node/node_api.h')) return '/usr/include/node';
  try {
    return require('node-api-headers').include_dir;
  } catch {
    console.error('torch-paths: no Node-API headers: /usr/include/node is missing and so is the node-api-headers package (npm ci)');
    process.exit(1);
  }
}

const cuda = cudaLinkable();
const cudaInc = cudaIncludes();
// The CUDA runtime's headers, including the crt/ folder they include: CUDA 13's nvidia-cuda-runtime wheel ships
// cuda_runtime_api.h without it (crt/ comes in nvidia-cuda-crt), and a build that took those would not compile.
const cudaRuntime = found(cudaInc, 'cuda_runtime_api.h') && found(cudaInc, join('crt', 'host_defines.h'));
// ProcessGroupNCCL: a CUDA libtorch (libtorch_cuda loads) with its header, and nccl.h + the CUDA runtime headers.
const nccl = cuda && found(include, c10dHeader('ProcessGroupNCCL.hpp')) && found([...cudaInc, ...include], 'nccl.h') &&
  cudaRuntime;
// at::cuda::getDeviceProperties (a device's name for `inkwell doctor`): ATen's CUDAContextLight.h includes the
// CUDA runtime, cuSPARSE, cuBLAS(Lt) and cuSOLVER headers; CUDA's hooks interface offers no device properties.
const cudaContext = cuda && cudaRuntime && found(include, join('ATen', 'cuda', 'CUDAContextLight.h')) &&
  ['cusparse.h', 'cublas_v2.h', 'cublasLt.h', 'cusolverDn.h'].every((h) => found(cudaInc, h));
// "2.15.0" from TORCH_VERSION_MAJOR/MINOR/PATCH (torch/version.h; libtorch 2.10+ moved them to headeronly/).
const version = (() => {
  const text = include.flatMap((dir) => ['version.h', join('headeronly', 'version.h')].map((f) => join(dir, 'torch', f)))
    .filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
  const part = (name) => new RegExp(`TORCH_VERSION_${name}\\s+(\\d+)`).exec(text)?.[1];
  return part('MAJOR') ? `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` : undefined;
})();

if (what === 'include') {
  requireGloo();
  // Debian's libtorch-dev lacks the distributed-autograd header that c10d's reducer.hpp includes (see compat/).
  const reducerDeps = join('torch', 'csrc', 'distributed', 'autograd', 'context', 'context.h');
  const extra = found(include, reducerDeps) ? [] : [join(__dirname, 'compat')];
  console.log([...include, ...extra, ...(nccl || cudaContext ? cudaInc : [])].join(' '));
} else if (what === 'napi') {
  console.log(napiInclude());
} else if (what === 'lib') {
  console.log(lib);
} else if (what === 'libs') {
  // CUDA builds put the CUDA kernels in libtorch_cuda: link it so that its dispatcher entries register.
  const cudaLibs = cuda ? ' -ltorch_cuda -lc10_cuda' : '';
  console.log(`-Wl,--no-as-needed -ltorch_cpu -lc10${cudaLibs} -Wl,--as-needed -Wl,-rpath,${lib}`);
} else if (what === 'defines') {
  console.log(
    [
      'USE_C10D_GLOO',
      ...(cuda ? ['INKWELL_CUDA'] : []),
      ...(nccl ? ['USE_C10D_NCCL'] : []),
      ...(cudaContext ? ['INKWELL_CUDA_CONTEXT'] : []),
    ].join(' '),
  );
} else if (what === 'std') {
  // libtorch 2.10 and later need C++20 (ATen.h refuses older); 1.13 is C++17 code.
  const [major, minor] = (version ?? '1.13').split('.').map(Number);
  console.log(major > 2 || (major === 2 && minor >= 10) ? '-std=c++20' : '-std=c++17');
} else if (what === 'version') {
  console.log(version ?? 'unknown');
} else {
  console.error('usage: torch-paths.cjs include|napi|lib|libs|defines|std|version');
  process.exit(2);
}
