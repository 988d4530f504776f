#!/usr/bin/env bash
# `make bench`: build the lab in release mode, start it on free ports, load each service with
# wrk, and print a table of throughput and latency against each issue's target.
set -euo pipefail
cd "$(dirname "$0")/.."
# Set-up installs wrk; the dashboard is built so its transfer size can be measured.
scripts/setup.sh
scripts/build-frontend.sh
source scripts/lib.sh
step "building the backend (cargo build --release)"
cargo build --release -p backend
step "benchmarking (each run is bounded: ${BENCH_SECONDS:-10} s per row)"
exec python3 scripts/bench.py "${CARGO_TARGET_DIR:-target}/release/lab" "$@"
