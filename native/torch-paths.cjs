// Prints the include folders, the library folder or the link flags of the libtorch that native/ builds
// against: Debian's libtorch-dev by default, or TORCH_DIR (a libtorch root, or a pip torch package folder
// with include/ and lib/) for another libtorch >= 1.13, e.g. a CUDA build on a GPU machine.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

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
if (what === 'include') console.log(include.join(' '));
else if (what === 'lib') console.log(lib);
else if (what === 'libs') {
  // CUDA builds of libtorch put the CUDA kernels in libtorch_cuda: link it so that its dispatcher entries register.
  const cuda = existsSync(join(lib, 'libtorch_cuda.so')) ? ' -ltorch_cuda' : '';
  console.log(`-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10${cuda} -Wl,--as-needed -Wl,-rpath,${lib}`);
} else if (what === 'defines') {
  // c10d's Gloo process group needs Gloo's headers (Debian: libgloo-dev; pip torch wheels ship them).
  const gloo = [...include, '/usr/include'].some((dir) => existsSync(join(dir, 'gloo', 'algorithm.h')))
    && include.some((dir) => existsSync(join(dir, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')));
  console.log(gloo ? 'INKWELL_WITH_GLOO' : 'INKWELL_NO_GLOO');
} else {
  console.error('usage: torch-paths.cjs include|lib|libs|defines');
  process.exit(2);
}
