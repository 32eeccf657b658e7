#!/usr/bin/env bash
# The example server under load over loopback, against a trivial axum server that sends the same
# bytes (examples/fixed_body.rs), the two alternated in one run so that both see the same machine.
# Every request is the demo user's `DELETE /me/mute/demo-room` (benches/http_load.lua); the example
# server runs with --quiet (no log line per request) and --memory, each if it has that flag.
#
#   benches/http_load.sh
#
# Settings, from the environment: ROUNDS (3), DURATION seconds per run (10), THREADS of wrk (1),
# CONNECTIONS (32), SERVER_PORT (3100), FIXED_PORT (3101). wrk is installed from the OS packages if
# it is missing. Prints, per round and on average, the requests/s of each server, the example
# server's share of the baseline's, and the CPU time each server spent per request (from
# /proc/PID/stat: less sensitive than requests/s to what else runs on the machine).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
duration=${DURATION:-10}
threads=${THREADS:-1}
connections=${CONNECTIONS:-32}
server_port=${SERVER_PORT:-3100}
fixed_port=${FIXED_PORT:-3101}

if ! command -v wrk >/dev/null; then
    echo "wrk is missing: installing it from the OS packages"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y wrk
fi

cargo build --release --example server --example fixed_body
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
server=$target_dir/release/examples/server
fixed=$target_dir/release/examples/fixed_body

# The flags are passed only if this version of the server has them.
server_args=(--addr "127.0.0.1:$server_port")
server_help=$("$server" --help)
for flag in --quiet --memory; do
    if grep -q -- "$flag" <<<"$server_help"; then server_args+=("$flag"); fi
done

scratch=$(mktemp -d)
pids=()
stop_servers() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$scratch"
}
trap stop_servers EXIT

"$server" "${server_args[@]}" >"$scratch/server.log" 2>&1 &
pids+=($!)
"$fixed" --addr "127.0.0.1:$fixed_port" >"$scratch/fixed.log" 2>&1 &
pids+=($!)

# Waits until something accepts connections on port $1.
wait_for_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# The load test's request, once, on its own connection: the raw response.
fetch() {
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'DELETE /me/mute/demo-room HTTP/1.1\r\nHost: 127.0.0.1\r\nIM-CLIENT-KEY: demo-client-key\r\nIM-Authorization: demo-token\r\nConnection: close\r\n\r\n' >&3
    cat <&3
    exec 3<&-
}

# The body of a raw response.
body_of() {
    sed '1,/^\r$/d'
}

wait_for_port "$server_port"
wait_for_port "$fixed_port"
server_answer=$(fetch "$server_port")
fixed_answer=$(fetch "$fixed_port")
if [ "$(body_of <<<"$server_answer")" != "$(body_of <<<"$fixed_answer")" ] ||
    [ "$(head -n1 <<<"$server_answer")" != "$(head -n1 <<<"$fixed_answer")" ]; then
    printf 'the two servers answer differently:\n%s\n\n%s\n' "$server_answer" "$fixed_answer" >&2
    exit 1
fi
echo "Both answer: $(head -n1 <<<"$server_answer" | tr -d '\r'), $(body_of <<<"$server_answer" | tr -d '\n' | wc -c)-byte body"
echo "Example server: $server ${server_args[*]}"
echo "Baseline:       $fixed --addr 127.0.0.1:$fixed_port"
echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk: -t$threads -c$connections -d${duration}s -s benches/http_load.lua, $rounds rounds, the order alternating"
echo

# The CPU time process $1 has used so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
clock_ticks_per_second=$(getconf CLK_TCK)

# One wrk run against port $1, served by process $2, lasting $3 seconds: prints the requests/s
# and the server's CPU time per request in microseconds. Fails on any non-2xx answer or socket
# error.
run_load() {
    local before after output requests rate
    before=$(cpu_ticks "$2")
    output=$(wrk -t"$threads" -c"$connections" -d"$3s" -s benches/http_load.lua \
        "http://127.0.0.1:$1/me/mute/demo-room")
    after=$(cpu_ticks "$2")
    if grep -qE 'Non-2xx|Socket errors' <<<"$output"; then
        echo "wrk saw errors on port $1:" >&2
        echo "$output" >&2
        return 1
    fi
    rate=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' <<<"$output")
    requests=$(sed -n 's/^[[:space:]]*\([0-9]*\) requests in.*/\1/p' <<<"$output")
    awk -v rate="$rate" -v ticks=$((after - before)) -v hz="$clock_ticks_per_second" \
        -v requests="$requests" 'BEGIN { printf "%s %.2f\n", rate, ticks / hz * 1e6 / requests }'
}

server_pid=${pids[0]}
fixed_pid=${pids[1]}

# Warm-up, not counted.
run_load "$server_port" "$server_pid" 2 >/dev/null
run_load "$fixed_port" "$fixed_pid" 2 >/dev/null

printf '%-6s %16s %16s %7s %22s\n' round "example server" "fixed body" ratio "CPU us/request (both)"
results=$(mktemp -p "$scratch")
for round in $(seq "$rounds"); do
    if ((round % 2 == 1)); then
        read -r server_rate server_cpu < <(run_load "$server_port" "$server_pid" "$duration")
        read -r fixed_rate fixed_cpu < <(run_load "$fixed_port" "$fixed_pid" "$duration")
    else
        read -r fixed_rate fixed_cpu < <(run_load "$fixed_port" "$fixed_pid" "$duration")
        read -r server_rate server_cpu < <(run_load "$server_port" "$server_pid" "$duration")
    fi
    echo "$round $server_rate $fixed_rate $server_cpu $fixed_cpu" | tee -a "$results" |
        awk '{ printf "%-6s %16.0f %16.0f %6.1f%% %14.2f / %5.2f\n", $1, $2, $3, 100 * $2 / $3, $4, $5 }'
done
awk '{ s += $2; f += $3; sc += $4; fc += $5; n++ }
    END { printf "%-6s %16.0f %16.0f %6.1f%% %14.2f / %5.2f\n", "mean", s / n, f / n, 100 * s / f, sc / n, fc / n }' "$results"
