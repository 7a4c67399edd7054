#!/usr/bin/env bash
# The GPU check in one command, on a machine with Python + CUDA PyTorch, nvcc and g++ but no Node and no network
# (docs/gpu.md). Needs device-pack/ from scripts/device-pack.sh beside the repository's files. It
#   1. unpacks Node, builds the addon against that machine's PyTorch (native/build-device),
#   2. prints `inkwell doctor --json`,
#   3. runs the CUDA test subset (test files named for cuda, devices, autocast or the grad scaler, plus the schema,
#      doctor and Gloo tests; those files run their CUDA cases where a GPU is seen),
#   4. runs `inkwell bench models` and `bench pretrain` with --device cuda --json, beside PyTorch on the same GPU,
# and writes every log and JSON into $OUT (or ./device-out). Each step has a time limit, so the whole stays under
# 8 minutes; a failed step is recorded in summary.txt and the next one still runs.
#
#   DEVICE=cpu        run the same steps on the CPU (checks this script where no GPU is at hand)
#   PYTHON=<python>   the Python whose torch to build against (default: python3)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${OUT:-device-out}")
pack=${DEVICE_PACK:-device-pack}
device=${DEVICE:-cuda}
python=${PYTHON:-python3}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
log() { printf '[device-check] %s\n' "$*" | tee -a "$summary" >&2; }

# step NAME LIMIT_S LOGFILE CMD...: runs CMD with a time limit, output to $out/LOGFILE, result to summary.txt.
step() {
  local name=$1 limit=$2 file=$3 start=$SECONDS
  shift 3
  timeout --kill-after=10 "$limit" "$@" >"$out/$file" 2>&1
  local rc=$?
  log "$name: $([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - start)) s -> $file"
  return $rc
}

# 1. Node and the packages: Node from the pack, node_modules linked, dist/ copied (its place fixes the repo root).
[[ -f "$pack/node.xz" ]] || { log "no $pack/node.xz: run scripts/device-pack.sh first (on a machine with Node and npm)"; exit 2; }
bin=$(mktemp -d)
if command -v xz >/dev/null; then xz -dc "$pack/node.xz" >"$bin/node"
else "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$pack/node.xz" "$bin/node"; fi
chmod +x "$bin/node"
export PATH="$bin:$PATH"
[[ -e node_modules ]] || ln -s "$root/$pack/node_modules" node_modules
[[ -d dist ]] || cp -r "$pack/dist" dist
log "node $(node --version), python $("$python" --version 2>&1), device $device"

# 2. The addon against this machine's PyTorch; the parity tests and bench peers use the same Python.
read -r version torch_dir < <("$python" -c 'import os, torch; print(torch.__version__, os.path.dirname(torch.__file__))') \
  || { log "$python cannot import torch"; exit 2; }
export TORCH_DIR=$torch_dir INKWELL_TORCH_SOURCE="$python (torch $version)" INKWELL_TORCH_PYTHON=$python
export INKWELL_BUILD_DIR=native/build-device
[[ $device == cuda ]] && export INKWELL_CUDA=1
JOBS=$(nproc) step "build against torch $version" 300 build.log node native/build.cjs || exit 1
step "doctor" 60 doctor.json node bin/inkwell doctor --json
cat "$out/doctor.json" >&2

# 3. Tests: the files about devices (they run their CUDA cases where a GPU is seen), and the build-level checks.
mapfile -t cuda_tests < <(cd dist && find test -name '*.test.js' | grep -iE 'cuda|device|autocast|amp|scaler' | sort)
step "tests (${#cuda_tests[@]} device files + schemas, doctor, gloo)" 180 tests.log \
  node scripts/run-tests.mjs "${cuda_tests[@]}" op-schemas doctor distributed-gloo

# 4. Benchmarks beside PyTorch on the same device.
step "bench models --device $device" 120 bench-models.json node bin/inkwell bench models --device "$device" --json
step "bench pretrain --device $device" 120 bench-pretrain.json node bin/inkwell bench pretrain --device "$device" --json
log "logs in $out"
