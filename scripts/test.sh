#!/usr/bin/env bash
# The test command: `bash scripts/test.sh` (the README's second command; .ci/run ends with it).
#
# Sets up what the tests use for real (idempotent and fast once done): a Docker engine, the
# locally built test images (busybox, and the demo stack's local/postgres:15,
# local/windlass-demo-api:1 and local/windlass-demo-web:1, which scripts/check-demo-stack.sh
# then runs together, and windlass-test/python:3 and windlass-test/node:18, the bases of the
# build tests' plans), the git servers the build tests start (scripts/setup-git-servers.sh),
# a PostgreSQL server. Then builds the plugin components,
# runs the plugins' unit tests natively, and runs every test of the root workspace against real
# plugins, real Docker, a real SQLite file and a real PostgreSQL server. Extra arguments go to the root
# workspace's `cargo test` (e.g. `scripts/test.sh -p windlass-host-api`), which runs every test
# binary even after one fails (`--no-fail-fast`), so one run names every failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup-toolchain.sh
scripts/setup-docker.sh
scripts/setup-git-servers.sh
scripts/build-test-images.sh busybox postgres demo-api demo-web python node nix
echo "=== demo stack images, together (plain docker run)"
scripts/check-demo-stack.sh
# The Docker Swarm the swarm tests run on (docs/swarm.md): four dockerd in network namespaces on
# one bridge, three forming the swarm and one in none. Brought up here unless it already is (then
# left as found); taken down when this script started it.
if scripts/swarm-harness.sh status; then
    echo "=== swarm harness: already up"
    scripts/swarm-harness.sh up windlass-test/busybox:1
else
    echo "=== swarm harness: up"
    scripts/swarm-harness.sh up windlass-test/busybox:1
    [ "${WINDLASS_SWARM_KEEP:-0}" = 1 ] || trap 'scripts/swarm-harness.sh down' EXIT
fi
set -a
# shellcheck disable=SC1091 # written by swarm-harness.sh up
. /run/windlass-swarm/env
set +a
# The outside checks of the API tests (an OpenAPI validator, schemathesis, promtool).
eval "$(scripts/setup-api-checks.sh)"
if [ -z "${WINDLASS_TEST_POSTGRES_URL:-}" ]; then
    WINDLASS_TEST_POSTGRES_URL=$(scripts/setup-postgres.sh)
    export WINDLASS_TEST_POSTGRES_URL
fi

# The plugins build into their own target directory (they target wasm32-wasip2), which the
# host tests find through WINDLASS_PLUGINS_DIR.
plugins_target=${WINDLASS_PLUGINS_TARGET_DIR:-$PWD/plugins/target}
echo "=== building plugins"
WINDLASS_PLUGINS_DIR=$(WINDLASS_PLUGINS_TARGET_DIR="$plugins_target" scripts/build-plugins.sh --with-test-components)
export WINDLASS_PLUGINS_DIR

host_triple=$(rustc -vV | sed -n 's/^host: //p')
echo "=== plugins: unit tests ($host_triple)"
(cd plugins && CARGO_TARGET_DIR="$plugins_target" cargo test --locked --target "$host_triple")

echo "=== root workspace: tests"
cargo test --workspace --locked --no-fail-fast "$@"
