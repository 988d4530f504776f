# Shared by the lab's scripts: progress output, and the environment for building the wasm app.

# Tools the set-up installs outside cargo (wasm-opt and axe-core from npm), kept outside the clone so a fresh
# clone on the same machine reuses them.
LAB_TOOLS=${LAB_TOOLS:-$HOME/.cache/distlab/tools}
export PATH="$HOME/.cargo/bin:$LAB_TOOLS/node_modules/.bin:$PATH"
# The interpreter with python-socketio, for the Socket.IO compatibility test.
export LAB_PYTHON="$LAB_TOOLS/venv/bin/python"

# The versions set-up installs and the self-check insists on.
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
# axe-core: the accessibility engine the browser tests run in every page.
AXE_VERSION=4.14.1
export LAB_AXE="$LAB_TOOLS/node_modules/axe-core/axe.min.js"
PYTHON_SOCKETIO_VERSION=5.18.1
SCHEMATHESIS_VERSION=4.32.5
PYTHON_CHECK="import socketio, websocket, requests, schemathesis, importlib.metadata as m; assert m.version('python-socketio') == '$PYTHON_SOCKETIO_VERSION'; assert m.version('schemathesis') == '$SCHEMATHESIS_VERSION'"
# schemathesis's command, for the OpenAPI conformance test.
export LAB_SCHEMATHESIS="$LAB_TOOLS/venv/bin/st"

# The version of axe-core in $LAB_TOOLS (nothing when it is not there).
axe_version() {
  sed -n 's/^  "version": "\(.*\)",$/\1/p' "$LAB_TOOLS/node_modules/axe-core/package.json" 2>/dev/null | head -1
}

# The wasm-bindgen CLI must be exactly the crate's version in Cargo.lock.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# Each step says when it starts and how long the one before it took; `phases` sums them up.
LAB_PHASES=${LAB_PHASES:-}
step() {
    phase_done
    LAB_PHASE_NAME="$*" LAB_PHASE_START=$(date +%s)
    printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"
}
phase_done() {
    if [ -n "${LAB_PHASE_NAME:-}" ]; then
        local took=$(($(date +%s) - LAB_PHASE_START))
        printf '    (%d s)\n' "$took"
        LAB_PHASES+="$(printf '%6d s  %s' "$took" "$LAB_PHASE_NAME")"$'\n'
        LAB_PHASE_NAME=""
    fi
}
phases() {
    phase_done
    printf '\n==> time per phase\n%s' "$LAB_PHASES"
}
say() { printf '    %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# "rustup" when rustup's prebuilt wasm32 std is installed, else "build-std" (Debian's rustc-web
# compiles std for wasm itself; see ../shared/TOOLCHAIN.md).
wasm_mode() {
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo rustup
  else
    echo build-std
  fi
}

# Every Debian package set-up installs, one per line: the only list. scripts/check-tools.sh fails
# when a tool the lab uses comes from a package that is not on it.
debian_packages() {
  if [ "$(wasm_mode)" = build-std ]; then
    # rustc and cargo 1.96 with std's source, rust-lld (rust-web-llvm: only a *recommend* of
    # rustc-web, so --no-install-recommends leaves it out unless named) and the lld it links to.
    printf '%s\n' rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  fi
  # Browser tests, precompressed dashboard files, load for `make bench`.
  printf '%s\n' chromium chromium-driver brotli wrk
}

# Run a command with the wasm toolchain's environment.
with_wasm_env() {
  if [ "$(wasm_mode)" = build-std ]; then
    RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort "$@"
  else
    "$@"
  fi
}
