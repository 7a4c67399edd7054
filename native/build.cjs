// Builds native/ into <build dir>/Release/inkwell.node with g++ alone: no node-gyp and no Node headers download,
// so the same command works on a machine that has only a Node binary, g++ and a libtorch (a GPU box without
// network, see scripts/device-check.sh). binding.gyp stays the one description of the target: its sources,
// defines, include folders, flags and libraries are read from it, and its `<!(cmd)` / `<!@(cmd)` expansions are run
// as gyp runs them (in native/). Objects are rebuilt only when their source, a header or the flags changed.
//
// usage: node native/build.cjs [build dir]   (default: $INKWELL_BUILD_DIR or native/build)
// TORCH_DIR selects the libtorch (see torch-paths.cjs); INKWELL_TORCH_SOURCE says where it came from (doctor).
const { execSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { cpus } = require('node:os');
const { basename, join, resolve } = require('node:path');

const here = __dirname;
const root = resolve(here, '..');
const buildDir = resolve(root, process.argv[2] ?? process.env.INKWELL_BUILD_DIR ?? join('native', 'build'));
const outDir = join(buildDir, 'Release');
const objDir = join(buildDir, 'obj');

// gyp's command expansions: `<!(cmd)` is replaced by cmd's output, `<!@(cmd)` by its words as list items.
function expand(items) {
  const out = [];
  for (const item of items) {
    const m = /^<!(@?)\((.*)\)$/.exec(item);
    if (!m) {
      out.push(item);
      continue;
    }
    const text = execSync(m[2], { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    if (m[1]) out.push(...text.split(/\s+/).filter(Boolean));
    else out.push(text);
  }
  return out;
}

const target = JSON.parse(readFileSync(join(here, 'binding.gyp'), 'utf8')).targets[0];
const sources = target.sources.map((s) => join(here, s));
const defines = expand(target.defines ?? []);
// gyp resolves relative include folders against the .gyp file's folder.
const includes = expand(target.include_dirs ?? []).map((dir) => resolve(here, dir));
const libraries = expand(target.libraries ?? []);
const source = process.env.INKWELL_TORCH_SOURCE ?? (process.env.TORCH_DIR ? `TORCH_DIR=${process.env.TORCH_DIR}` : 'debian');
const cflags = [
  '-fPIC', '-pthread', '-DBUILDING_NODE_EXTENSION', `-DNODE_GYP_MODULE_NAME=${target.target_name}`,
  ...expand(target.cflags_cc ?? []), ...defines.map((d) => `-D${d}`), ...includes.map((i) => `-I${i}`),
  // Where the libtorch came from, for `inkwell doctor`.
  `-DINKWELL_TORCH_SOURCE=${JSON.stringify(source)}`,
];
const cxx = process.env.CXX ?? 'g++';

function mtime(file) {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

function run(args) {
  return new Promise((ok, fail) => {
    const child = spawn(cxx, args, { stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${cxx} exited with ${code}: ${args.join(' ')}`))));
  });
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  mkdirSync(objDir, { recursive: true });
  // A flag change (another libtorch, a define) rebuilds everything; the digest is kept beside the objects.
  const digest = createHash('sha256').update(JSON.stringify([cxx, cflags])).digest('hex');
  const digestFile = join(objDir, 'flags.sha256');
  const sameFlags = existsSync(digestFile) && readFileSync(digestFile, 'utf8') === digest;
  const headers = readdirSync(here).filter((f) => f.endsWith('.h')).map((f) => mtime(join(here, f)));
  const newestHeader = Math.max(0, ...headers, mtime(join(here, 'binding.gyp')));
  const jobs = sources.map((src) => ({ src, obj: join(objDir, basename(src).replace(/\.cc$/, '.o')) }));
  const stale = jobs.filter(({ src, obj }) => !sameFlags || mtime(obj) < Math.max(mtime(src), newestHeader));
  const started = Date.now();
  // Every object compiles at once up to the core count: with a handful of files this is the whole build.
  const parallel = Math.max(1, Number(process.env.JOBS) || cpus().length);
  const queue = [...stale];
  const failed = [];
  // A failed file does not stop the others: the next build then recompiles only what failed.
  const workers = Array.from({ length: Math.min(parallel, queue.length) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      console.error(`[build] compiling ${basename(job.src)}`);
      try {
        await run([...cflags, '-c', job.src, '-o', `${job.obj}.tmp`]);
        renameSync(`${job.obj}.tmp`, job.obj);
      } catch {
        failed.push(basename(job.src));
      }
    }
  });
  await Promise.all(workers);
  if (failed.length > 0) throw new Error(`${failed.join(', ')} did not compile (errors above)`);
  writeFileSync(digestFile, digest);
  const addon = join(outDir, `${target.target_name}.node`);
  if (stale.length > 0 || !existsSync(addon)) {
    // Linked to a temporary name and renamed, so that a failed link never leaves a half-written addon.
    await run(['-shared', '-pthread', '-o', `${addon}.tmp`, ...jobs.map((j) => j.obj), ...libraries]);
    renameSync(`${addon}.tmp`, addon);
  }
  // Which libtorch this addon runs and the Python whose PyTorch matches it (parity tests, benchmark peers).
  const torch = {
    version: expand(['<!(node torch-paths.cjs version)'])[0], source, torchDir: process.env.TORCH_DIR || null,
    python: process.env.INKWELL_TORCH_PYTHON || null, pythonPath: process.env.INKWELL_TORCH_PYTHONPATH || null,
  };
  writeFileSync(join(buildDir, 'torch.json.tmp'), `${JSON.stringify(torch, null, 2)}\n`);
  renameSync(join(buildDir, 'torch.json.tmp'), join(buildDir, 'torch.json'));
  console.error(`[build] ${addon}: ${stale.length} of ${jobs.length} files compiled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((e) => {
  console.error(`[build] failed: ${e.message}`);
  process.exit(1);
});
