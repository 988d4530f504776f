#!/usr/bin/env bash
# Brings a machine of this kind (Debian 12, rustup's Rust, Node 20) to where `make run`,
# `make test` and `make bench` work: the wasm toolchain, trunk, the wasm-bindgen CLI, wasm-opt,
# brotli, Chromium and chromedriver, wrk, and the Python Socket.IO client. Follows
# ../shared/TOOLCHAIN.md. Idempotent: every step whose result is already there is skipped, so
# after the first run (~15-20 minutes) it takes a few seconds.
#
# It ends with a self-check (scripts/check-tools.sh) that every tool the build, the tests and the
# benchmark call is there, at the version they need, and, for tools from Debian, that the
# package owning it is one this script installs: a tool that is present only because someone
# installed its package by hand fails the check, so a fresh machine cannot be missing it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

WASM_BINDGEN_VERSION=$(wasm_bindgen_version)
[ -n "$WASM_BINDGEN_VERSION" ] || die "no wasm-bindgen in Cargo.lock"

step "1/7 Debian packages"
if [ "$(wasm_mode)" = rustup ]; then
  ok "rustup's wasm32-unknown-unknown target is installed: using it (no Debian rustc needed)"
else
  say "no prebuilt wasm32 std: using Debian's rustc-web with -Zbuild-std (TOOLCHAIN.md step 1)"
fi
apt_missing=()
for deb in $(debian_packages); do
  dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$deb")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing: ${apt_missing[*]}"
  as_root apt-get update -q
  # No recommends: every package the lab needs is named in scripts/lib.sh (debian_packages),
  # including rust-web-llvm, which is only a recommend of rustc-web.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${apt_missing[@]}"
else
  ok "present: $(debian_packages | tr '\n' ' ')"
fi

step "2/7 the wasm toolchain"
if [ "$(wasm_mode)" = build-std ]; then
  if rustup toolchain list | grep -q '^debian-web'; then
    ok "rustup toolchain debian-web linked"
  else
    say "linking Debian's rustc as the rustup toolchain debian-web"
    rustup toolchain link debian-web /usr
  fi
else
  ok "rustup's own"
fi

step "3/7 trunk $TRUNK_VERSION"
if trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  ok "trunk $TRUNK_VERSION"
else
  say "cargo install trunk $TRUNK_VERSION (the longest step: ~10 minutes on 2 cores)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

step "4/7 wasm-bindgen CLI $WASM_BINDGEN_VERSION (the version in Cargo.lock)"
if wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  ok "wasm-bindgen $WASM_BINDGEN_VERSION"
else
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (~4 minutes)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked
fi

step "5/7 from npm into $LAB_TOOLS: wasm-opt (binaryen@$BINARYEN_VERSION), axe-core@$AXE_VERSION (the browser tests' accessibility checks)"
wanted=()
if "$LAB_TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  ok "wasm-opt $BINARYEN_VERSION"
else
  wanted+=("binaryen@$BINARYEN_VERSION")
fi
if [ "$(axe_version)" = "$AXE_VERSION" ] && [ -s "$LAB_AXE" ]; then
  ok "axe-core $AXE_VERSION"
else
  wanted+=("axe-core@$AXE_VERSION")
fi
if [ ${#wanted[@]} -gt 0 ]; then
  command -v npm >/dev/null || die "npm is needed for ${wanted[*]} (Node 20 comes with this machine kind)"
  mkdir -p "$LAB_TOOLS"
  say "npm install ${wanted[*]}"
  npm install --prefix "$LAB_TOOLS" --no-audit --no-fund --loglevel=error "${wanted[@]}"
fi

step "6/7 Python tools in $LAB_TOOLS/venv: python-socketio $PYTHON_SOCKETIO_VERSION, schemathesis $SCHEMATHESIS_VERSION"
if "$LAB_PYTHON" -c "$PYTHON_CHECK" 2>/dev/null; then
  ok "python-socketio $PYTHON_SOCKETIO_VERSION, schemathesis $SCHEMATHESIS_VERSION"
else
  command -v python3 >/dev/null || die "python3 is needed for the Socket.IO and OpenAPI tests"
  [ -x "$LAB_PYTHON" ] || python3 -m venv "$LAB_TOOLS/venv"
  say "pip install (PyPI): python-socketio[client]==$PYTHON_SOCKETIO_VERSION schemathesis==$SCHEMATHESIS_VERSION"
  "$LAB_TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
    "python-socketio[client]==$PYTHON_SOCKETIO_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
fi

step "7/7 self-check: every tool the lab calls, and where it comes from"
scripts/check-tools.sh

step "set-up complete"
