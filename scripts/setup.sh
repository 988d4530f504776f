#!/usr/bin/env bash
# Brings a machine of this kind (Debian 12, rustup's Rust, Node 20) to where `make run` and
# `make test` work: the wasm toolchain, trunk, the wasm-bindgen CLI, wasm-opt, Chromium and
# chromedriver. Follows ../shared/TOOLCHAIN.md. Idempotent: every step whose result is already
# there is skipped, so after the first run (~15-20 minutes) it takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$WASM_BINDGEN_VERSION" ] || die "no wasm-bindgen in Cargo.lock"

apt_missing=()
need_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$1"); }

step "1/6 wasm standard library"
if [ "$(wasm_mode)" = rustup ]; then
  ok "rustup's wasm32-unknown-unknown target is installed: using it"
else
  say "no prebuilt wasm32 std: using Debian's rustc-web with -Zbuild-std (TOOLCHAIN.md step 1)"
  for deb in rustc-web cargo-web rust-web-src lld-22; do need_deb "$deb"; done
fi

step "2/6 Chromium and chromedriver (browser tests)"
for deb in chromium chromium-driver; do need_deb "$deb"; done
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
else
  ok "Debian packages present"
fi
if [ "$(wasm_mode)" = build-std ]; then
  if rustup toolchain list | grep -q '^debian-web'; then
    ok "rustup toolchain debian-web linked"
  else
    say "linking Debian's rustc as the rustup toolchain debian-web"
    rustup toolchain link debian-web /usr
  fi
fi

step "3/6 trunk $TRUNK_VERSION"
if trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  ok "trunk $TRUNK_VERSION"
else
  say "cargo install trunk $TRUNK_VERSION (the longest step: ~10 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

step "4/6 wasm-bindgen CLI $WASM_BINDGEN_VERSION (the version in Cargo.lock)"
if wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  ok "wasm-bindgen $WASM_BINDGEN_VERSION"
else
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (~4 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked
fi

step "5/6 wasm-opt (npm binaryen@$BINARYEN_VERSION) into $LAB_TOOLS"
if "$LAB_TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  ok "wasm-opt $BINARYEN_VERSION"
else
  command -v npm >/dev/null || die "npm is needed for binaryen (Node 20 comes with this machine kind)"
  mkdir -p "$LAB_TOOLS"
  npm install --prefix "$LAB_TOOLS" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
fi

step "6/6 python-socketio (the official Socket.IO client, for the compatibility test) in $LAB_TOOLS/venv"
if "$LAB_TOOLS/venv/bin/python" -c "import socketio, websocket, requests" 2>/dev/null; then
  ok "python-socketio"
else
  command -v python3 >/dev/null || die "python3 is needed for the Socket.IO compatibility test"
  python3 -m venv "$LAB_TOOLS/venv"
  "$LAB_TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "python-socketio[client]==5.18.1"
fi

step "set-up complete"
