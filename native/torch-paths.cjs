// Prints the include folders, the library folder, the link flags or the defines of the libtorch that native/
// builds against: Debian's libtorch-dev by default, or TORCH_DIR (a libtorch root, or a pip torch package
// folder with include/ and lib/) for another libtorch >= 1.13, e.g. a CUDA build on a GPU machine.
const { existsSync, readdirSync, readFileSync } = require('node:fs');
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

// distributed.cc is written against c10d as libtorch 1.13 has it, where ProcessGroupGloo/NCCL are process
// groups; libtorch 2 turned them into backends behind a ProcessGroup, so there the addon builds without c10d.
function torchMajor() {
  for (const dir of include) {
    const file = join(dir, 'torch', 'version.h');
    if (existsSync(file)) return Number(/TORCH_VERSION_MAJOR\s+(\d+)/.exec(readFileSync(file, 'utf8'))?.[1] ?? 1);
  }
  return 1;
}

// CUDA and NCCL headers for ProcessGroupNCCL: CUDA_HOME, /usr/local/cuda, or the nvidia-* pip packages next to
// a pip torch (site-packages/nvidia/<part>/include).
function cudaIncludes() {
  const dirs = [process.env.NCCL_INCLUDE_DIR, process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'include'), '/usr/local/cuda/include'];
  if (torchDir) {
    const nvidia = join(dirname(torchDir), 'nvidia');
    if (existsSync(nvidia)) for (const part of readdirSync(nvidia)) dirs.push(join(nvidia, part, 'include'));
  }
  return dirs.filter((d) => d && existsSync(d));
}

const c10d = torchMajor() < 2;
// c10d's Gloo process group needs Gloo's headers (Debian: libgloo-dev; pip torch wheels ship them).
const gloo = c10d && found([...include, '/usr/include'], join('gloo', 'algorithm.h')) && found(include, c10dHeader('ProcessGroupGloo.hpp'));
// ProcessGroupNCCL: a CUDA libtorch built with NCCL (libtorch_cuda next to the header), and nccl.h to compile against.
const cuda = cudaIncludes();
const nccl = gloo && existsSync(join(lib, 'libtorch_cuda.so')) && found(include, c10dHeader('ProcessGroupNCCL.hpp')) && found([...cuda, ...include, '/usr/include'], 'nccl.h');

if (what === 'include') {
  // Debian's libtorch-dev lacks the distributed-autograd header that c10d's reducer.hpp includes (see compat/).
  const reducerDeps = join('torch', 'csrc', 'distributed', 'autograd', 'context', 'context.h');
  const extra = found(include, reducerDeps) ? [] : [join(__dirname, 'compat')];
  console.log([...include, ...extra, ...(nccl ? cuda : [])].join(' '));
} else if (what === 'lib') {
  console.log(lib);
} else if (what === 'libs') {
  // CUDA builds of libtorch put the CUDA kernels in libtorch_cuda: link it so that its dispatcher entries register.
  const cudaLibs = existsSync(join(lib, 'libtorch_cuda.so')) ? ' -ltorch_cuda' : '';
  console.log(`-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10${cudaLibs} -Wl,--as-needed -Wl,-rpath,${lib}`);
} else if (what === 'defines') {
  if (!c10d) console.error('torch-paths: libtorch 2 or later: building without c10d (data parallelism needs libtorch 1.13\'s c10d API)');
  console.log([gloo ? 'INKWELL_WITH_GLOO' : 'INKWELL_NO_GLOO', ...(nccl ? ['USE_C10D_NCCL'] : [])].join(' '));
} else {
  console.error('usage: torch-paths.cjs include|lib|libs|defines');
  process.exit(2);
}
