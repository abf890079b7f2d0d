#!/usr/bin/env bash
# A real three-node Docker Swarm on this one machine, and a fourth Docker engine in no swarm, for
# the swarm tests (docs/swarm.md):
#
#   netns wls-br   a Linux bridge (wlsbr0), no address; the nodes' veths and the host's veth are
#                  its ports. It lives in a namespace of its own, so bridged traffic between the
#                  nodes never meets the host's iptables (whose FORWARD policy is DROP); nothing
#                  is added to the host's firewall.
#   netns wls-n1   10.210.0.11  dockerd: swarm manager, Engine API on tcp://10.210.0.11:2375
#   netns wls-n2   10.210.0.12  dockerd: worker (tcp://10.210.0.12:2375)
#   netns wls-n3   10.210.0.13  dockerd: worker (tcp://10.210.0.13:2375)
#   netns wls-n4   10.210.0.14  dockerd in no swarm: the embedded-swarm test makes it a
#                  single-node swarm of its own through the runner (`[swarm] embedded`) and
#                  leaves that swarm again
#   host veth      wls-host 10.210.0.1/24, so the engine (and its adapter plugin) on the host
#                  reaches the manager's API and the published/dnsrr ports.
#
# Each dockerd runs under `nsenter --net=/run/netns/wls-nN` (not `ip netns exec`, which remounts
# /sys and hides the cgroup mounts) with its own --data-root, --exec-root, --pidfile, unix socket
# + TCP on its bridge IP, --containerd-namespace, --bip and --cgroup-parent; each starts its own
# containerd under its exec root. The host's Docker is never touched except to `docker save` the
# test images, which are loaded into every node (services must not pull: CI has no registry).
# Nodes all share the machine's hostname; each carries the node label windlass.harness=nN.
#
# Usage: swarm-harness.sh up [IMAGE...]   start (idempotent: a healthy harness is left as is; a
#                                          broken or half-torn one is cleaned first). IMAGE
#                                          defaults to windlass-test/busybox:1.
#        swarm-harness.sh down            stop every daemon by its pidfile, kill what is left in
#                                          the namespaces and cgroups, unmount, remove
#                                          namespaces, links and state.
#        swarm-harness.sh status          exit 0 if every daemon answers and the three swarm nodes are ready
#        swarm-harness.sh env             print the variables the tests read (also written to
#                                          /run/windlass-swarm/env by `up`)
#        swarm-harness.sh stop-node nN    stop one node's dockerd (SIGTERM by its pidfile)
#        swarm-harness.sh start-node nN   start it again (it rejoins the swarm by itself)
#
# Needs root, dockerd 20.10+ (Debian's docker.io), iproute2 and util-linux (nsenter).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Every daemon the harness runs; the first three form the swarm, n4 stays out of it.
NODES=(n1 n2 n3 n4)
SWARM_NODES=(n1 n2 n3)
BR_NS=wls-br
BRIDGE=wlsbr0
SUBNET_PREFIX=10.210.0
HOST_IF=wls-host
HOST_IP=$SUBNET_PREFIX.1
STATE=${WINDLASS_SWARM_STATE:-/run/windlass-swarm}
DATA=${WINDLASS_SWARM_DATA:-/var/lib/windlass-swarm}
ADDR_POOL=10.211.0.0/16
# How often workers report to the manager. Swarm's default (5 s) makes a stopped node `down`
# 8-11 s after it died; at 2 s it takes a few seconds, which keeps the failure tests short
# and is what the worker-heartbeat benchmark measures against (docs/swarm.md).
DISPATCHER_HEARTBEAT=2s

node_ip() { echo "$SUBNET_PREFIX.1$(node_index "$1")"; }
node_index() { echo "${1#n}"; }
node_ns() { echo "wls-$1"; }
node_sock() { echo "$STATE/$1/docker.sock"; }
node_pidfile() { echo "$STATE/$1/docker.pid"; }
ndocker() { # NODE ARGS...: the docker CLI against one node
    local n=$1
    shift
    DOCKER_HOST=unix://$(node_sock "$n") docker "$@"
}

cmd_env() {
    local n
    echo "WINDLASS_TEST_SWARM_MANAGER=$(node_ip n1):2375"
    for n in "${NODES[@]}"; do
        echo "WINDLASS_TEST_SWARM_${n^^}_SOCKET=$(node_sock "$n")"
        echo "WINDLASS_TEST_SWARM_${n^^}_ADDR=$(node_ip "$n"):2375"
    done
    echo "WINDLASS_TEST_SWARM_HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/swarm-harness.sh"
}

# --- teardown ---------------------------------------------------------------------------------

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Stops the process whose PID is in PIDFILE: TERM, then KILL after TIMEOUT seconds.
stop_pidfile() { # PIDFILE TIMEOUT
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null || true)
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + $2))
        while pid_alive "$pid" && [ $SECONDS -lt "$deadline" ]; do sleep 0.3; done
        if pid_alive "$pid"; then
            log "pid $pid ($1) did not stop in $2s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

# Every process left in the harness's cgroups (containers) and namespaces (containerd, shims).
kill_leftovers() {
    local n pids f
    for n in "${NODES[@]}"; do
        pids=""
        for f in /sys/fs/cgroup/pids/windlass-swarm-"$n" /sys/fs/cgroup/windlass-swarm-"$n"; do
            [ -d "$f" ] && pids="$pids $(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
        done
        if [ -e "/run/netns/$(node_ns "$n")" ]; then
            pids="$pids $(ip netns pids "$(node_ns "$n")" 2>/dev/null | tr '\n' ' ')"
        fi
        for f in $pids; do kill -KILL "$f" 2>/dev/null || true; done
    done
    # Their cgroups (empty now), deepest first.
    for n in "${NODES[@]}"; do
        for f in /sys/fs/cgroup/*/windlass-swarm-"$n" /sys/fs/cgroup/windlass-swarm-"$n"; do
            [ -d "$f" ] && find "$f" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        done
    done
}

unmount_under() { # DIR: every mount at or below DIR, deepest first
    local m
    awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

cmd_down() {
    require_root
    local n
    # The daemons stop in parallel (each stops its containers first).
    for n in "${NODES[@]}"; do stop_pidfile "$(node_pidfile "$n")" 20 & done
    wait
    for n in "${NODES[@]}"; do
        # The containerd each dockerd supervises (normally stopped with it).
        stop_pidfile "$STATE/$n/exec/containerd/containerd.pid" 5
    done
    kill_leftovers
    unmount_under "$STATE"
    unmount_under "$DATA"
    for n in "${NODES[@]}"; do
        ip netns del "$(node_ns "$n")" 2>/dev/null || true
    done
    ip netns del "$BR_NS" 2>/dev/null || true
    ip link del "$HOST_IF" 2>/dev/null || true
    rm -rf "$STATE" "$DATA"
    log "swarm harness down"
}

# --- bring-up ---------------------------------------------------------------------------------

setup_network() {
    ip netns add "$BR_NS"
    ip -n "$BR_NS" link set lo up
    ip -n "$BR_NS" link add "$BRIDGE" type bridge
    ip -n "$BR_NS" link set "$BRIDGE" up
    # The host's end: its peer is a bridge port.
    ip link add "$HOST_IF" type veth peer name wls-hostp
    ip link set wls-hostp netns "$BR_NS"
    ip -n "$BR_NS" link set wls-hostp master "$BRIDGE" up
    ip addr add "$HOST_IP/24" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    local n ns
    for n in "${NODES[@]}"; do
        ns=$(node_ns "$n")
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add "wls-$n-p" type veth peer name eth0 netns "$ns"
        ip link set "wls-$n-p" netns "$BR_NS"
        ip -n "$BR_NS" link set "wls-$n-p" master "$BRIDGE" up
        ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$HOST_IP"
    done
}

start_daemon() { # NODE
    local n=$1 i
    i=$(node_index "$n")
    mkdir -p "$STATE/$n/exec" "$DATA/$n"
    # setsid: the daemon outlives this script; stdout/stderr to its own log.
    setsid nsenter --net="/run/netns/$(node_ns "$n")" \
        dockerd \
        --data-root "$DATA/$n" \
        --exec-root "$STATE/$n/exec" \
        --pidfile "$(node_pidfile "$n")" \
        --host "unix://$(node_sock "$n")" \
        --host "tcp://$(node_ip "$n"):2375" \
        --containerd-namespace "wls-$n" \
        --containerd-plugins-namespace "wls-$n-plugins" \
        --bip "10.212.$i.1/24" \
        --cgroup-parent "/windlass-swarm-$n" \
        --storage-driver overlay2 \
        --log-level warn \
        </dev/null >>"$STATE/$n/dockerd.log" 2>&1 &
    wait_for 60 "dockerd $n" ndocker "$n" info || {
        tail -n 30 "$STATE/$n/dockerd.log" >&2
        die "dockerd $n did not start (log: $STATE/$n/dockerd.log)"
    }
}

swarm_ready() { # all three swarm nodes Ready and active, seen from the manager
    local out
    out=$(ndocker n1 node ls --format '{{.Status}}/{{.Availability}}' 2>/dev/null) || return 1
    [ "$(grep -c '^Ready/Active$' <<<"$out")" -eq ${#SWARM_NODES[@]} ]
}

cmd_status() {
    local n
    for n in "${NODES[@]}"; do
        [ -S "$(node_sock "$n")" ] && ndocker "$n" info >/dev/null 2>&1 || return 1
    done
    swarm_ready
}

load_images() { # IMAGE...
    local img n
    for img in "$@"; do
        docker image inspect "$img" >/dev/null 2>&1 ||
            die "image $img not on the host's docker (scripts/build-test-images.sh builds the test images)"
        for n in "${NODES[@]}"; do
            docker save "$img" | ndocker "$n" load -q >/dev/null || die "loading $img into $n failed"
        done
        log "loaded $img into ${NODES[*]}"
    done
}

cmd_up() {
    require_root
    command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
    command -v nsenter >/dev/null || die "nsenter not found (util-linux)"
    local images=("$@")
    [ ${#images[@]} -gt 0 ] || images=(windlass-test/busybox:1)
    if cmd_status; then
        log "swarm harness already up"
        ndocker n1 swarm update --dispatcher-heartbeat "$DISPATCHER_HEARTBEAT" >/dev/null
        load_images "${images[@]}"
        cmd_env >"$STATE/env"
        return 0
    fi
    local start=$SECONDS
    log "cleaning leftovers of an earlier run (if any)"
    cmd_down 2>/dev/null
    mkdir -p "$STATE" "$DATA"
    setup_network
    local n
    for n in "${NODES[@]}"; do start_daemon "$n"; done
    ndocker n1 swarm init --advertise-addr "$(node_ip n1)" --listen-addr "$(node_ip n1):2377" \
        --default-addr-pool "$ADDR_POOL" --dispatcher-heartbeat "$DISPATCHER_HEARTBEAT" >/dev/null
    local token
    token=$(ndocker n1 swarm join-token -q worker)
    for n in "${SWARM_NODES[@]:1}"; do
        ndocker "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" \
            --listen-addr "$(node_ip "$n"):2377" "$(node_ip n1):2377" >/dev/null
    done
    wait_for 60 "three Ready nodes" swarm_ready || {
        ndocker n1 node ls >&2 || true
        die "the swarm did not get three Ready nodes"
    }
    # Nodes share a hostname: label them for tests and humans.
    for n in "${SWARM_NODES[@]}"; do
        ndocker n1 node update --label-add "windlass.harness=$n" "$(ndocker "$n" info --format '{{.Swarm.NodeID}}')" >/dev/null
    done
    load_images "${images[@]}"
    cmd_env >"$STATE/env"
    log "swarm harness up in $((SECONDS - start))s: manager tcp://$(node_ip n1):2375 ($STATE/env)"
}

cmd_stop_node() {
    require_root
    local n=${1:?node}
    stop_pidfile "$(node_pidfile "$n")" 30
    log "dockerd $n stopped"
}

cmd_start_node() {
    require_root
    local n=${1:?node}
    [ -e "/run/netns/$(node_ns "$n")" ] || die "harness not up (no netns $(node_ns "$n"))"
    pid_alive "$(cat "$(node_pidfile "$n")" 2>/dev/null || true)" && return 0
    start_daemon "$n"
    log "dockerd $n started"
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    stop-node) cmd_stop_node "${2:-}" ;;
    start-node) cmd_start_node "${2:-}" ;;
    -h | --help | "") sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; [ -n "${1:-}" ] ;;
    *) die "unknown command '$1' (up|down|status|env|stop-node|start-node)" ;;
esac
