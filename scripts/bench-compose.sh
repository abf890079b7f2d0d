#!/usr/bin/env bash
# The docker-compose baseline of the stack-deploy benchmark: times a cold deploy of the demo
# stack (engine/benches/compose/demo.yml: db, api, web with health checks every second and
# `depends_on: condition: service_healthy`) with Debian's docker-compose (v1.29), from
# `docker-compose up -d` until all three containers report healthy, then tears it down with
# `down -v`. Cold: before each run the project's containers, network and volume are removed, so
# each run creates the network and the volume, and PostgreSQL initialises its data directory.
# The images are built (or found up to date) before timing.
#
# Compose v1 has no `up --wait`; this polls `docker inspect` every 0.1 s. (`up -d` itself blocks
# until db and api are healthy, since their dependents wait for them; web is polled after.)
#
# Usage: bench-compose.sh [RUNS]   (default 3)
# Prints one line per run on stdout: the seconds until all three were healthy, then when db,
# api and web each became healthy; the log goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

runs=${1:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive whole number, got '$runs'"
docker_ok || die "docker daemon not reachable; run scripts/setup-docker.sh first"
command -v docker-compose >/dev/null || apt_install docker-compose
command -v docker-compose >/dev/null || die "docker-compose not found after installing Debian's docker-compose"
scripts/build-test-images.sh postgres demo-api demo-web

file=engine/benches/compose/demo.yml
[ -f "$file" ] || die "missing $file"
project=windlassbench$$
services=(db api web)
up_log=$(mktemp)
compose() { docker-compose --no-ansi -p "$project" -f "$file" "$@"; }
teardown() { compose down -v -t 10 >/dev/null 2>&1 || true; }
on_exit() {
    teardown
    rm -f "$up_log"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

log "docker-compose $(docker-compose version --short), $file, project $project, $runs run(s)"
for run in $(seq 1 "$runs"); do
    teardown
    declare -A healthy=()
    t0=$(now)
    compose up -d >"$up_log" 2>&1 &
    up_pid=$!
    names=()
    for s in "${services[@]}"; do names+=("${project}_${s}_1"); done
    deadline=$((SECONDS + 180))
    while [ ${#healthy[@]} -lt ${#services[@]} ]; do
        # One call for all three; containers not created yet are reported on stderr.
        while read -r name status; do
            s=${name#/"${project}"_}
            s=${s%_1}
            [ "$status" = healthy ] && [ -z "${healthy[$s]:-}" ] && healthy[$s]=$(since "$t0")
            [ "$status" != unhealthy ] || die "run $run: $s became unhealthy; $(docker logs --tail 20 "$name" 2>&1)"
        done < <(docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "${names[@]}" 2>/dev/null || true)
        if [ "$SECONDS" -ge "$deadline" ]; then
            cat "$up_log" >&2
            die "run $run: not all healthy after 180 s (healthy: ${!healthy[*]})"
        fi
        [ ${#healthy[@]} -eq ${#services[@]} ] || sleep 0.1
    done
    total=$(since "$t0")
    wait "$up_pid" || { cat "$up_log" >&2; die "run $run: docker-compose up failed"; }
    printf 'run %s: all healthy after %s s (db %s s, api %s s, web %s s)\n' \
        "$run" "$total" "${healthy[db]}" "${healthy[api]}" "${healthy[web]}"
    unset healthy
done
teardown
