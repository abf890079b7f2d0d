#!/usr/bin/env bash
# The demo on the embedded defaults: `bash scripts/demo.sh` (the README's first command).
#
# Makes sure Docker runs and the demo's images exist (built locally from Debian's packages and
# busybox; nothing is pulled), builds the plugins, then runs `windlass demo`: the
# stack-web-postgres template plugin renders the web + api + PostgreSQL stack, the engine
# deploys it in dependency order on local Docker with its state in .windlass/windlass.db, and
# prints the URL of the page (which shows rows the api wrote to PostgreSQL). Arguments go to `windlass demo`
# (e.g. `--detach`, `--replicas 3`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-toolchain.sh
scripts/setup-docker.sh
scripts/build-test-images.sh busybox postgres demo-api demo-web
WINDLASS_PLUGINS_DIR=$(scripts/build-plugins.sh)
export WINDLASS_PLUGINS_DIR
exec cargo run --locked -p windlass-runner -- demo "$@"
