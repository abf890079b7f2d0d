#!/usr/bin/env bash
# Builds the container images the tests and the demo stack use, locally, without pulling
# anything (CI has no container registry):
#
#   windlass-test/busybox:1        busybox-static root filesystem (sh, sleep, nc, httpd, wget, ...
#                                  as symlinks in /bin), CMD ["sh"]. Built in a second or two.
#   windlass-test/bookworm-base:1  Debian bookworm minbase + postgresql-15 + python3-psycopg2
#                                  (debootstrap from the Debian mirror apt uses), the one layer
#                                  under local/postgres:15 and local/windlass-demo-api:1, so it is
#                                  debootstrapped once and stored once. ~1.5-2 min the first time;
#                                  the trimmed rootfs is cached in $WINDLASS_CACHE_DIR (default
#                                  /var/cache/windlass), so re-importing it takes seconds.
#   local/postgres:15              PostgreSQL 15 on the base, with an entrypoint compatible with the
#                                  official image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB
#                                  (images/postgres/).
#   local/windlass-demo-api:1      the demo stack's backend on the base: a Python HTTP server
#                                  reading and writing PostgreSQL at $DATABASE_URL, port 8080,
#                                  GET /healthz, /api/visits, /api/info (images/demo-api/).
#   local/windlass-demo-web:1      the demo stack's frontend on busybox: httpd on port 80 whose
#                                  page shows the visits read from the backend at $API_URL
#                                  (images/demo-web/).
#   windlass-test/python:3         the base the build tests' Python plans build FROM: the base's
#                                  python3 (3.11), one small layer (images/python/). Seconds.
#   windlass-test/node:18          the base the build tests' Node.js plans build FROM: Debian's
#                                  nodejs 18 (no npm) installed with apt on the base
#                                  (images/node/). ~30 s the first time. (Static sites build on
#                                  windlass-test/busybox:1 and are served by its httpd.)
#   windlass-test/nix:2            the builder image of the Nix strategy's tests: Debian's nix-bin
#                                  (Nix 2.8) on the base, /nix left empty for the store volume
#                                  (images/nix/). ~10-30 s the first time.
#
# Usage: build-test-images.sh [--force] [busybox|postgres|demo-api|demo-web|python|node|nix ...]
#        (no names: all images; an image's dependencies are built when missing or stale)
#
# An image is skipped if it exists with the current recipe label (org.windlass.recipe): the
# *_RECIPE constant below plus a hash of its files under images/ (and its base's recipe), so a
# changed app.py or Dockerfile rebuilds by itself; bump the constants when changing how this
# script builds an image. --force rebuilds the named images (not the cached rootfs: bump
# BASE_ROOTFS_RECIPE or delete the cache for that). Needs a running docker daemon
# (scripts/setup-docker.sh). Each freshly built image is smoke tested with `docker run`; an image
# that fails its smoke test is removed.
#
# Environment: WINDLASS_CACHE_DIR, WINDLASS_DEBIAN_MIRROR (default: the mirror apt's own sources
# name for the suite; no mirror is written into the project).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../images" && pwd)

BUSYBOX_IMAGE=windlass-test/busybox:1
BUSYBOX_RECIPE="busybox-1"
BASE_IMAGE=windlass-test/bookworm-base:1
BASE_RECIPE="bookworm-base-1"
# Bump to force a new debootstrap (changes to what goes into the cached rootfs).
BASE_ROOTFS_RECIPE="bookworm-pg15-py3-1"
BASE_PACKAGES=postgresql-15,python3-psycopg2
POSTGRES_IMAGE=local/postgres:15
POSTGRES_RECIPE="postgres15-3"
DEMO_API_IMAGE=local/windlass-demo-api:1
DEMO_API_RECIPE="demo-api-1"
DEMO_WEB_IMAGE=local/windlass-demo-web:1
DEMO_WEB_RECIPE="demo-web-1"
PYTHON_IMAGE=windlass-test/python:3
PYTHON_RECIPE="python-1"
NODE_IMAGE=windlass-test/node:18
NODE_RECIPE="node-1"
NIX_IMAGE=windlass-test/nix:2
NIX_RECIPE="nix-1"
SUITE=bookworm
CACHE_DIR=${WINDLASS_CACHE_DIR:-/var/cache/windlass}
RECIPE_LABEL=org.windlass.recipe
# The docker CLI may be newer than the daemon (v28 CLI here, 20.10 daemon): use the classic
# builder, which the 20.10 daemon does natively, for the small `docker build`s on top of the
# imported root filesystems.
export DOCKER_BUILDKIT=0

ALL_TARGETS=(busybox postgres demo-api demo-web python node nix)
force=0
targets=()
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        busybox | postgres | demo-api | demo-web | python | node | nix) targets+=("$arg") ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown image '$arg' (known: ${ALL_TARGETS[*]})" ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

docker_ok || die "docker daemon not reachable; run scripts/setup-docker.sh first"
[ -d "$IMAGES_DIR" ] || die "image sources not found at $IMAGES_DIR"

# Things to undo on exit, whatever the exit path (die included).
cleanup=()
# An image that was built but failed its smoke test is removed, so the next run rebuilds it.
unverified=""
on_exit() {
    local i
    # Newest first: containers go before the network they are on.
    for ((i = ${#cleanup[@]} - 1; i >= 0; i--)); do eval "${cleanup[i]}" || true; done
    if [ -n "$unverified" ]; then
        log "removing unverified image $unverified"
        docker rmi -f "$unverified" >/dev/null 2>&1 || true
    fi
}
trap on_exit EXIT
# A signal exits through on_exit too (the smoke tests' containers and networks are removed).
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE_DIR"
# One build at a time (two concurrent debootstraps into the same cache would collide).
exec 9>"$CACHE_DIR/build-test-images.lock"
flock 9

# --force applies to the images named on the command line, not to the dependencies they pull in.
forced() { # TARGET
    [ $force -eq 1 ] || return 1
    local t
    build_nix() {
    once nix || return 0
    local recipe
    recipe=$NIX_RECIPE/$BASE_RECIPE/$BASE_ROOTFS_RECIPE/$(files_hash nix)
    if ! forced nix && image_current "$NIX_IMAGE" "$recipe"; then
        log "$NIX_IMAGE up to date ($(image_size "$NIX_IMAGE"))"
        return 0
    fi
    build_base
    local start=$SECONDS old out mirror
    old=$(image_id "$NIX_IMAGE")
    mirror=$(debian_mirror) || die "no Debian mirror for $SUITE in apt's configuration; set WINDLASS_DEBIAN_MIRROR"
    log "building $NIX_IMAGE (nix-bin from $mirror)"
    build_opts=(--network host --build-arg "MIRROR=$mirror")
    docker_build nix "$NIX_IMAGE" "$BASE_IMAGE" "$recipe"
    build_opts=()
    unverified=$NIX_IMAGE
    # A derivation that needs no download, built in a throwaway store: Nix works in a container.
    out=$(docker run --rm "$NIX_IMAGE" sh -c 'nix-build -E "derivation { name = \"smoke\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo ok > \$out\" ]; }" --no-out-link | xargs cat') ||
        die "$NIX_IMAGE: nix-build does not run"
    [ "$out" = ok ] || die "$NIX_IMAGE: the smoke derivation gave '$out', expected 'ok'"
    unverified=""
    remove_replaced "$old" "$NIX_IMAGE"
    log "$NIX_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$NIX_IMAGE"))"
}

for t in "${targets[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

# Each build function runs once per invocation, whether named or pulled in as a dependency.
built=" "
once() { # TARGET: false if it already ran
    case $built in *" $1 "*) return 1 ;; esac
    built="$built$1 "
}

image_current() { # IMAGE RECIPE
    local have
    have=$(docker image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$1" 2>/dev/null) || return 1
    [ "$have" = "$2" ]
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# Removes the image a rebuild replaced (now untagged), unless a container or image still uses it.
remove_replaced() { # OLD_ID IMAGE
    [ -n "$1" ] && [ "$1" != "$(image_id "$2")" ] || return 0
    docker rmi "$1" >/dev/null 2>&1 || log "note: replaced image $1 still in use; not removed"
}

image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

# A short hash of the files under images/NAME (relative paths and contents), for the recipe
# label: editing the app or its Dockerfile makes the image stale without bumping a constant.
files_hash() { # NAME
    local dir=$IMAGES_DIR/$1
    [ -d "$dir" ] || die "missing $dir"
    (cd "$dir" && find . -name __pycache__ -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
        sha256sum | cut -c1-12
}

# Builds IMAGE from the Dockerfile in images/NAME on top of BASE. The context is a copy whose
# listed files are made executable, so the image does not depend on the checkout's file modes.
# Extra `docker build` options: the array build_opts (empty unless a caller sets it).
build_opts=()
docker_build() { # NAME IMAGE BASE RECIPE EXECUTABLE...
    local name=$1 image=$2 base=$3 recipe=$4
    shift 4
    local ctx f buildlog
    ctx=$(mktemp -d)
    cleanup+=("rm -rf '$ctx'")
    cp -R "$IMAGES_DIR/$name/." "$ctx/"
    find "$ctx" -name __pycache__ -prune -exec rm -rf {} + # from running app.py locally
    chmod -R u=rwX,go=rX "$ctx"
    for f in "$@"; do
        [ -f "$ctx/$f" ] || die "images/$name/$f missing"
        chmod 755 "$ctx/$f"
    done
    buildlog=$ctx.log
    cleanup+=("rm -f '$buildlog'")
    if ! docker build ${build_opts[@]+"${build_opts[@]}"} --build-arg "BASE=$base" \
        --label "$RECIPE_LABEL=$recipe" -t "$image" "$ctx" \
        >"$buildlog" 2>&1; then
        tail -n 30 "$buildlog" >&2
        die "docker build of $image from images/$name failed"
    fi
    rm -rf "$ctx" "$buildlog"
}

# Smoke tests run their containers on a network of their own, named after this process;
# `probe` is a busybox container on it from which tests reach services by name.
smoke_prefix=windlass-imgtest-$$
smoke_net=""
smoke_network() { # creates the network and the probe container (once)
    [ -z "$smoke_net" ] || return 0
    build_busybox
    smoke_net=$smoke_prefix
    docker network create "$smoke_net" >/dev/null
    cleanup+=("docker network rm $smoke_net >/dev/null 2>&1")
    smoke_run probe "$BUSYBOX_IMAGE" sleep 3600 >/dev/null
}
# smoke_run NAME [docker run options...] IMAGE [ARGS...]: a detached container on the smoke
# network, reachable as NAME; removed on exit.
smoke_run() {
    local name=$1
    shift
    cleanup+=("docker rm -f $smoke_prefix-$name >/dev/null 2>&1")
    docker run -d --name "$smoke_prefix-$name" --network "$smoke_net" --network-alias "$name" "$@"
}
smoke_rm() { docker rm -f "$smoke_prefix-$1" >/dev/null 2>&1 || true; }
# http ARGS...: busybox wget from the probe container, bounded by `timeout` (this busybox's
# wget crashes on its own -T); prints the body, or wget's error such as
# "server returned error: HTTP/1.1 503 Service Unavailable"; fails on non-2xx/3xx.
http() { docker exec "$smoke_prefix-probe" timeout 5 wget -q -O - "$@" 2>&1; }
# Stops container NAME and checks that it exited 0 within SECONDS.
check_quick_stop() { # NAME SECONDS IMAGE
    local c=$smoke_prefix-$1 t0 took code
    t0=$(date +%s%N)
    docker stop -t 10 "$c" >/dev/null
    took=$((($(date +%s%N) - t0) / 1000000))
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    [ "$code" = 0 ] || { docker logs "$c" 2>&1 | tail -n 20 >&2; die "$3: exit status $code on docker stop (expected 0)"; }
    [ "$took" -le $(($2 * 1000)) ] || die "$3: docker stop took ${took} ms (more than $2 s: is the stop signal handled?)"
    log "$3: stopped with status 0 in $took ms"
}

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
    once busybox || return 0
    if ! forced busybox && image_current "$BUSYBOX_IMAGE" "$BUSYBOX_RECIPE"; then
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
# windlass-test/bookworm-base:1, the layer under local/postgres:15 and local/windlass-demo-api:1

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
    [ -n "$m" ] || return 1
    echo "$m"
}

# Debian bookworm minbase + $BASE_PACKAGES, debootstrapped once into $CACHE_DIR and trimmed.
# One rootfs for both images rather than one each: debootstrap's time goes mostly into unpacking
# and configuring minbase's ~100 packages, not into downloads (measured here: a second
# debootstrap with every .deb already downloaded took as long as the first), so a second rootfs
# would cost that again, and the two images would not share their layer on disk.
ensure_base_rootfs() {
    local rootfs=$CACHE_DIR/bookworm-rootfs
    local stamp=$rootfs/.windlass-rootfs
    if [ -d "$rootfs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$BASE_ROOTFS_RECIPE" ]; then
        log "using cached rootfs $rootfs"
        return 0
    fi
    remove_tree "$rootfs"
    apt_install debootstrap
    local mirror partial=$rootfs.partial attempt start=$SECONDS
    local unsafe_io=etc/dpkg/dpkg.cfg.d/windlass-unsafe-io
    mirror=$(debian_mirror) || die "no Debian source for $SUITE in apt's configuration (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list): add one, or set WINDLASS_DEBIAN_MIRROR to a mirror's URL"
    for attempt in 1 2; do
        remove_tree "$partial"
        # dpkg without an fsync per file: a tree that is thrown away if anything goes wrong
        # does not need them, and debootstrap takes about a quarter less time.
        mkdir -p "$partial/${unsafe_io%/*}"
        echo force-unsafe-io >"$partial/$unsafe_io"
        log "debootstrap $SUITE + $BASE_PACKAGES from $mirror (attempt $attempt; ~1.5 min)"
        if debootstrap --variant=minbase --include="$BASE_PACKAGES" \
            "$SUITE" "$partial" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1; then
            break
        fi
        log "debootstrap failed; last lines of $CACHE_DIR/debootstrap.log:"
        tail -n 20 "$CACHE_DIR/debootstrap.log" >&2
        [ "$attempt" -lt 2 ] || { remove_tree "$partial"; die "debootstrap failed"; }
    done
    rm -f "$partial/$unsafe_io"
    log "debootstrap done in $((SECONDS - start))s"

    # What the images rely on.
    local f
    for f in bin/bash usr/bin/setpriv usr/lib/postgresql/15/bin/postgres usr/lib/postgresql/15/bin/initdb \
        usr/lib/postgresql/15/bin/pg_ctl usr/lib/postgresql/15/bin/psql usr/lib/postgresql/15/bin/pg_isready \
        usr/bin/python3; do
        [ -e "$partial/$f" ] || die "debootstrapped rootfs lacks /$f"
    done
    grep -q '^postgres:' "$partial/etc/passwd" || die "debootstrapped rootfs has no postgres user"
    grep -q '^nobody:' "$partial/etc/passwd" || die "debootstrapped rootfs has no nobody user"
    chroot "$partial" python3 -c 'import psycopg2' || die "python3 in the debootstrapped rootfs cannot import psycopg2"

    # Trim (~440 MB -> ~250 MB): the package cache (debootstrap keeps every .deb), apt lists,
    # docs, locale sources, the "main" cluster postgresql-common creates on install (the
    # entrypoint makes its own in $PGDATA), and LLVM: it is only postgres' optional JIT provider
    # (llvmjit.so); without it postgres just never JIT-compiles (the entrypoint also sets jit = off).
    rm -rf "$partial"/usr/lib/postgresql/15/lib/llvmjit* "$partial"/usr/lib/postgresql/15/lib/bitcode \
        "$partial"/usr/lib/x86_64-linux-gnu/libLLVM-* "$partial"/usr/lib/x86_64-linux-gnu/libz3.so* \
        "$partial"/usr/share/i18n
    rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/cache/apt/*.bin \
        "$partial"/var/lib/apt/lists/* "$partial"/usr/share/doc/* "$partial"/usr/share/man/* \
        "$partial"/usr/share/info/* "$partial"/usr/share/locale/* "$partial"/var/log/*.log \
        "$partial"/var/log/apt/* "$partial"/var/log/postgresql/* \
        "$partial"/etc/postgresql/15/main "$partial"/var/lib/postgresql/15
    echo "$BASE_ROOTFS_RECIPE" >"$partial/.windlass-rootfs"
    mv "$partial" "$rootfs"
    log "cached rootfs in $rootfs ($(du -sh --one-file-system "$rootfs" | cut -f1))"
}

build_base() {
    once base || return 0
    local recipe=$BASE_RECIPE/$BASE_ROOTFS_RECIPE
    if image_current "$BASE_IMAGE" "$recipe"; then
        log "$BASE_IMAGE up to date ($(image_size "$BASE_IMAGE"))"
        return 0
    fi
    local start=$SECONDS old
    old=$(image_id "$BASE_IMAGE")
    log "building $BASE_IMAGE"
    ensure_base_rootfs
    local rootfs=$CACHE_DIR/bookworm-rootfs
    # Streamed straight into the daemon: no tarball on disk.
    tar --numeric-owner --one-file-system --exclude=./.windlass-rootfs -C "$rootfs" -cf - . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change "LABEL $RECIPE_LABEL=$recipe" \
            --change 'CMD ["bash"]' \
            - "$BASE_IMAGE" >/dev/null
    unverified=$BASE_IMAGE
    local out
    out=$(docker run --rm "$BASE_IMAGE" python3 -c 'import psycopg2; print("ok")') ||
        die "$BASE_IMAGE: python3 cannot import psycopg2"
    [ "$out" = ok ] || die "$BASE_IMAGE: expected 'ok', got '$out'"
    unverified=""
    remove_replaced "$old" "$BASE_IMAGE"
    log "$BASE_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$BASE_IMAGE"))"
}

# ------------------------------------------------------------------------------------------------
# local/postgres:15

# As the stack-web-postgres plugin runs it: POSTGRES_USER/PASSWORD/DB (a password with URL and
# shell metacharacters), a named volume at /var/lib/postgresql/data. Checks a query over TCP
# with the password and writes a row; stops it (clean shutdown expected); then a new container
# on the same volume must find the row without initialising again, and pg_isready (what the
# compose baseline's health check runs) must pass.
verify_postgres() {
    # shellcheck disable=SC2016 # a literal $ in the password, on purpose
    local password='p@ss:w/rd$1 "x"' vol=windlass-imgtest-$$-pgdata c round out logs
    docker volume create "$vol" >/dev/null
    cleanup+=("docker volume rm -f $vol >/dev/null 2>&1")
    pg_query() { # CONTAINER IP SQL -> prints the result of a query as app on database app
        docker exec -e PGPASSWORD="$password" -e PGCONNECT_TIMEOUT=3 "$1" \
            psql -X -At -v ON_ERROR_STOP=1 -h "$2" -U app -d app -c "$3"
    }
    for round in 1 2; do
        c=$(docker run -d -e POSTGRES_PASSWORD="$password" -e POSTGRES_USER=app -e POSTGRES_DB=app \
            -v "$vol:/var/lib/postgresql/data" "$POSTGRES_IMAGE")
        cleanup+=("docker rm -f $c >/dev/null 2>&1")
        local ip deadline
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
        deadline=$((SECONDS + 60))
        until out=$(pg_query "$c" "$ip" "SELECT current_user || '@' || current_database()" 2>/dev/null); do
            if [ "$SECONDS" -ge "$deadline" ] || [ "$(docker inspect -f '{{.State.Running}}' "$c")" != true ]; then
                docker logs "$c" 2>&1 | tail -n 30 >&2
                die "$POSTGRES_IMAGE: no answer from postgres at $ip:5432 (container $round)"
            fi
            sleep 0.5
        done
        [ "$out" = app@app ] || die "$POSTGRES_IMAGE: unexpected query result '$out'"
        if [ "$round" = 1 ]; then
            pg_query "$c" "$ip" "CREATE TABLE smoke (v text); INSERT INTO smoke VALUES ('kept')" >/dev/null
        else
            out=$(pg_query "$c" "$ip" "SELECT v FROM smoke")
            [ "$out" = kept ] || die "$POSTGRES_IMAGE: the row written by the first container is gone (got '$out')"
            docker exec "$c" pg_isready -q -h 127.0.0.1 -p 5432 -U app -d app ||
                die "$POSTGRES_IMAGE: pg_isready -h 127.0.0.1 fails while postgres answers queries"
        fi
        local t0=$SECONDS
        docker stop "$c" >/dev/null
        logs=$(docker logs "$c" 2>&1)
        grep -q 'database system is shut down' <<<"$logs" ||
            die "$POSTGRES_IMAGE: postgres did not shut down cleanly on docker stop"
        log "$POSTGRES_IMAGE: container $round OK ($out via $ip), clean stop in $((SECONDS - t0))s"
        docker rm "$c" >/dev/null
    done
    ! grep -q 'initialising' <<<"$logs" ||
        die "$POSTGRES_IMAGE: a new container on the existing volume re-initialised the data directory"
    docker volume rm "$vol" >/dev/null
}

build_postgres() {
    once postgres || return 0
    local recipe
    recipe=$POSTGRES_RECIPE/$BASE_RECIPE/$BASE_ROOTFS_RECIPE/$(files_hash postgres)
    if ! forced postgres && image_current "$POSTGRES_IMAGE" "$recipe"; then
        log "$POSTGRES_IMAGE up to date ($(image_size "$POSTGRES_IMAGE"))"
        return 0
    fi
    build_base
    local start=$SECONDS old
    old=$(image_id "$POSTGRES_IMAGE")
    log "building $POSTGRES_IMAGE"
    docker_build postgres "$POSTGRES_IMAGE" "$BASE_IMAGE" "$recipe" windlass-postgres-entrypoint
    unverified=$POSTGRES_IMAGE
    verify_postgres
    unverified=""
    remove_replaced "$old" "$POSTGRES_IMAGE"
    log "$POSTGRES_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$POSTGRES_IMAGE"), of which the base $(image_size "$BASE_IMAGE"))"
}

# ------------------------------------------------------------------------------------------------
# local/windlass-demo-api:1

# Started before its database exists, the api must serve, answer 503 on /healthz and 200 on
# /livez (and log that it retries); once PostgreSQL is up, 200; a visit posted must be listed; /api/info must
# show APP_REVISION; docker stop must end it at once with status 0. A missing or malformed
# DATABASE_URL must stop it with status 2 and a message naming the variable.
verify_demo_api() {
    smoke_network
    local api=http://api:8080 out deadline
    smoke_run api -e DATABASE_URL='postgres://app:p%40ss@db:5432/app' -e APP_REVISION=smoke-1 \
        "$DEMO_API_IMAGE" >/dev/null
    deadline=$((SECONDS + 20))
    while :; do
        out=$(http "$api/healthz") && die "$DEMO_API_IMAGE: /healthz answered 2xx without a database: $out"
        case $out in
            *" 503 "*) break ;;
            "" | *refused*) ;; # not listening yet
            *)
                docker logs "$smoke_prefix-api" 2>&1 | tail -n 20 >&2
                die "$DEMO_API_IMAGE: /healthz without a database: expected 503, got '$out'"
                ;;
        esac
        [ "$SECONDS" -lt "$deadline" ] || die "$DEMO_API_IMAGE: not listening on :8080 after 20s"
        sleep 0.3
    done
    out=$(http "$api/livez") || die "$DEMO_API_IMAGE: GET /livez without a database must answer 200, got '$out'"
    out=$(http "$api/api/info") || die "$DEMO_API_IMAGE: GET /api/info failed: $out"
    grep -q '"revision": "smoke-1"' <<<"$out" || die "$DEMO_API_IMAGE: /api/info lacks APP_REVISION: $out"

    smoke_run db -e POSTGRES_USER=app -e POSTGRES_PASSWORD=p@ss -e POSTGRES_DB=app "$POSTGRES_IMAGE" >/dev/null
    wait_for 60 "$DEMO_API_IMAGE /healthz to answer 200 once PostgreSQL is up" http "$api/healthz" || {
        docker logs "$smoke_prefix-api" 2>&1 | tail -n 20 >&2
        die "$DEMO_API_IMAGE: /healthz never answered 200"
    }
    out=$(http --post-data 'note=smoke+test' "$api/api/visits") || die "$DEMO_API_IMAGE: POST /api/visits failed: $out"
    grep -q '"note": "smoke test"' <<<"$out" || die "$DEMO_API_IMAGE: POST /api/visits answered '$out'"
    out=$(http "$api/api/visits") || die "$DEMO_API_IMAGE: GET /api/visits failed: $out"
    grep -q '"note": "smoke test"' <<<"$out" || die "$DEMO_API_IMAGE: GET /api/visits lacks the visit: $out"
    docker logs "$smoke_prefix-api" 2>&1 | grep -q 'retrying' ||
        die "$DEMO_API_IMAGE: no 'retrying' in its log while the database was missing"
    log "$DEMO_API_IMAGE: 503 without a database, 200 with it, visit written and listed"
    local url code
    for url in "" "not a url"; do
        code=0
        out=$(docker run --rm -e DATABASE_URL="$url" "$DEMO_API_IMAGE" 2>&1) || code=$?
        if [ "$code" != 2 ] || ! grep -q 'error: DATABASE_URL' <<<"$out"; then
            die "$DEMO_API_IMAGE: DATABASE_URL='$url' should exit 2 naming DATABASE_URL; got $code: $out"
        fi
    done
    check_quick_stop api 3 "$DEMO_API_IMAGE"
    smoke_rm api
    smoke_rm db
}

build_demo_api() {
    once demo-api || return 0
    local recipe
    recipe=$DEMO_API_RECIPE/$BASE_RECIPE/$BASE_ROOTFS_RECIPE/$(files_hash demo-api)
    if ! forced demo-api && image_current "$DEMO_API_IMAGE" "$recipe"; then
        log "$DEMO_API_IMAGE up to date ($(image_size "$DEMO_API_IMAGE"))"
        return 0
    fi
    build_base
    build_postgres # its smoke test runs against the real database
    local start=$SECONDS old
    old=$(image_id "$DEMO_API_IMAGE")
    log "building $DEMO_API_IMAGE"
    docker_build demo-api "$DEMO_API_IMAGE" "$BASE_IMAGE" "$recipe"
    unverified=$DEMO_API_IMAGE
    verify_demo_api
    unverified=""
    remove_replaced "$old" "$DEMO_API_IMAGE"
    log "$DEMO_API_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$DEMO_API_IMAGE"), of which the base $(image_size "$BASE_IMAGE"))"
}

# ------------------------------------------------------------------------------------------------
# local/windlass-demo-web:1

# Against a fake backend (busybox httpd serving fixed /api/visits and /api/info files): the page
# shows the row, HTML-escaped, and the backend's revision; a POST, which the fake refuses, is a
# 502; with the backend gone the page still answers 200 and says so; docker stop is quick.
verify_demo_web() {
    smoke_network
    local web=http://web/ out
    # shellcheck disable=SC2016 # expanded by the fake backend's shell
    smoke_run api "$BUSYBOX_IMAGE" sh -c 'mkdir -p /www/api &&
        printf "%s\n" "[" "{\"at\": \"2000-01-01T00:00:00+00:00\", \"id\": 7, \"note\": \"smoke <row>\", \"served_by\": \"fake\"}" "]" >/www/api/visits &&
        printf "%s\n" "{\"hostname\": \"fake\", \"revision\": \"smoke-2\"}" >/www/api/info &&
        exec httpd -f -p 8080 -h /www' >/dev/null
    smoke_run web "$DEMO_WEB_IMAGE" >/dev/null
    wait_for 20 "$DEMO_WEB_IMAGE to answer GET /" http "$web" || {
        docker logs "$smoke_prefix-web" 2>&1 | tail -n 20 >&2
        die "$DEMO_WEB_IMAGE: GET / never answered: $(http "$web")"
    }
    out=$(http "$web")
    grep -q 'smoke &lt;row&gt;' <<<"$out" || die "$DEMO_WEB_IMAGE: the page lacks the backend's row (escaped): $out"
    grep -q 'from PostgreSQL): 1<' <<<"$out" || die "$DEMO_WEB_IMAGE: the page does not count 1 visit: $out"
    grep -q 'smoke-2' <<<"$out" || die "$DEMO_WEB_IMAGE: the page lacks the backend's revision: $out"
    out=$(http --post-data 'x=1' "$web") && die "$DEMO_WEB_IMAGE: POST / succeeded against a backend that refuses it: $out"
    grep -q 502 <<<"$out" || die "$DEMO_WEB_IMAGE: POST / to a refusing backend: expected 502, got '$out'"
    smoke_rm api
    out=$(http "$web") || die "$DEMO_WEB_IMAGE: GET / without a backend must still answer 200, got '$out'"
    grep -q 'Backend unavailable' <<<"$out" || die "$DEMO_WEB_IMAGE: the page does not say the backend is unavailable: $out"
    log "$DEMO_WEB_IMAGE: page from the backend's rows, 502 on a refused POST, 200 without a backend"
    check_quick_stop web 3 "$DEMO_WEB_IMAGE"
    smoke_rm web
}

build_demo_web() {
    once demo-web || return 0
    local recipe
    recipe=$DEMO_WEB_RECIPE/$BUSYBOX_RECIPE/$(files_hash demo-web)
    if ! forced demo-web && image_current "$DEMO_WEB_IMAGE" "$recipe"; then
        log "$DEMO_WEB_IMAGE up to date ($(image_size "$DEMO_WEB_IMAGE"))"
        return 0
    fi
    build_busybox
    local start=$SECONDS old
    old=$(image_id "$DEMO_WEB_IMAGE")
    log "building $DEMO_WEB_IMAGE"
    docker_build demo-web "$DEMO_WEB_IMAGE" "$BUSYBOX_IMAGE" "$recipe" windlass-demo-web www/cgi-bin/index.cgi
    unverified=$DEMO_WEB_IMAGE
    verify_demo_web
    unverified=""
    remove_replaced "$old" "$DEMO_WEB_IMAGE"
    log "$DEMO_WEB_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$DEMO_WEB_IMAGE"))"
}

# ------------------------------------------------------------------------------------------------
# windlass-test/python:3, windlass-test/node:18 and windlass-test/nix:2, the bases of the build
# tests' plans

build_python() {
    once python || return 0
    local recipe
    recipe=$PYTHON_RECIPE/$BASE_RECIPE/$BASE_ROOTFS_RECIPE/$(files_hash python)
    if ! forced python && image_current "$PYTHON_IMAGE" "$recipe"; then
        log "$PYTHON_IMAGE up to date ($(image_size "$PYTHON_IMAGE"))"
        return 0
    fi
    build_base
    local start=$SECONDS old out
    old=$(image_id "$PYTHON_IMAGE")
    log "building $PYTHON_IMAGE"
    docker_build python "$PYTHON_IMAGE" "$BASE_IMAGE" "$recipe"
    unverified=$PYTHON_IMAGE
    out=$(docker run --rm "$PYTHON_IMAGE" python3 -c 'import http.server, sys; print(sys.version_info[0])') ||
        die "$PYTHON_IMAGE: python3 does not run"
    [ "$out" = 3 ] || die "$PYTHON_IMAGE: expected Python 3, got '$out'"
    unverified=""
    remove_replaced "$old" "$PYTHON_IMAGE"
    log "$PYTHON_IMAGE built and verified in $((SECONDS - start))s ($(image_size "$PYTHON_IMAGE"))"
}

# build_apt_image NAME IMAGE RECIPE WHAT VERIFY: IMAGE from images/NAME on the base, whose RUN
# installs WHAT with apt from the Debian mirror the host's apt uses (the build reaches it from
# the host's network, as debootstrap does); VERIFY, a function, smoke tests the new image.
build_apt_image() {
    local name=$1 image=$2 recipe what=$4 verify=$5
    once "$name" || return 0
    recipe=$3/$BASE_RECIPE/$BASE_ROOTFS_RECIPE/$(files_hash "$name")
    if ! forced "$name" && image_current "$image" "$recipe"; then
        log "$image up to date ($(image_size "$image"))"
        return 0
    fi
    build_base
    local start=$SECONDS old mirror
    old=$(image_id "$image")
    mirror=$(debian_mirror) || die "no Debian mirror for $SUITE in apt's configuration; set WINDLASS_DEBIAN_MIRROR"
    log "building $image ($what from $mirror)"
    build_opts=(--network host --build-arg "MIRROR=$mirror")
    docker_build "$name" "$image" "$BASE_IMAGE" "$recipe"
    build_opts=()
    unverified=$image
    "$verify"
    unverified=""
    remove_replaced "$old" "$image"
    log "$image built and verified in $((SECONDS - start))s ($(image_size "$image"))"
}

verify_node() {
    local out
    out=$(docker run --rm "$NODE_IMAGE" node -e 'require("http"); console.log(process.versions.node.split(".")[0])') ||
        die "$NODE_IMAGE: node does not run"
    [ "$out" = 18 ] || die "$NODE_IMAGE: expected Node.js 18, got '$out'"
}

verify_nix() {
    local out
    # A derivation that needs no download, built in a throwaway store: Nix works in a container.
    out=$(docker run --rm "$NIX_IMAGE" sh -c 'nix-build -E "derivation { name = \"smoke\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"echo ok > \$out\" ]; }" --no-out-link | xargs cat') ||
        die "$NIX_IMAGE: nix-build does not run"
    [ "$out" = ok ] || die "$NIX_IMAGE: the smoke derivation gave '$out', expected 'ok'"
}

build_node() { build_apt_image node "$NODE_IMAGE" "$NODE_RECIPE" nodejs verify_node; }
build_nix() { build_apt_image nix "$NIX_IMAGE" "$NIX_RECIPE" nix-bin verify_nix; }

for t in "${targets[@]}"; do
    "build_${t//-/_}"
done
