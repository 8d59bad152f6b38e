#!/usr/bin/env bash
# Bridged throughput and added latency, perch beside Mosquitto (docs/PERFORMANCE.md, round 22).
# Topology: edge broker A -> upstream Mosquitto -> edge broker B, each edge with a bridge
# `connection` to the upstream (`topic bench/# both 1`), a publisher on A and a subscriber on B:
#   perch-bridge      two perch edges (their bridges, gateway/bridge/)
#   mosquitto-bridge  two Mosquitto edges (Mosquitto's own bridge, the same connection block)
# and the direct baseline, publisher and subscriber on one broker (perch-direct,
# mosquitto-direct), for the latency the bridge adds. The upstream is Mosquitto in both
# topologies. At QoS 0 and 1: p50/p99 end-to-end latency at fixed rates (64-byte payloads), the
# highest rate that holds (a ramp: nothing lost, the rate kept, median latency under 10 ms, the
# last message in within 1 s of the step's end), and the edge brokers' CPU-seconds per message
# (/proc/PID/stat utime + stime of both edges). Every load generator run gets fresh brokers.
# Everything on 127.0.0.1, on free ports; every step is bounded in time.
#
# usage: tests/bench/run-bridge.sh [--quick] [--out FILE.md]
#   --quick     3-second fixed-rate steps and 2-second ramp steps (about 7 minutes)
#   --out FILE  where to write the markdown table (default: build-bench/bridge.md)
# Environment: PERCH_BENCH_BUILD (build directory, default build-bench), PERCH_BINARY (a perch
# built elsewhere; then only the load generator is built), MOSQUITTO (default /usr/sbin/mosquitto),
# PERCH_DURABILITY (perch's durability on the edges, default full as shipped).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PERCH_BENCH_BUILD:-$root/build-bench}
source "$root/tests/bench/bench-lib.sh"
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
quick=0
out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) quick=1 ;;
        --out) out=$2; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
out=${out:-$build/bridge.md}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPERCH_BENCH=ON > /dev/null
if [[ -n ${PERCH_BINARY:-} ]]; then
    cmake --build "$build" -j2 --target perch_loadgen > /dev/null
    perch=$PERCH_BINARY
else
    cmake --build "$build" -j2 --target perch perch_loadgen > /dev/null
    perch=$build/gateway/perch
fi
loadgen=$build/tests/bench/perch_loadgen

work=$(mktemp -d /tmp/perch-bridge.XXXXXX)
pids=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2> /dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2> /dev/null || true
    done
    pids=()
}
trap stop_all EXIT
# Started as root, Mosquitto runs as the user mosquitto: let it write its files.
if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    chmod 711 "$work"
fi

# free_port: a loopback port nobody listens on now (the kernel's choice for a bind to port 0).
free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bridge_block NAME UPSTREAM_PORT: the connection block both edges' kinds share (Mosquitto's
# syntax, which perch reads unchanged).
bridge_block() {
    printf 'connection up\naddress 127.0.0.1:%s\nremote_clientid %s\ntopic bench/# both 1\n' \
        "$2" "$1"
}

# start_mosquitto NAME PORT [UPSTREAM_PORT]: a Mosquitto (an edge bridged to UPSTREAM_PORT when
# given) on PORT; sets started_pid.
start_mosquitto() {
    local name=$1 port=$2 upstream=${3:-} dir=$work/$1
    mkdir -p "$dir/data"
    cat > "$dir/mosquitto.conf" << EOF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 1000000
persistence true
persistence_location $dir/data/
autosave_interval 1
EOF
    if [[ -n $upstream ]]; then
        bridge_block "$name" "$upstream" >> "$dir/mosquitto.conf"
    fi
    if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        chmod 755 "$dir"
        chown mosquitto "$dir/data"
    fi
    "$mosquitto" -c "$dir/mosquitto.conf" > "$dir/log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
    wait_for_port "$port"
}

# start_perch NAME PORT [UPSTREAM_PORT]: a perch (an edge bridged to UPSTREAM_PORT when given)
# on PORT, limits off as in run-compare.sh; sets started_pid.
start_perch() {
    local name=$1 port=$2 upstream=${3:-} dir=$work/$1
    mkdir -p "$dir"
    cat > "$dir/perch.conf" << EOF
listener $port 127.0.0.1
workers 1
allow_anonymous true
durability ${PERCH_DURABILITY:-full}
$(perch_unlimited_config)
data_dir $dir/data
max_output_bytes 268435456
EOF
    if [[ -n $upstream ]]; then
        bridge_block "$name" "$upstream" >> "$dir/perch.conf"
    fi
    "$perch" -c "$dir/perch.conf" > "$dir/log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
    wait_for_port "$port"
}

if [[ $quick == 1 ]]; then
    fixed_seconds=3
    ramp_seconds=2
else
    fixed_seconds=10
    ramp_seconds=3
fi
results=$work/results.txt
: > "$results"

# start_bridged KIND: fresh brokers: upstream Mosquitto and two edges of KIND (perch or
# mosquitto) bridged to it; sets endpoints (the load generator's broker arguments).
start_bridged() {
    local kind=$1 upstream_port edge_a edge_b upstream_pid pid_a
    rm -rf "$work/$kind-upstream" "$work/$kind-edge-a" "$work/$kind-edge-b"
    upstream_port=$(free_port)
    start_mosquitto "$kind-upstream" "$upstream_port"
    upstream_pid=$started_pid
    edge_a=$(free_port)
    "start_$kind" "$kind-edge-a" "$edge_a" "$upstream_port"
    pid_a=$started_pid
    edge_b=$(free_port)
    "start_$kind" "$kind-edge-b" "$edge_b" "$upstream_port"
    endpoints=(--port "$edge_a" --pid "$pid_a" --sub-port "$edge_b" --sub-pid "$started_pid"
        --upstream-pid "$upstream_pid" --name "$kind-bridge")
}

# start_direct KIND: one fresh broker of KIND, publisher and subscriber on it.
start_direct() {
    local kind=$1 port
    rm -rf "$work/$kind-direct"
    port=$(free_port)
    "start_$kind" "$kind-direct" "$port"
    endpoints=(--port "$port" --pid "$started_pid" --sub-port "$port" --sub-pid "$started_pid"
        --name "$kind-direct")
}

# measure TOPOLOGY KIND LOADGEN_ARGS...: one load generator run against fresh brokers, stopped
# after it, so that a backlog a broker could not clear never reaches another measurement.
measure() {
    local topology=$1 kind=$2
    shift 2
    "start_$topology" "$kind"
    "$loadgen" bridge "${endpoints[@]}" --payload 64 --inflight 1000 --timeout 30 "$@" |
        tee -a "$results"
    stop_all
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for qos in 0 1; do
    for setup in "bridged perch" "bridged mosquitto" "direct perch" "direct mosquitto"; do
        read -r topology kind <<< "$setup"
        measure "$topology" "$kind" --qos "$qos" --rate 1000 --duration "$ramp_seconds" \
            --ramp 1 2> "$work/$kind-$topology-ramp-qos$qos.log"
        for rate in 1000 5000; do
            measure "$topology" "$kind" --qos "$qos" --rate "$rate" --duration "$fixed_seconds"
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$results" "$out" << 'EOF'
import sys

rows = [dict(f.split("=", 1) for f in line.split()) for line in open(sys.argv[1]) if "=" in line]
table = {}
for row in rows:
    key = (row["scenario"], row["qos"], row["rate"] if row["scenario"] == "bridge" else "ramp")
    table.setdefault(key, {})[row["broker"]] = row
labels = ["perch-bridge", "mosquitto-bridge", "perch-direct", "mosquitto-direct"]
figures = [("highest_msgs_per_s", "highest rate that holds, msg/s"), ("p50_us", "latency p50 us"),
           ("p99_us", "latency p99 us"), ("edge_cpu_us_per_msg", "edge CPU us per message"),
           ("upstream_cpu_us_per_msg", "upstream CPU us per message"), ("lost", "messages lost")]
out = ["| step | figure | perch bridged | Mosquitto bridged | perch direct | Mosquitto direct "
       "| perch/Mosquitto bridged | added by perch's bridge | added by Mosquitto's bridge |",
       "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
for (scenario, qos, rate), by_label in table.items():
    step = f"QoS {qos}, " + (f"{int(rate):,} msg/s" if rate != "ramp" else "ramp")
    for field, name in figures:
        values = [by_label.get(label, {}).get(field) for label in labels]
        if all(v is None for v in values):
            continue
        if field == "upstream_cpu_us_per_msg":
            values[2] = values[3] = None
        def number(v):
            try:
                return float(v)
            except (TypeError, ValueError):
                return None
        n = [number(v) for v in values]
        ratio = f"{n[0] / n[1]:.2f}" if n[0] is not None and n[1] else "-"
        added = ["-", "-"]
        if field in ("p50_us", "p99_us", "edge_cpu_us_per_msg"):
            for i in (0, 1):
                if n[i] is not None and n[i + 2] is not None:
                    added[i] = f"{n[i] - n[i + 2]:+.0f}" if field != "edge_cpu_us_per_msg" \
                        else f"{n[i] - n[i + 2]:+.1f}"
        cells = [v if v is not None else "-" for v in values]
        out.append(f"| {step} | {name} | " + " | ".join(cells) + f" | {ratio} | " +
                   " | ".join(added) + " |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "table written to $out; ramp steps in $work/*-ramp-qos*.log"
