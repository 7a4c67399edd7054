#!/usr/bin/env bash
# Idempotent set-up behind `npm run demo` and `npm test` on a fresh Debian 12 machine with Node 20:
# installs the Debian packages that are missing, points BLAS at OpenBLAS (OpenMP build), runs `npm ci`,
# builds the native addon and compiles the TypeScript. Each step is skipped when its result is current.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# Debian packages:
#  libtorch-dev          the engine (CPU libtorch 1.13) and its headers
#  libopenblas0-openmp   an OpenBLAS that shares torch's OpenMP pool (docs/engine.md)
#  libgloo-dev           Gloo headers for c10d process groups (scale-out)
#  python3-torch, python3-numpy, python3-pil, python3-zarr
#                        reference implementations and fixture writers for the parity tests
#  libtiff-tools         tiffcp: an independent writer of tiled, multi-strip and big-endian test TIFFs
#  chromium              headless browser for the report tests
PACKAGES=(libtorch-dev libopenblas0-openmp libgloo-dev python3-torch python3-numpy python3-pil python3-zarr libtiff-tools chromium)
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

# Native addon: rebuilt when any native source is newer than the binary (or TORCH_DIR changed).
addon=native/build/Release/inkwell.node
stamp=native/build/torch-dir.txt
if [[ ! -f "$addon" || -n "$(find native -maxdepth 1 -newer "$addon" \( -name '*.cc' -o -name '*.h' -o -name '*.gyp' -o -name '*.cjs' \) -print -quit)" \
      || "$(cat "$stamp" 2>/dev/null)" != "${TORCH_DIR:-debian}" ]]; then
  log "building the native addon against ${TORCH_DIR:-the Debian libtorch} (about a minute)"
  # Build against the local Node headers when the distribution ships them (docs/engine.md): no download.
  nodedir=()
  [[ -f /usr/include/node/node_api.h ]] && nodedir=(--nodedir=/usr)
  npx node-gyp rebuild --directory native -j "$(nproc)" "${nodedir[@]}" >&2
  echo "${TORCH_DIR:-debian}" >"$stamp"
fi

# TypeScript: incremental, so a no-change run costs about a second.
log "compiling TypeScript"
npx tsc -p tsconfig.json
