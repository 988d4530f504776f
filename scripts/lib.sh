# Shared by the lab's scripts: progress output, and the environment for building the wasm app.

# Tools the set-up installs outside cargo (wasm-opt from npm), kept outside the clone so a fresh
# clone on the same machine reuses them.
LAB_TOOLS=${LAB_TOOLS:-$HOME/.cache/distlab/tools}
export PATH="$HOME/.cargo/bin:$LAB_TOOLS/node_modules/.bin:$PATH"
# The interpreter with python-socketio, for the Socket.IO compatibility test.
export LAB_PYTHON="$LAB_TOOLS/venv/bin/python"

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
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

# Run a command with the wasm toolchain's environment.
with_wasm_env() {
  if [ "$(wasm_mode)" = build-std ]; then
    RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort "$@"
  else
    "$@"
  fi
}
