#!/usr/bin/env bash
# Builds the dashboard (frontend/) to dist/ with trunk in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "building the dashboard (trunk build --release; the first build also compiles std for wasm: ~5 min)"
# Its own target directory: the wasm build may use another rustc than the native one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/wasm"
# Trunk.toml's `offline = true` (never download tools) also makes cargo offline: fetch the
# crates first, including std's own for -Zbuild-std.
with_wasm_env cargo fetch --target wasm32-unknown-unknown --quiet
with_wasm_env trunk build --release
# The run debugger: a bundle of its own, loaded only when a run is opened (/debugger/?run=<id>),
# so the dashboard's first load does not carry it. Built after the dashboard, whose build
# replaces dist/ whole.
step "building the run debugger's bundle (trunk build frontend/debugger.html --release)"
with_wasm_env trunk build frontend/debugger.html --release --dist dist/debugger --public-url /debugger/
# The Workshop page (/workshop/): a bundle of its own too, for the same reason.
step "building the Workshop page's bundle (trunk build frontend/workshop.html --release)"
with_wasm_env trunk build frontend/workshop.html --release --dist dist/workshop --public-url /workshop/

# The control plane sends these to browsers that accept br or gzip (tower-http's precompressed
# ServeDir): compressed once here, at the highest levels, instead of on every request.
shopt -s nullglob
built=(dist/*.{wasm,js,css,html} dist/{debugger,workshop}/*.{wasm,js,css,html})
for file in "${built[@]}"; do
  brotli --force --keep --quality=11 "$file"
  gzip --force --keep -9 "$file"
done
ok "dashboard built into dist/ (bytes: file / brotli):"
for file in "${built[@]}"; do
  say "$(printf '%-40s %8d / %8d' "${file#dist/}" "$(stat -c %s "$file")" "$(stat -c %s "$file.br")")"
done
