#!/usr/bin/env bash
# `make fuzz`: every fuzz target (backend/tests/fuzz/) for longer than `make test` gives them:
# FUZZ_SECONDS (default 60) or FUZZ_INPUTS (default 10,000,000) each, whichever comes first, one
# target after another. FUZZ_SEED replays a run's mutations; FUZZ_OUTCOMES=1 lists what each
# target reached. Extra arguments go to the test binary (e.g. `scripts/fuzz.sh shop` for one).
# Needs only cargo: no set-up step (the fuzz targets use neither the dashboard nor a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

export FUZZ_SECONDS=${FUZZ_SECONDS:-60}
export FUZZ_INPUTS=${FUZZ_INPUTS:-10000000}

step "fuzz: 4 targets, ${FUZZ_SECONDS} s or ${FUZZ_INPUTS} inputs each, one after another"
say "a failing input is printed and saved into backend/tests/fuzz_corpus/<target>/"
# The same features as `make test`'s build, so that this reuses it.
cargo test --workspace --features backend/e2e --test fuzz -- --test-threads=1 "$@"
ok "no fuzz target found a failure"
