#!/usr/bin/env bash
# Builds the plugins written in other languages into OUT_DIR (the plugins' .wasm directory):
#
#   py_static_site.wasm  plugins/python/stack-static-site, with componentize-py (PyPI, pinned)
#   js_static_site.wasm  plugins/js/stack-static-site, with componentize-js (npm, pinned in
#                        plugins/js/package.json and package-lock.json)
#
# Usage: scripts/build-foreign-plugins.sh OUT_DIR. Idempotent and cached: each component is
# rebuilt only when the sha256 of its inputs (sources, wit/, the tool's version) changed, since
# a build takes 20-30 s of CPU. The tools live in $WINDLASS_TOOLS_DIR (default
# /var/cache/windlass/tools): a Python venv, and plugins/js/node_modules from `npm ci`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${1:?usage: build-foreign-plugins.sh OUT_DIR}
mkdir -p "$out"
COMPONENTIZE_PY=0.25.1
tools=${WINDLASS_TOOLS_DIR:-/var/cache/windlass/tools}
mkdir -p "$tools"

# inputs_hash FILE...: one sha256 over the files' contents and the given tool versions.
inputs_hash() {
    { cat "$@"; echo "$TOOL_VERSION"; } | sha256sum | awk '{print $1}'
}

# fresh WASM HASH: whether WASM was built from inputs with HASH.
fresh() {
    [ -f "$1" ] && [ -f "$1.inputs" ] && [ "$(cat "$1.inputs")" = "$2" ]
}

# --- Python: componentize-py ---------------------------------------------------------------
venv="$tools/componentize-py-$COMPONENTIZE_PY"
py_src=plugins/python/stack-static-site
TOOL_VERSION="componentize-py $COMPONENTIZE_PY"
# Built against windlass:plugin@0.2.0.
hash=$(inputs_hash "$py_src"/*.py wit/0.2.0/*.wit)
wasm="$out/py_static_site.wasm"
if fresh "$wasm" "$hash"; then
    log "py_static_site.wasm is up to date"
else
    if [ ! -x "$venv/bin/componentize-py" ]; then
        command -v python3 >/dev/null || die "python3 is needed to build the Python plugin"
        log "installing componentize-py $COMPONENTIZE_PY into $venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY" >&2 \
            || die "pip install componentize-py==$COMPONENTIZE_PY failed"
    fi
    log "building py_static_site.wasm (componentize-py $COMPONENTIZE_PY)"
    work=$(mktemp -d)
    (cd "$work" && "$venv/bin/componentize-py" -d "$OLDPWD/wit/0.2.0" -w stack-template componentize \
        -p "$OLDPWD/$py_src" app -o "$wasm.tmp") >&2
    rm -rf "$work"
    mv "$wasm.tmp" "$wasm"
    echo "$hash" >"$wasm.inputs"
fi

# --- JavaScript: componentize-js -----------------------------------------------------------
js=plugins/js
TOOL_VERSION="$(cat "$js/package-lock.json")"
# Built against windlass:plugin@0.1.0 on purpose: a foreign 0.1.0 component in the test set.
hash=$(inputs_hash "$js"/stack-static-site/*.js wit/0.1.0/*.wit)
wasm="$out/js_static_site.wasm"
if fresh "$wasm" "$hash"; then
    log "js_static_site.wasm is up to date"
else
    command -v npm >/dev/null || die "node and npm are needed to build the JavaScript plugin"
    if [ ! -x "$js/node_modules/.bin/componentize-js" ] \
        || ! cmp -s "$js/package-lock.json" "$js/node_modules/.package-lock.json.windlass"; then
        log "npm ci in $js (componentize-js, pinned by package-lock.json)"
        (cd "$js" && npm ci --no-audit --no-fund >&2) || die "npm ci in $js failed"
        cp "$js/package-lock.json" "$js/node_modules/.package-lock.json.windlass"
    fi
    log "building js_static_site.wasm (componentize-js)"
    # No HTTP: the template world does not import wasi:http, and the host would refuse it.
    "$js/node_modules/.bin/componentize-js" "$js/stack-static-site/app.js" --wit wit/0.1.0 \
        -n stack-template -d http fetch-event -o "$wasm.tmp" >&2
    mv "$wasm.tmp" "$wasm"
    echo "$hash" >"$wasm.inputs"
fi
