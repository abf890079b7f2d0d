# Shared helpers for the scripts in scripts/. Source it; it does nothing on its own.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Logging goes to stderr so a script's stdout can carry a result (setup-postgres.sh prints the
# database URL there).

# shellcheck shell=bash

log() { printf '[%s] %s: %s\n' "$(date -u +%H:%M:%S)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, starts daemons)"
}

# True if every named Debian package is installed.
pkgs_installed() {
    local p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || return 1
        [ "$status" = installed ] || return 1
    done
}

# Installs the named Debian packages that are missing. Runs `apt-get update` at most once per
# hour across scripts (stamp file), so a CI run that calls several scripts updates once.
apt_install() {
    local missing=() p
    for p in "$@"; do pkgs_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    require_root
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
    local stamp=/var/cache/windlass/apt-updated
    mkdir -p "${stamp%/*}"
    if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
        log "apt-get update"
        apt-get update -q >&2 || die "apt-get update failed"
        touch "$stamp"
    fi
    log "apt-get install ${missing[*]}"
    apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null >&2 || die "apt-get install ${missing[*]} failed"
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.5 s until it succeeds.
wait_for() {
    local timeout=$1 what=$2; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${timeout}s waiting for $what"; return 1; }
        sleep 0.5
    done
}

docker_ok() { docker info >/dev/null 2>&1; }
