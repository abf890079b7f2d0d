#!/usr/bin/env bash
# Installs the outside checks the API tests run against a real runner (idempotent; fast once
# done) and prints, on stdout, the variables the tests find them through:
#
#   WINDLASS_OPENAPI_VALIDATOR  openapi-spec-validator (PyPI, pinned): /openapi.json is OpenAPI 3.1
#   WINDLASS_SCHEMATHESIS       schemathesis (PyPI, pinned): the API against its own document
#   WINDLASS_PROMTOOL           promtool (Debian package `prometheus`): `check metrics` on /metrics
#
# Callers: `eval "$(scripts/setup-api-checks.sh)"` (.ci/run and scripts/test.sh do). The Python
# tools live in a virtualenv outside the repository, ${WINDLASS_API_CHECKS_VENV:-~/.cache/windlass/api-checks}.
# The tests fail, naming the variable, when a tool is missing: they never skip.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCHEMATHESIS_VERSION=4.32.5
OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0

venv=${WINDLASS_API_CHECKS_VENV:-$HOME/.cache/windlass/api-checks}
stamp="$venv/.windlass-pins"
pins="schemathesis==$SCHEMATHESIS_VERSION openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" != "$pins" ]; then
    command -v python3 >/dev/null || die "python3 not found: the API checks need Python 3.9 or later"
    log "installing $pins into $venv"
    python3 -m venv "$venv" >&2
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $pins >&2
    echo "$pins" >"$stamp"
fi

if ! command -v promtool >/dev/null; then
    require_root
    log "installing promtool (Debian package prometheus)"
    DEBIAN_FRONTEND=noninteractive apt_install prometheus
fi
promtool=$(command -v promtool) || die "promtool still not found after installing prometheus"

echo "export WINDLASS_OPENAPI_VALIDATOR=$venv/bin/openapi-spec-validator"
echo "export WINDLASS_SCHEMATHESIS=$venv/bin/schemathesis"
echo "export WINDLASS_PROMTOOL=$promtool"
