#!/usr/bin/env bash
# Builds the dashboard (frontend/) to dist/ with trunk in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "building the dashboard (trunk build --release; the first build also compiles std for wasm: ~5 min)"
# Its own target directory: the wasm build may use another rustc than the native one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/wasm"
with_wasm_env trunk build --release
ok "dashboard built into dist/"
