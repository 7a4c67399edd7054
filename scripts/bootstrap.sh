#!/usr/bin/env bash
# Idempotent set-up behind `npm run demo` and `npm test` on a fresh Debian 12 machine with Node 20:
# installs the Debian packages that are missing, points BLAS at OpenBLAS (OpenMP build), runs `npm ci`, picks
# the libtorch (installing PyTorch into .torch/ when there is none), builds the native addon and compiles the
# TypeScript. Each step is skipped when its result is current. docs/gpu.md describes the choice of libtorch.
#
#   TORCH_DIR=<dir>        build against this libtorch (a libtorch root or a pip torch package folder)
#   INKWELL_TORCH=debian   build against Debian's libtorch 1.13 (libtorch-dev) instead of libtorch 2
#   INKWELL_BUILD_DIR=<d>  build the addon into <d> instead of native/build (CI builds both libtorches)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# Debian packages:
#  libtorch-dev          the fallback engine (CPU libtorch 1.13, INKWELL_TORCH=debian) and its headers
#  libopenblas0-openmp   an OpenBLAS that shares torch's OpenMP pool (docs/engine.md)
#  libgloo-dev           Gloo headers for c10d process groups (scale-out; pip wheels do not ship them)
#  python3-torch, python3-numpy, python3-pil, python3-zarr
#                        reference implementations and fixture writers for the parity tests (1.13 builds)
#  python3-pip           installs PyTorch into .torch/ (pip install --target: the system's packages stay as they are)
#  libtiff-tools         tiffcp: an independent writer of tiled, multi-strip and big-endian test TIFFs
#  chromium              headless browser for the report tests
PACKAGES=(libtorch-dev libopenblas0-openmp libgloo-dev python3-torch python3-numpy python3-pil python3-zarr python3-pip
  libtiff-tools chromium)
if [[ -n "${INKWELL_EXTRA_PACKAGES:-}" ]]; then read -r -a extra <<<"$INKWELL_EXTRA_PACKAGES"; PACKAGES+=("${extra[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then SUDO=(sudo); else
      log "missing Debian packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}"; exit 1
    fi
  fi
  log "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# libtorch-dev pulls the pthread OpenBLAS, which Debian ranks above the OpenMP one; the OpenMP build shares
# libtorch's thread pool (no oversubscription) and is ~35x faster than the reference BLAS on Linear layers.
arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  want="/usr/lib/$arch/openblas-openmp/$lib"
  name="$lib-$arch"
  [[ -e "$want" ]] || continue
  current=$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')
  if [[ "$current" != "$want" ]]; then
    log "pointing $lib at OpenBLAS (OpenMP)"
    if [[ $(id -u) -eq 0 ]]; then update-alternatives --set "$name" "$want" >&2; else sudo update-alternatives --set "$name" "$want" >&2; fi
  fi
done

# npm packages: `npm ci` when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
fi

# libtorch: TORCH_DIR, else INKWELL_TORCH=debian, else the torch >= 2 of the Python on PATH, else PyTorch
# $PINNED_TORCH from PyPI in .torch/py (with its CUDA wheels: ~5.4 GB, ~2 min at 60 MB/s). The parity tests then
# run that same PyTorch (the python and PYTHONPATH recorded in the build folder's torch.json).
PINNED_TORCH=2.15.0
export TORCH_DIR="${TORCH_DIR:-}" INKWELL_TORCH_PYTHON="${INKWELL_TORCH_PYTHON:-}" INKWELL_TORCH_PYTHONPATH=""
torch_of() { "$1" -c 'import os, torch; print(torch.__version__.split("+")[0], os.path.dirname(torch.__file__))' 2>/dev/null; }
if [[ -n "$TORCH_DIR" ]]; then
  export INKWELL_TORCH_SOURCE="TORCH_DIR=$TORCH_DIR"
elif [[ "${INKWELL_TORCH:-}" == debian ]]; then
  export INKWELL_TORCH_SOURCE="Debian libtorch-dev" INKWELL_TORCH_PYTHON="${INKWELL_TORCH_PYTHON:-/usr/bin/python3}"
elif read -r version dir < <(torch_of python3) && [[ "${version%%.*}" -ge 2 ]]; then
  python=$(python3 -c 'import sys; print(sys.executable)')
  export TORCH_DIR="$dir" INKWELL_TORCH_SOURCE="$python (torch $version)" INKWELL_TORCH_PYTHON="${INKWELL_TORCH_PYTHON:-$python}"
else
  # The installing Python is the one whose version the wheels fit, so it runs the parity fixtures too.
  python=python3
  python3 -m pip --version >/dev/null 2>&1 || python=/usr/bin/python3
  if [[ ! -f .torch/py/torch/lib/libtorch_cpu.so || "$(cat .torch/py/.pinned 2>/dev/null)" != "$PINNED_TORCH" ]]; then
    log "installing PyTorch $PINNED_TORCH from PyPI into .torch/py (once: ~5 GB with its CUDA libraries)"
    rm -rf .torch/py.tmp
    "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target .torch/py.tmp \
      "torch==$PINNED_TORCH" numpy pillow >&2
    rm -rf .torch/py && mv .torch/py.tmp .torch/py && echo "$PINNED_TORCH" >.torch/py/.pinned
  fi
  python=$("$python" -c 'import sys; print(sys.executable)')
  export TORCH_DIR="$PWD/.torch/py/torch" INKWELL_TORCH_SOURCE="PyPI torch $PINNED_TORCH in .torch/py"
  export INKWELL_TORCH_PYTHON="${INKWELL_TORCH_PYTHON:-$python}" INKWELL_TORCH_PYTHONPATH="$PWD/.torch/py"
fi

# Native addon: native/build.cjs recompiles what changed (sources, headers, or the libtorch: about a minute a file).
log "native addon against ${INKWELL_TORCH_SOURCE}"
node native/build.cjs

# TypeScript: incremental, so a no-change run costs about a second.
log "compiling TypeScript"
npx tsc -p tsconfig.json
