#!/usr/bin/env bash
# `make test`: set up (when needed) and run every test: formatting, clippy, the dashboard's
# release build, unit and integration tests, the real-browser end-to-end tests, and a short run
# of the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
step "set-up (scripts/setup.sh: installs what is missing)"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --features backend/e2e -- -D warnings

step "the dashboard's release build (scripts/build-frontend.sh)"
scripts/build-frontend.sh

step "tests: unit, integration, and real-browser (headless Chromium through chromedriver)"
# The fuzz targets run in a step of their own, below.
cargo test --workspace --features backend/e2e -- --skip fuzz_

# A short run of every fuzz target (`make fuzz` runs them longer); each prints one line.
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}
step "fuzz: 4 targets, ${FUZZ_SECONDS} s or ${FUZZ_INPUTS:-200000} inputs each (longer: make fuzz)"
cargo test --workspace --features backend/e2e --test fuzz

phases
