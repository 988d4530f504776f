#!/usr/bin/env bash
# `make test`: set up (when needed) and run every test: formatting, clippy, the dashboard's
# release build, unit and integration tests, and the real-browser end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/lib.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (warnings are errors)"
cargo clippy --workspace --all-targets --features backend/e2e -- -D warnings

scripts/build-frontend.sh

step "tests: unit, integration, and real-browser (headless Chromium through chromedriver)"
cargo test --workspace --features backend/e2e
