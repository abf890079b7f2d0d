#!/usr/bin/env bash
# Runs the demo stack's three images together with plain `docker run`, configured as the
# stack-web-postgres plugin renders them, and checks that they work together:
#
#   db   local/postgres:15           POSTGRES_USER/PASSWORD/DB, volume at /var/lib/postgresql/data
#   api  local/windlass-demo-api:1   DATABASE_URL as the db's `provides` (password percent-encoded)
#   web  local/windlass-demo-web:1   API_URL=http://api:8080, port 80 published on 127.0.0.1
#
# on a user network where they find each other by name. Checks: visits posted through the web
# page are written by the api into PostgreSQL and listed on the page; the rows survive removing
# the db container (killed, then stopped cleanly) and recreating it on the same volume; each
# container stops on `docker stop` within 3 s with status 0. Everything it creates is named
# windlass-demo-check-<pid>-* and removed on exit.
#
# Usage: check-demo-stack.sh   (builds the images first if missing or stale)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

docker_ok || die "docker daemon not reachable; run scripts/setup-docker.sh first"
command -v curl >/dev/null || apt_install curl
scripts/build-test-images.sh busybox postgres demo-api demo-web

prefix=windlass-demo-check-$$
net=$prefix
vol=$prefix-pgdata
# The password the plugin's own tests use: URL and interpolation metacharacters. The engine
# turns the plugin's `$$` back into `$` before the container sees it.
# shellcheck disable=SC2016 # a literal $
password='p@ss:w/rd$1'
database_url='postgres://app:p%40ss%3Aw%2Frd%241@db:5432/app'

cleanup() {
    local c
    for c in web api db probe; do docker rm -f "$prefix-$c" >/dev/null 2>&1 || true; done
    docker volume rm -f "$vol" >/dev/null 2>&1 || true
    docker network rm "$net" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run() { # NAME [docker run options...] IMAGE [ARGS...]
    local name=$1
    shift
    docker run -d --name "$prefix-$name" --network "$net" --network-alias "$name" "$@" >/dev/null
}
run_db() {
    run db -e POSTGRES_USER=app -e POSTGRES_PASSWORD="$password" -e POSTGRES_DB=app \
        -v "$vol:/var/lib/postgresql/data" local/postgres:15
}
# The api from a busybox container on the network (it is not published; this busybox's wget
# crashes on its own -T, hence timeout).
http() { docker exec "$prefix-probe" timeout 5 wget -q -O - "$@" 2>&1; }
# The web frontend from this host, at its published port. (Not busybox wget: it answers the
# page's 303 after a POST by POSTing again, and again.)
web_url=""
web() { curl -sS --max-time 5 --fail "$web_url"; }
post_visit() { # -> the status code, 303 expected
    curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X POST "$web_url"
}
visits_on_page() { web | grep -c '^<li>' || true; }
stop_quickly() { # NAME
    local t0 took code
    t0=$(date +%s%N)
    docker stop -t 10 "$prefix-$1" >/dev/null
    took=$((($(date +%s%N) - t0) / 1000000))
    code=$(docker inspect -f '{{.State.ExitCode}}' "$prefix-$1")
    if [ "$code" != 0 ] || [ "$took" -gt 3000 ]; then
        die "$1: docker stop took $took ms, exit status $code (expected at most 3000 ms and 0)"
    fi
    log "$1: docker stop took $took ms, exit status 0"
}

log "network $net, volume $vol"
docker network create "$net" >/dev/null
docker volume create "$vol" >/dev/null
run probe windlass-test/busybox:1 sleep 3600
run_db
run api -e DATABASE_URL="$database_url" -e APP_REVISION=check-1 local/windlass-demo-api:1
run web -e API_URL=http://api:8080 -p 127.0.0.1::80 local/windlass-demo-web:1

wait_for 60 "api /healthz (200 once PostgreSQL is up)" http http://api:8080/healthz ||
    { docker logs "$prefix-api" 2>&1 | tail -n 20 >&2; die "api never became healthy"; }
web_url=http://$(docker port "$prefix-web" 80/tcp | head -n 1)/
wait_for 20 "web GET $web_url" web || die "web never answered GET $web_url"
log "db, api and web up; web published at $web_url"

for _ in 1 2; do
    # A POST to / records a visit through the api and redirects (303) to the page.
    code=$(post_visit) || true
    [ "$code" = 303 ] || die "POST $web_url: expected 303, got '$code'"
done
page=$(web)
[ "$(visits_on_page)" = 2 ] || die "expected 2 visits on the page, got: $page"
grep -q '"revision": "check-1"' <<<"$page" || die "the page does not show the api's revision: $page"
log "2 visits posted through web, written by api, listed on the page:"
grep '^<li>' <<<"$page" >&2

log "killing db (docker rm -f) and recreating it on the same volume"
docker rm -f "$prefix-db" >/dev/null
out=$(web 2>&1) || die "web must answer 200 while the database is gone, got: $out"
grep -q 'Latest visits: unavailable' <<<"$out" || die "the page does not say the visits are unavailable: $out"
run_db
wait_for 60 "api /healthz after the db was recreated" http http://api:8080/healthz || die "api did not recover"
[ "$(visits_on_page)" = 2 ] || die "rows lost after recreating db: $(web)"
! docker logs "$prefix-db" 2>&1 | grep -q initialising || die "the recreated db initialised the volume again"
log "rows survived a killed db; the recreated container did not initialise again"

stop_quickly db
docker rm "$prefix-db" >/dev/null
run_db
wait_for 60 "api /healthz after the db was recreated" http http://api:8080/healthz || die "api did not recover"
code=$(post_visit) || true
[ "$code" = 303 ] || die "POST $web_url after recreating db: expected 303, got '$code'"
[ "$(visits_on_page)" = 3 ] || die "expected 3 visits after a clean db restart: $(web)"
log "rows survived a cleanly stopped db; a third visit was recorded"

stop_quickly web
stop_quickly api
stop_quickly db
log "OK"
