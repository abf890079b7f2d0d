#!/usr/bin/env bash
# Installs wasm-tools (the Bytecode Alliance's WebAssembly toolkit) from crates.io, pinned, with
# only the commands the build uses (parse, validate, print). Idempotent: does nothing when that
# version is already on PATH or in $CARGO_HOME/bin. Prints the binary's path.
#
# scripts/build-plugins.sh uses it to turn the hand-written WAT components of the sandbox tests
# (plugins/hostile/wat/*.wat) into .wasm files.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=1.262.0
bin="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-tools"
for candidate in "$(command -v wasm-tools || true)" "$bin"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] \
        && [ "$("$candidate" --version | awk '{print $2}')" = "$VERSION" ]; then
        echo "$candidate"
        exit 0
    fi
done
log "cargo install wasm-tools $VERSION (parse, validate, print)"
cargo install wasm-tools --version "=$VERSION" --locked --no-default-features \
    --features parse,validate,print >&2 || die "cargo install wasm-tools $VERSION failed"
echo "$bin"
