#!/usr/bin/env bash
# The set-up's self-check (the last step of scripts/setup.sh; also runs alone): is every tool
# that `make run`, `make test` and `make bench` call present, at the version they need, and does
# it come from a step of scripts/setup.sh?
#
# For a tool from Debian, `dpkg -S` names the package that owns the file the build would run, and
# that package must be on set-up's list (debian_packages in scripts/lib.sh). A tool that is on
# this machine only because its package was installed by hand once fails here, as it would fail
# on a fresh machine. Exits 1 after listing every problem, each naming the tool and its package.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

problems=()
fail() { problems+=("$*"); printf '    MISSING %s\n' "$*"; }
pass() { printf '    ok  %-14s %s\n' "$1" "$2"; }

# (Not `debian_packages | grep -q`: with pipefail, grep's early exit fails the pipe.)
installed_by_setup() { [[ $'\n'$(debian_packages)$'\n' == *$'\n'"$1"$'\n'* ]]; }

# deb TOOL PATH-OR-COMMAND PACKAGE WHAT-FOR: the file must exist, belong to PACKAGE, and PACKAGE
# must be one set-up installs.
deb() {
  local tool=$1 where=$2 package=$3 why=$4 path owner
  if [[ $where == /* ]]; then path=$where; else path=$(command -v "$where" || true); fi
  if ! installed_by_setup "$package"; then
    fail "$tool ($why): it comes from the Debian package $package, which scripts/setup.sh does not install (add $package to debian_packages in scripts/lib.sh)"
    return
  fi
  if [ -z "$path" ] || [ ! -e "$path" ]; then
    fail "$tool ($why): ${path:-$where} not found; it comes from the Debian package $package (run scripts/setup.sh)"
    return
  fi
  owner=$(dpkg-query -S "$path" 2>/dev/null | awk -F': ' -v p="$path" '$2 == p { print $1; exit }' || true)
  if [ "$owner" != "$package" ]; then
    fail "$tool ($why): $path belongs to ${owner:-no Debian package}, not $package, the package set-up installs for it"
    return
  fi
  pass "$tool" "$path ($package $(dpkg-query -W -f='${Version}' "$package"))"
}

# versioned TOOL COMMAND WANT HOW: COMMAND's output must contain WANT.
versioned() {
  local tool=$1 command=$2 want=$3 how=$4 got
  got=$(bash -c "$command" 2>&1 | head -1 || true)
  if [[ $got == *"$want"* ]]; then
    pass "$tool" "$got"
  else
    fail "$tool: wanted $want, got '${got:-nothing}' ($how; run scripts/setup.sh)"
  fi
}

step "the wasm toolchain ($(wasm_mode))"
if [ "$(wasm_mode)" = build-std ]; then
  deb rustc /usr/bin/rustc rustc-web "Debian's rustc, building std for wasm"
  deb cargo /usr/bin/cargo cargo-web "Debian's cargo, for -Zbuild-std"
  deb std-source /usr/lib/rustlib/src/rust rust-web-src "std's source, built for wasm"
  deb rust-lld rust-lld rust-web-llvm "the wasm linker rustc calls"
  deb lld-22 /usr/bin/lld-22 lld-22 "what rust-lld links to"
  versioned debian-web "rustup run debian-web rustc --version" "rustc 1.9" "rustup toolchain link debian-web /usr"
else
  sysroot=$(rustc --print sysroot)
  if [ -x "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld" ]; then
    pass rust-lld "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld (rustup)"
  else
    fail "rust-lld: not in rustup's toolchain $sysroot (rustup component add rust-std --target wasm32-unknown-unknown)"
  fi
fi
versioned trunk "trunk --version" "trunk $TRUNK_VERSION" "cargo install trunk --version $TRUNK_VERSION --locked"
versioned wasm-bindgen "wasm-bindgen --version" "wasm-bindgen $(wasm_bindgen_version)" "cargo install wasm-bindgen-cli --version $(wasm_bindgen_version) --locked"
versioned wasm-opt "$LAB_TOOLS/node_modules/.bin/wasm-opt --version" "version $BINARYEN_VERSION" "npm binaryen@$BINARYEN_VERSION into $LAB_TOOLS"
versioned axe-core "source scripts/lib.sh; [ -s \"\$LAB_AXE\" ] && echo axe-core \$(axe_version)" "axe-core $AXE_VERSION" "npm axe-core@$AXE_VERSION into $LAB_TOOLS"
deb brotli brotli brotli "precompresses the dashboard at build time"

step "tests"
deb chromium /usr/bin/chromium chromium "the real browser of the browser tests"
deb chromedriver /usr/bin/chromedriver chromium-driver "drives it"
versioned python-socketio "$LAB_PYTHON -c \"$PYTHON_CHECK\" && echo python-socketio $PYTHON_SOCKETIO_VERSION" "python-socketio $PYTHON_SOCKETIO_VERSION" "pip install into $LAB_TOOLS/venv"
versioned schemathesis "$LAB_SCHEMATHESIS --version" "$SCHEMATHESIS_VERSION" "pip install into $LAB_TOOLS/venv"

step "benchmark"
deb wrk wrk wrk "load generator of make bench"

if [ ${#problems[@]} -gt 0 ]; then
  printf '\nerror: the set-up is incomplete (%d problem(s)):\n' "${#problems[@]}" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
ok "every tool is there and comes from a step of scripts/setup.sh"
