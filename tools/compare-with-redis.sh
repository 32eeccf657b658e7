#!/usr/bin/env bash
# DurableStore in Durability::Sync against Redis with `appendonly yes, appendfsync always`, on the
# same disk, interleaved at each concurrency so both see the same background load.
#
#   tools/compare-with-redis.sh [ROUNDS] [DATA_PARENT_DIR]
#
# Needs redis-server and redis-benchmark (Debian: apt-get install redis-server redis-tools). Redis
# runs on port 6391 with its data in a temporary directory under DATA_PARENT_DIR (default: the
# repository's parent), which should be on the disk the store will use.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
parent=${2:-..}
redis_dir=$(mktemp -d "$parent/redis-compare-XXXX")
redis-server --port 6391 --dir "$redis_dir" --appendonly yes --appendfsync always --save '' \
  --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
trap 'kill "$(cat "$redis_dir/redis.pid")"; sleep 1; rm -rf "$redis_dir"' EXIT
sleep 1
cargo bench --bench durable --no-run 2>/dev/null
for round in $(seq "$rounds"); do
  for clients in 1 50; do
    requests=$([ "$clients" = 1 ] && echo 20000 || echo 200000)
    redis=$(redis-benchmark -p 6391 -t set -n "$requests" -c "$clients" -r 1000000 -d 30 --csv \
      | tail -1 | cut -d, -f2 | tr -d '"')
    store=$(cargo bench --bench durable -- "writes/sync/${clients}_writers" 2>&1 \
      | awk '/thrpt/ && !seen { seen = 1; sub(/.*\[/, ""); sub(/\]/, ""); print }')
    echo "round $round, $clients writer(s), load $(cut -d' ' -f1 /proc/loadavg):" \
      "redis SET $redis req/s; DurableStore [$store] (low, estimate, high)"
  done
done
