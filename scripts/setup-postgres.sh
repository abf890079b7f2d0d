#!/usr/bin/env bash
# Makes a PostgreSQL 15 server available to the tests on the host, idempotently, without systemd:
#   - installs Debian's `postgresql` (15) if missing;
#   - uses Debian's cluster 15/main (created if missing) on 127.0.0.1:$WINDLASS_PG_PORT
#     (default 5432), with test-speed settings (fsync=off, ...: the data is throwaway) in
#     /etc/postgresql/15/main/conf.d/windlass-test.conf;
#   - starts it with pg_ctlcluster (which uses /usr/lib/postgresql/15/bin/pg_ctl, never whatever
#     pg_ctl is first on PATH) and waits for pg_isready;
#   - ensures role `windlass` (password `windlass`, LOGIN CREATEDB: tests may create a database
#     each) and database `windlass_test` owned by it.
# Prints the connection URL on stdout (logs go to stderr), e.g.
#   export WINDLASS_TEST_POSTGRES_URL=$(scripts/setup-postgres.sh)
# Server log: /var/log/postgresql/postgresql-15-main.log
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=15
CLUSTER=main
PORT=${WINDLASS_PG_PORT:-5432}
ROLE=windlass
PASSWORD=windlass
DATABASE=windlass_test
PG_BIN=/usr/lib/postgresql/$VERSION/bin
CONF_DIR=/etc/postgresql/$VERSION/$CLUSTER
LOG_FILE=/var/log/postgresql/postgresql-$VERSION-$CLUSTER.log
URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"

require_root
apt_install postgresql postgresql-$VERSION postgresql-client-$VERSION
[ -x "$PG_BIN/postgres" ] || die "$PG_BIN/postgres missing after installing postgresql-$VERSION"

cd / # psql run as postgres would complain about an unreadable working directory

if [ ! -f "$CONF_DIR/postgresql.conf" ]; then
    log "creating cluster $VERSION/$CLUSTER on port $PORT"
    pg_createcluster "$VERSION" "$CLUSTER" --port="$PORT" >&2
fi

restart=0
if [ "$(pg_conftool -s "$VERSION" "$CLUSTER" show port 2>/dev/null)" != "$PORT" ]; then
    log "setting port $PORT on cluster $VERSION/$CLUSTER"
    pg_conftool "$VERSION" "$CLUSTER" set port "$PORT"
    restart=1
fi

# Throwaway test data: trade durability for speed (tests create and drop databases a lot).
# Debian's postgresql.conf includes conf.d/ last, so these win.
tune_file=$CONF_DIR/conf.d/windlass-test.conf
tune="# Written by windlass scripts/setup-postgres.sh: settings for a throwaway test server.
listen_addresses = 'localhost'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off"
if [ "$(cat "$tune_file" 2>/dev/null)" != "$tune" ]; then
    log "writing $tune_file"
    mkdir -p "${tune_file%/*}"
    printf '%s\n' "$tune" >"$tune_file"
    restart=1
fi

status=0
pg_ctlcluster "$VERSION" "$CLUSTER" status >/dev/null 2>&1 || status=$?
if [ "$status" -eq 0 ] && [ "$restart" -eq 1 ]; then
    log "restarting cluster $VERSION/$CLUSTER (configuration changed)"
    pg_ctlcluster "$VERSION" "$CLUSTER" restart -m fast >&2 || {
        tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
        die "could not restart cluster $VERSION/$CLUSTER (log: $LOG_FILE)"
    }
elif [ "$status" -ne 0 ]; then
    log "starting cluster $VERSION/$CLUSTER (log: $LOG_FILE)"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 || {
        tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
        die "could not start cluster $VERSION/$CLUSTER (log: $LOG_FILE)"
    }
fi

wait_for 60 "postgres on 127.0.0.1:$PORT" "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" ||
    die "postgres not ready on 127.0.0.1:$PORT (log: $LOG_FILE)"

runuser -u postgres -- "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d postgres >&2 <<SQL ||
SELECT format('CREATE ROLE %I', '$ROLE') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
ALTER ROLE $ROLE WITH LOGIN CREATEDB PASSWORD '$PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$DATABASE', '$ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
ALTER DATABASE $DATABASE OWNER TO $ROLE;
SQL
    die "could not create role $ROLE / database $DATABASE"

out=$(PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -At "$URL" -c 'SELECT current_user || $$@$$ || current_database()') ||
    die "cannot connect with $URL"
[ "$out" = "$ROLE@$DATABASE" ] || die "unexpected answer from $URL: $out"
log "postgres ready: $URL"
echo "$URL"
