#!/usr/bin/env bash
# Runs the Redis tests against real servers: a standalone redis-server and a 3-master Redis Cluster
# (no replicas), on loopback ports, in a temporary directory, stopped again on exit.
#
#   bash .ci/redis.sh                 # start servers, run the Redis tests, stop servers
#   bash .ci/redis.sh -- <command>    # start servers, run <command> instead (e.g. a benchmark)
#
# Ports: MUTESTORE_REDIS_PORT (default 16379) for the standalone server, and the three after
# MUTESTORE_REDIS_CLUSTER_PORT (default 17000: 17000, 17001, 17002) for the Cluster. The tests read
#   MUTESTORE_REDIS_URL            redis://127.0.0.1:<port>
#   MUTESTORE_REDIS_CLUSTER_NODES  comma-separated node URLs
#   MUTESTORE_REDIS_SERVER         the redis-server binary, for the tests that start their own
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

standalone_port="${MUTESTORE_REDIS_PORT:-16379}"
cluster_port="${MUTESTORE_REDIS_CLUSTER_PORT:-17000}"
cluster_ports=("$cluster_port" "$((cluster_port + 1))" "$((cluster_port + 2))")

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "== installing redis-server from the OS packages"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
fi
redis-server --version

workdir="$(mktemp -d -t mutestore-redis.XXXXXX)"
started_ports=()

stop_servers() {
    local status=$?
    for port in "${started_ports[@]}"; do
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$workdir"
    exit "$status"
}
trap stop_servers EXIT

wait_for_ping() {
    local port=$1
    for _ in $(seq 1 100); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then return 0; fi
        sleep 0.1
    done
    echo "redis-server on port $port did not start; its log:" >&2
    cat "$workdir/$port/redis.log" >&2 || true
    return 1
}

start_server() {
    local port=$1
    shift
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
        echo "port $port already answers PING: another redis-server is running there" >&2
        return 1
    fi
    mkdir -p "$workdir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$workdir/$port" \
        --save "" --appendonly no --daemonize yes \
        --logfile "$workdir/$port/redis.log" --pidfile "$workdir/$port/redis.pid" "$@"
    started_ports+=("$port")
    wait_for_ping "$port"
}

echo "== standalone redis-server on 127.0.0.1:$standalone_port"
start_server "$standalone_port"

echo "== Redis Cluster on 127.0.0.1:${cluster_ports[*]}"
for port in "${cluster_ports[@]}"; do
    start_server "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
        --cluster-node-timeout 2000
done
redis-cli --cluster create \
    "127.0.0.1:${cluster_ports[0]}" "127.0.0.1:${cluster_ports[1]}" "127.0.0.1:${cluster_ports[2]}" \
    --cluster-replicas 0 --cluster-yes >"$workdir/cluster-create.log"
cluster_ok=""
for _ in $(seq 1 100); do
    cluster_ok="yes"
    for port in "${cluster_ports[@]}"; do
        if ! redis-cli -p "$port" cluster info | grep -q "cluster_state:ok"; then cluster_ok=""; fi
    done
    if [ -n "$cluster_ok" ]; then break; fi
    sleep 0.1
done
if [ -z "$cluster_ok" ]; then
    echo "the Cluster did not reach cluster_state:ok" >&2
    cat "$workdir/cluster-create.log" >&2
    exit 1
fi

export MUTESTORE_REDIS_URL="redis://127.0.0.1:$standalone_port"
export MUTESTORE_REDIS_CLUSTER_NODES="redis://127.0.0.1:${cluster_ports[0]},redis://127.0.0.1:${cluster_ports[1]},redis://127.0.0.1:${cluster_ports[2]}"
export MUTESTORE_REDIS_SERVER="$(command -v redis-server)"
echo "MUTESTORE_REDIS_URL=$MUTESTORE_REDIS_URL"
echo "MUTESTORE_REDIS_CLUSTER_NODES=$MUTESTORE_REDIS_CLUSTER_NODES"

if [ "${1:-}" = "--" ]; then
    shift
    "$@"
else
    echo "== cargo test --features redis --test redis_store --test redis_faults --test example_server"
    cargo test --features redis --test redis_store --test redis_faults --test example_server
fi
