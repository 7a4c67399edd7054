// Builds native/ into <build dir>/Release/inkwell.node with g++ alone: no node-gyp and no Node headers download,
// so the same command works on a machine that has only a Node binary, g++ and a libtorch (a GPU box without
// network, see scripts/device-check.sh). binding.gyp stays the one description of the target: its sources,
// defines, include folders, flags and libraries are read from it, and its `<!(cmd)` / `<!@(cmd)` expansions are run
// as gyp runs them (in native/). Objects are rebuilt only when their source, a header or the flags changed.
//
// usage: node native/build.cjs [build dir]   (default: $INKWELL_BUILD_DIR or native/build)
// TORCH_DIR selects the libtorch (see torch-paths.cjs). Beside the addon goes torch.json: the libtorch's version,
// where it came from (INKWELL_TORCH_SOURCE) and the Python that runs the same PyTorch (INKWELL_TORCH_PYTHON[PATH]).
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

// A plain rebuild (`node native/build.cjs`, no TORCH_DIR) keeps the libtorch this build folder was last built
// against, as recorded in its torch.json by the bootstrap's build: falling back to Debian's 1.13 there would
// silently swap the engine under every later run. INKWELL_TORCH=debian still asks for Debian's.
{
  const last = join(buildDir, 'torch.json');
  if (!process.env.TORCH_DIR && process.env.INKWELL_TORCH !== 'debian' && existsSync(last)) {
    const prev = JSON.parse(readFileSync(last, 'utf8'));
    if (prev.torchDir) {
      process.env.TORCH_DIR = prev.torchDir;
      for (const [key, value] of [
        ['INKWELL_TORCH_SOURCE', prev.source],
        ['INKWELL_TORCH_PYTHON', prev.python],
        ['INKWELL_TORCH_PYTHONPATH', prev.pythonPath],
      ]) {
        if (value && !process.env[key]) process.env[key] = value;
      }
      console.error(`[build] rebuilding against the libtorch of the last build: ${prev.source} (${prev.torchDir})`);
    }
  }
}

// gyp's command expansions: `<!(cmd)` anywhere in a string is replaced by cmd's output; an item that is
// `<!@(cmd)` becomes cmd's words, as list items.
function run(cmd) {
  return execSync(cmd, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
function expandString(item) {
  const start = item.indexOf('<!(');
  if (start < 0) return item;
  let depth = 0;
  for (let i = start + 2; i < item.length; i++) {
    depth += item[i] === '(' ? 1 : item[i] === ')' ? -1 : 0;
    if (depth === 0) return item.slice(0, start) + run(item.slice(start + 3, i)) + expandString(item.slice(i + 1));
  }
  throw new Error(`binding.gyp: unbalanced parentheses in ${item}`);
}
function expand(items) {
  return items.flatMap((item) => {
    const list = /^<!@\((.*)\)$/.exec(item);
    return list ? run(list[1]).split(/\s+/).filter(Boolean) : [expandString(item)];
  });
}

const target = JSON.parse(readFileSync(join(here, 'binding.gyp'), 'utf8')).targets[0];
const sources = target.sources.map((s) => join(here, s));
const defines = expand(target.defines ?? []);
// gyp resolves relative include folders against the .gyp file's folder.
const includes = expand(target.include_dirs ?? []).map((dir) => resolve(here, dir));
const libraries = expand(target.libraries ?? []);
const source = process.env.INKWELL_TORCH_SOURCE ?? (process.env.TORCH_DIR ? `TORCH_DIR=${process.env.TORCH_DIR}` : 'Debian libtorch-dev');
const cflags = [
  '-fPIC', '-pthread', '-DBUILDING_NODE_EXTENSION', `-DNODE_GYP_MODULE_NAME=${target.target_name}`,
  ...expand(target.cflags_cc ?? []), ...defines.map((d) => `-D${d}`), ...includes.map((i) => `-I${i}`),
];
const cxx = process.env.CXX ?? 'g++';

function mtime(file) {
  return existsSync(file) ? statSync(file).mtimeMs : 0;
}

function compiler(args) {
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
  const digest = (flags) => createHash('sha256').update(JSON.stringify([cxx, flags])).digest('hex');
  const same = (file, flags) => existsSync(file) && readFileSync(file, 'utf8') === digest(flags);
  const digestFile = join(objDir, 'flags.sha256');
  const linkDigestFile = join(objDir, 'link.sha256');
  const sameFlags = same(digestFile, cflags);
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
        await compiler([...cflags, '-c', job.src, '-o', `${job.obj}.tmp`]);
        renameSync(`${job.obj}.tmp`, job.obj);
      } catch {
        failed.push(basename(job.src));
      }
    }
  });
  await Promise.all(workers);
  if (failed.length > 0) throw new Error(`${failed.join(', ')} did not compile (errors above)`);
  writeFileSync(digestFile, digest(cflags));
  const addon = join(outDir, `${target.target_name}.node`);
  if (stale.length > 0 || !existsSync(addon) || !same(linkDigestFile, libraries)) {
    // Linked to a temporary name and renamed, so that a failed link never leaves a half-written addon.
    await compiler(['-shared', '-pthread', '-o', `${addon}.tmp`, ...jobs.map((j) => j.obj), ...libraries]);
    renameSync(`${addon}.tmp`, addon);
    writeFileSync(linkDigestFile, digest(libraries));
  }
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
