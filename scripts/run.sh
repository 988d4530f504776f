#!/usr/bin/env bash
# `make run`: set up (when needed), build the dashboard and the backend in release mode, and start
# the whole lab. Ctrl-C stops every service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-frontend.sh
source scripts/lib.sh
step "building the backend (cargo build --release)"
cargo build --release -p backend
step "starting the lab (Ctrl-C stops every service)"
exec "${CARGO_TARGET_DIR:-target}/release/lab" up "$@"
