#!/usr/bin/env bash
# Makes a Docker daemon available for the tests, idempotently:
#   - installs Debian's docker.io (daemon 20.10) and busybox-static (used by build-test-images.sh)
#     if missing;
#   - if `docker info` fails, starts dockerd directly (no systemd needed), detached with setsid +
#     nohup so it outlives this script, logging to $WINDLASS_DOCKERD_LOG
#     (default /var/log/windlass-dockerd.log);
#   - waits up to 60 s for the daemon to answer.
# Already running daemon: returns in well under a second.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_LOG=${WINDLASS_DOCKERD_LOG:-/var/log/windlass-dockerd.log}
WAIT_SECONDS=60

# iproute2: runner/tests/probes.rs puts the runner in a network namespace (`ip netns`).
if pkgs_installed docker.io busybox-static iproute2 && docker_ok; then
    log "docker daemon already up ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
    exit 0
fi

require_root
apt_install docker.io busybox-static iproute2
command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"
command -v docker >/dev/null || die "docker CLI not found after installing docker.io"

if ! docker_ok; then
    # Some minimal machines have no cgroup hierarchy mounted; Debian's docker.io recommends
    # cgroupfs-mount for exactly that case.
    if ! mountpoint -q /sys/fs/cgroup && command -v cgroupfs-mount >/dev/null; then
        log "mounting cgroup hierarchies (cgroupfs-mount)"
        cgroupfs-mount || log "cgroupfs-mount failed; dockerd may not start"
    fi

    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "dockerd already running (pid $pid) but not answering yet; waiting"
    else
        log "starting dockerd (log: $DOCKERD_LOG)"
        mkdir -p "$(dirname "$DOCKERD_LOG")"
        setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
        disown || true
    fi
    if ! wait_for "$WAIT_SECONDS" "dockerd" docker info; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "docker daemon did not come up within ${WAIT_SECONDS}s (see $DOCKERD_LOG)"
    fi
fi

log "docker daemon up ($(docker info --format '{{.ServerVersion}} {{.Driver}}'))"
