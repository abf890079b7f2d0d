#!/usr/bin/env bash
# Builds the plugin components (plugins/, target wasm32-wasip2) into $WINDLASS_PLUGINS_TARGET_DIR
# (default plugins/target) and prints the directory holding the .wasm files, which the engine's
# tests, the demo and examples/windlass.toml find them in (WINDLASS_PLUGINS_DIR).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-toolchain.sh
target=${WINDLASS_PLUGINS_TARGET_DIR:-$PWD/plugins/target}
log "building plugins into $target"
(cd plugins && CARGO_TARGET_DIR="$target" cargo build --release --locked >&2)
echo "$target/wasm32-wasip2/release"
