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
out="$target/wasm32-wasip2/release"

# The test-only components (`--with-test-components`, given by scripts/test.sh and .ci/run; the
# demo needs none of them and so no PyPI or npm): the hand-written WAT components of the sandbox
# tests (several modules, several memories, tables). tools/wat2wasm (the `wat` and `wasmparser`
# crates, a workspace of its own that builds in seconds) turns each into a validated .wasm beside
# the others, named as cargo names them (dashes become underscores), rebuilt only when the .wat
# is newer.
if [ "${1:-}" != --with-test-components ]; then
    echo "$out"
    exit 0
fi
log "building tools/wat2wasm"
(cd tools/wat2wasm && CARGO_TARGET_DIR="$target/tools" cargo build --release --locked -q >&2)
wat2wasm="$target/tools/release/wat2wasm"
for wat in plugins/hostile/wat/*.wat; do
    name=$(basename "$wat" .wat)
    wasm="$out/${name//-/_}.wasm"
    if [ ! -f "$wasm" ] || [ "$wat" -nt "$wasm" ]; then
        "$wat2wasm" "$wat" "$wasm"
    fi
done

# Plugins in Python and JavaScript (componentize-py, componentize-js), cached by input hash.
scripts/build-foreign-plugins.sh "$out"
echo "$out"
