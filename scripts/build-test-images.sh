#!/usr/bin/env bash
# Builds the container images the tests use, locally, without pulling anything (CI has no
# container registry):
#
#   windlass-test/busybox:1   busybox-static root filesystem (sh, sleep, nc, httpd, wget, ... as
#                             symlinks in /bin), CMD ["sh"]. Built in a second or two.
#   local/postgres:15         Debian bookworm minbase + postgresql-15 (debootstrap from the Debian
#                             mirror apt uses), with an entrypoint compatible with the official
#                             image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB. ~2-3 min
#                             the first time; the debootstrap rootfs is cached in
#                             $WINDLASS_CACHE_DIR (default /var/cache/windlass) so a rebuild of
#                             the image alone takes seconds.
#
# Usage: build-test-images.sh [--force] [busybox|postgres ...]   (no names: all images)
#
# An image is skipped if it exists with the current recipe label (org.windlass.recipe); bump the
# *_RECIPE constants below when changing how an image is built, so stale local images are rebuilt.
# Needs a running docker daemon (scripts/setup-docker.sh). Each freshly built image is smoke
# tested with `docker run`.
#
# Environment: WINDLASS_CACHE_DIR, WINDLASS_DEBIAN_MIRROR (default: the mirror apt uses).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUSYBOX_IMAGE=windlass-test/busybox:1
BUSYBOX_RECIPE="busybox-1"
POSTGRES_IMAGE=local/postgres:15
POSTGRES_RECIPE="postgres15-2"
# Bump to force a new debootstrap (changes to what goes into the cached rootfs).
POSTGRES_ROOTFS_RECIPE="rootfs-2"
SUITE=bookworm
CACHE_DIR=${WINDLASS_CACHE_DIR:-/var/cache/windlass}
RECIPE_LABEL=org.windlass.recipe
# The docker CLI may be newer than the daemon (v28 CLI here, 20.10 daemon): use the classic
# builder for the one-line `docker build` below, which the 20.10 daemon does natively.
export DOCKER_BUILDKIT=0

force=0
targets=()
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        busybox | postgres) targets+=("$arg") ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown image '$arg' (known: busybox, postgres)" ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(busybox postgres)

docker_ok || die "docker daemon not reachable; run scripts/setup-docker.sh first"

# Things to undo on exit, whatever the exit path (die included).
cleanup=()
# An image that was built but failed its smoke test is removed, so the next run rebuilds it.
unverified=""
on_exit() {
    local c
    for c in "${cleanup[@]}"; do eval "$c" || true; done
    if [ -n "$unverified" ]; then
        log "removing unverified image $unverified"
        docker rmi -f "$unverified" >/dev/null 2>&1 || true
    fi
}
trap on_exit EXIT

mkdir -p "$CACHE_DIR"
# One build at a time (two concurrent debootstraps into the same cache would collide).
exec 9>"$CACHE_DIR/build-test-images.lock"
flock 9

image_current() { # IMAGE RECIPE
    local have
    have=$(docker image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$1" 2>/dev/null) || return 1
    [ "$have" = "$2" ]
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# Removes the image a rebuild replaced (now untagged), unless a container still uses it.
remove_replaced() { # OLD_ID IMAGE
    [ -n "$1" ] && [ "$1" != "$(image_id "$2")" ] || return 0
    docker rmi "$1" >/dev/null 2>&1 || log "note: replaced image $1 still in use; not removed"
}

image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

# Deletes a directory tree that may have been a chroot: unmounts anything left mounted below it
# first (an interrupted debootstrap can leave /proc or /sys mounted) and never crosses
# filesystems, so a stale mount can never make this delete the host's files.
remove_tree() {
    local dir=$1
    [ -e "$dir" ] || return 0
    dir=$(realpath "$dir")
    awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$dir"
}

# ------------------------------------------------------------------------------------------------
# windlass-test/busybox:1

build_busybox() {
    if [ $force -eq 0 ] && image_current "$BUSYBOX_IMAGE" "$BUSYBOX_RECIPE"; then
        log "$BUSYBOX_IMAGE up to date ($(image_size "$BUSYBOX_IMAGE"))"
        return 0
    fi
    local bb=/bin/busybox
    pkgs_installed busybox-static || apt_install busybox-static
    [ -x "$bb" ] || die "$bb missing (package busybox-static)"
    local applet applets
    applets=$("$bb" --list)
    for applet in sh sleep nc httpd wget; do
        grep -qx "$applet" <<<"$applets" || die "$bb has no '$applet' applet"
    done

    log "building $BUSYBOX_IMAGE"
    local tmp start=$SECONDS old
    old=$(image_id "$BUSYBOX_IMAGE")
    tmp=$(mktemp -d)
    cleanup+=("rm -rf '$tmp'")
    local root=$tmp/rootfs
    mkdir -p "$root"/{bin,etc,proc,sys,dev,root,var/www,usr}
    install -d -m 1777 "$root/tmp"
    cp "$bb" "$root/bin/busybox"
    # What `busybox --install -s` does, but with relative links: run on the host it would point
    # every applet at the host's path of busybox (/usr/bin/busybox on a merged-/usr system).
    for applet in $applets; do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    ln -s bin "$root/sbin"
    ln -s ../bin "$root/usr/bin"
    ln -s ../bin "$root/usr/sbin"
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
        >"$root/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nogroup:x:65534:' >"$root/etc/group"

    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf - . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL $RECIPE_LABEL=$BUSYBOX_RECIPE" \
            --change 'CMD ["sh"]' \
            - "$BUSYBOX_IMAGE" >/dev/null
    unverified=$BUSYBOX_IMAGE

    local out
    out=$(docker run --rm "$BUSYBOX_IMAGE" echo ok) || die "$BUSYBOX_IMAGE does not run"
    [ "$out" = ok ] || die "$BUSYBOX_IMAGE: expected 'ok', got '$out'"
    unverified=""
    rm -rf "$tmp"
    remove_replaced "$old" "$BUSYBOX_IMAGE"
    log "$BUSYBOX_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$BUSYBOX_IMAGE"))"
}

# ------------------------------------------------------------------------------------------------
# local/postgres:15

# The Debian mirror apt is configured with (deb822 .sources first, then one-line .list files).
debian_mirror() {
    if [ -n "${WINDLASS_DEBIAN_MIRROR:-}" ]; then
        echo "$WINDLASS_DEBIAN_MIRROR"
        return
    fi
    local m="" f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        m=$(awk -v suite="$SUITE" 'BEGIN { RS = "" }
            {
                t = ""; u = ""; s = ""; e = "yes"
                n = split($0, L, "\n")
                for (i = 1; i <= n; i++) {
                    if (L[i] ~ /^[ \t]*#/) continue
                    if (match(L[i], /^[Tt]ypes:[ \t]*/)) t = substr(L[i], RLENGTH + 1)
                    else if (match(L[i], /^URIs:[ \t]*/)) u = substr(L[i], RLENGTH + 1)
                    else if (match(L[i], /^[Ss]uites:[ \t]*/)) s = substr(L[i], RLENGTH + 1)
                    else if (match(L[i], /^[Ee]nabled:[ \t]*/)) e = tolower(substr(L[i], RLENGTH + 1))
                }
                if (e != "no" && (" " t " ") ~ / deb / && (" " s " ") ~ (" " suite " ")) {
                    split(u, U, /[ \t]+/)
                    if (U[1] ~ /^https?:\/\//) { print U[1]; exit }
                }
            }' "$f")
        [ -n "$m" ] && break
    done
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk -v suite="$SUITE" '$1 == "deb" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite && $i ~ /^https?:\/\//) { print $i; exit }
            }')
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# Debian bookworm + postgresql-15, debootstrapped once into $CACHE_DIR and trimmed.
ensure_postgres_rootfs() {
    local rootfs=$CACHE_DIR/postgres15-rootfs
    local stamp=$rootfs/.windlass-rootfs
    if [ -d "$rootfs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$POSTGRES_ROOTFS_RECIPE" ]; then
        log "using cached rootfs $rootfs"
        return 0
    fi
    remove_tree "$rootfs"
    apt_install debootstrap
    local mirror partial=$rootfs.partial attempt start=$SECONDS
    mirror=$(debian_mirror)
    for attempt in 1 2; do
        remove_tree "$partial"
        log "debootstrap $SUITE from $mirror (attempt $attempt; ~2 min)"
        if debootstrap --variant=minbase --include=postgresql-15 \
            "$SUITE" "$partial" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1; then
            break
        fi
        log "debootstrap failed; last lines of $CACHE_DIR/debootstrap.log:"
        tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
        [ "$attempt" -lt 2 ] || { remove_tree "$partial"; die "debootstrap failed"; }
    done
    log "debootstrap done in $((SECONDS - start))s"

    # What the entrypoint relies on.
    local f
    for f in bin/bash usr/bin/setpriv usr/lib/postgresql/15/bin/postgres usr/lib/postgresql/15/bin/initdb \
        usr/lib/postgresql/15/bin/pg_ctl usr/lib/postgresql/15/bin/psql; do
        [ -e "$partial/$f" ] || die "debootstrapped rootfs lacks /$f"
    done
    grep -q '^postgres:' "$partial/etc/passwd" || die "debootstrapped rootfs has no postgres user"

    # Trim (372 MB -> ~230 MB): the package cache (debootstrap keeps every .deb), apt lists, docs,
    # locale sources, the "main" cluster postgresql-common creates on install (the entrypoint makes
    # its own in $PGDATA), and LLVM: it is only postgres' optional JIT provider (llvmjit.so); without
    # it postgres just never JIT-compiles (the entrypoint also sets jit = off).
    rm -rf "$partial"/usr/lib/postgresql/15/lib/llvmjit* "$partial"/usr/lib/postgresql/15/lib/bitcode \
        "$partial"/usr/lib/x86_64-linux-gnu/libLLVM-* "$partial"/usr/lib/x86_64-linux-gnu/libz3.so* \
        "$partial"/usr/share/i18n
    rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/cache/apt/*.bin \
        "$partial"/var/lib/apt/lists/* "$partial"/usr/share/doc/* "$partial"/usr/share/man/* \
        "$partial"/usr/share/info/* "$partial"/usr/share/locale/* "$partial"/var/log/*.log \
        "$partial"/var/log/apt/* "$partial"/var/log/postgresql/* \
        "$partial"/etc/postgresql/15/main "$partial"/var/lib/postgresql/15
    echo "$POSTGRES_ROOTFS_RECIPE" >"$partial/.windlass-rootfs"
    mv "$partial" "$rootfs"
    log "cached rootfs in $rootfs ($(du -sh --one-file-system "$rootfs" | cut -f1))"
}

write_postgres_entrypoint() { # PATH
    cat >"$1" <<'ENTRYPOINT'
#!/bin/bash
# windlass-postgres-entrypoint: entrypoint of local/postgres:15 (built by Windlass'
# scripts/build-test-images.sh). Follows the official postgres image's conventions:
#   POSTGRES_PASSWORD   password of POSTGRES_USER (required on first start, unless
#                       POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER       superuser created by initdb (default: postgres)
#   POSTGRES_DB         database created on first start (default: $POSTGRES_USER)
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP connections (default: scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   PGDATA              data directory (default: /var/lib/postgresql/data)
# On first start (no $PGDATA/PG_VERSION) it runs initdb, listens on '*', creates the database
# and runs /docker-entrypoint-initdb.d/*.sql|*.sh; then (and on every later start) it execs
# postgres in the foreground as the postgres user. `docker run IMAGE -c key=value` passes
# postgres flags; any other command is run as is.
set -Eeuo pipefail

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

[ $# -gt 0 ] || set -- postgres
[ "${1:0:1}" != - ] || set -- postgres "$@"
[ "$1" = postgres ] || exec "$@"

log() { echo "windlass-postgres-entrypoint: $*" >&2; }

if [ "$(id -u)" = 0 ]; then
    as_pg() { HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 2775 /var/run/postgresql
else
    as_pg() { "$@"; }
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwargs=()
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
        [ "$(id -u)" != 0 ] || chown postgres "$pwfile"
        pwargs=(--pwfile="$pwfile")
    elif [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        log "error: the database is uninitialized and POSTGRES_PASSWORD is not set"
        log "       (set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow any connection)"
        exit 1
    fi
    log "initialising $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
    # --no-sync: a test database; initdb fsyncing every file costs seconds per container.
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words
    as_pg initdb --username="$POSTGRES_USER" "${pwargs[@]}" --encoding=UTF8 --locale=C.UTF-8 --no-sync \
        --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    [ -z "${pwfile:-}" ] || rm -f "$pwfile"
    cat >"$PGDATA/pg_hba.conf" <<EOF
# TYPE  DATABASE     USER  ADDRESS  METHOD
local   all          all            trust
local   replication  all            trust
host    all          all   all      $POSTGRES_HOST_AUTH_METHOD
host    replication  all   all      $POSTGRES_HOST_AUTH_METHOD
EOF
    printf '%s\n' "listen_addresses = '*'" "jit = off" >>"$PGDATA/postgresql.conf"

    # Private server (unix socket only) for the setup statements.
    as_pg pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" start >/dev/null
    psql_setup=(as_pg psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER")
    "${psql_setup[@]}" -d postgres -v db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    # shellcheck disable=SC1090 # init scripts are sourced, as in the official image
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sql) log "running $f"; "${psql_setup[@]}" -d "$POSTGRES_DB" -f "$f" ;;
            *.sh) log "running $f"; . "$f" ;;
            *) ;;
        esac
    done
    as_pg pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "initialised; starting postgres"
fi

if [ "$(id -u)" = 0 ]; then
    exec env HOME=/var/lib/postgresql setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
fi
exec "$@"
ENTRYPOINT
    chmod 755 "$1"
}

# Starts a container from the image, checks a query over TCP with the password, stops it
# (clean shutdown expected), starts it again (existing data: no init) and checks again.
verify_postgres() {
    local c ip deadline
    c=$(docker run -d -e POSTGRES_PASSWORD=secret -e POSTGRES_USER=app -e POSTGRES_DB=app "$POSTGRES_IMAGE")
    cleanup+=("docker rm -f $c >/dev/null 2>&1")
    pg_query() { # IP -> prints the result of a query as app/secret on database app
        if command -v psql >/dev/null; then
            PGPASSWORD=secret PGCONNECT_TIMEOUT=3 psql -X -At -h "$1" -U app -d app -c "$2"
        else
            docker exec -e PGPASSWORD=secret "$c" psql -X -At -h "$1" -U app -d app -c "$2"
        fi
    }
    local round out logs
    for round in 1 2; do
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
        deadline=$((SECONDS + 60))
        until out=$(pg_query "$ip" "SELECT current_user || '@' || current_database()" 2>/dev/null); do
            if [ "$SECONDS" -ge "$deadline" ] || [ "$(docker inspect -f '{{.State.Running}}' "$c")" != true ]; then
                docker logs "$c" 2>&1 | tail -n 30 >&2
                die "$POSTGRES_IMAGE: no answer from postgres at $ip:5432 (start $round)"
            fi
            sleep 0.5
        done
        [ "$out" = app@app ] || die "$POSTGRES_IMAGE: unexpected query result '$out'"
        local t0=$SECONDS before
        before=$(docker logs "$c" 2>&1 | grep -c 'database system is shut down' || true)
        docker stop "$c" >/dev/null
        logs=$(docker logs "$c" 2>&1)
        [ "$(grep -c 'database system is shut down' <<<"$logs")" -gt "$before" ] ||
            die "$POSTGRES_IMAGE: postgres did not shut down cleanly on docker stop"
        log "$POSTGRES_IMAGE: start $round OK ($out via $ip), clean stop in $((SECONDS - t0))s"
        [ "$round" = 2 ] || docker start "$c" >/dev/null
    done
    [ "$(grep -c 'initialising' <<<"$logs")" = 1 ] ||
        die "$POSTGRES_IMAGE: second start re-initialised the data directory"
    docker rm -f "$c" >/dev/null
}

build_postgres() {
    if [ $force -eq 0 ] && image_current "$POSTGRES_IMAGE" "$POSTGRES_RECIPE"; then
        log "$POSTGRES_IMAGE up to date ($(image_size "$POSTGRES_IMAGE"))"
        return 0
    fi
    local start=$SECONDS old
    old=$(image_id "$POSTGRES_IMAGE")
    log "building $POSTGRES_IMAGE"
    ensure_postgres_rootfs
    local rootfs=$CACHE_DIR/postgres15-rootfs
    mkdir -p "$rootfs/usr/local/bin"
    write_postgres_entrypoint "$rootfs/usr/local/bin/windlass-postgres-entrypoint"

    # Streamed straight into the daemon: no tarball on disk.
    local base=$POSTGRES_IMAGE-import
    tar --numeric-owner --one-file-system --exclude=./.windlass-rootfs -C "$rootfs" -cf - . |
        docker import \
            --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV PGDATA=/var/lib/postgresql/data' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'EXPOSE 5432' \
            --change "LABEL $RECIPE_LABEL=$POSTGRES_RECIPE" \
            --change 'ENTRYPOINT ["/usr/local/bin/windlass-postgres-entrypoint"]' \
            --change 'CMD ["postgres"]' \
            - "$base" >/dev/null
    # `docker import --change` refuses STOPSIGNAL; postgres needs SIGINT (fast shutdown) rather
    # than docker's default SIGTERM (smart shutdown: waits for every client to disconnect, so
    # `docker stop` would hit its timeout and SIGKILL). A one-line build on top adds it.
    printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$base" | docker build -q -t "$POSTGRES_IMAGE" - >/dev/null 2>&1 ||
        die "docker build of $POSTGRES_IMAGE (STOPSIGNAL layer) failed"
    docker rmi "$base" >/dev/null # untags only; the layer is the parent of $POSTGRES_IMAGE
    unverified=$POSTGRES_IMAGE
    verify_postgres
    unverified=""
    remove_replaced "$old" "$POSTGRES_IMAGE"
    log "$POSTGRES_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$POSTGRES_IMAGE"))"
}

for t in "${targets[@]}"; do
    "build_$t"
done
