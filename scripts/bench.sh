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
step "the checkers (release): a 10,000-operation max-register history from 8 processes and a 100,000-operation set history (targets: 1 s each)"
cargo test --release -p backend --lib -- --ignored --nocapture --test-threads 1 bench_ 2>&1 \
    | grep -E "^(check|bench|max-register|set)|ms|took" || true
step "benchmarking (each run is bounded: ${BENCH_SECONDS:-10} s per row)"
exec python3 scripts/bench.py "${CARGO_TARGET_DIR:-target}/release/lab" "$@"
