#!/usr/bin/env bash
# Two perch binaries side by side (a change before and after), on the fan-in and fan-out
# scenarios, in alternating runs on fresh brokers, so that a slower machine minute hits both alike.
# Prints each result line and a table of msgs per broker CPU-second, one column per run.
#
# usage: tests/bench/run-ab.sh BEFORE_PERCH AFTER_PERCH [ROUNDS]
#   ROUNDS   alternations per scenario (default 3): before, after, before, after, ...
# Environment: PERCH_BENCH_BUILD (build directory of the load generator, default build-bench),
# PERCH_LOADGEN (a perch_loadgen built elsewhere; then nothing is built), PERCH_AB_OUT (where to
# write the table, default $PERCH_BENCH_BUILD/ab.md).
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 BEFORE_PERCH AFTER_PERCH [ROUNDS]" >&2
    exit 2
fi
before=$(realpath "$1")
after=$(realpath "$2")
rounds=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/bench/bench-lib.sh"
build=${PERCH_BENCH_BUILD:-$root/build-bench}
out=${PERCH_AB_OUT:-$build/ab.md}

if [[ -n ${PERCH_LOADGEN:-} ]]; then
    loadgen=$PERCH_LOADGEN
else
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPERCH_BENCH=ON > /dev/null
    cmake --build "$build" -j2 --target perch_loadgen > /dev/null
    loadgen=$build/tests/bench/perch_loadgen
fi

work=$(mktemp -d /tmp/perch-ab.XXXXXX)
broker_pid=""
cleanup() {
    if [[ -n $broker_pid ]]; then
        kill "$broker_pid" 2> /dev/null || true
        wait "$broker_pid" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The same settings as run-compare.sh's perch-w2.
start_broker() {
    local binary=$1 port=$2 data=$work/data-$RANDOM
    cat > "$work/perch.conf" << EOF
listener $port 127.0.0.1
workers 2
allow_anonymous true
$(perch_unlimited_config)
data_dir $data
max_output_bytes 268435456
EOF
    "$binary" -c "$work/perch.conf" > "$work/broker.log" 2>&1 &
    broker_pid=$!
    wait_for_port "$port"
}

# Sized for about a broker CPU-second each: the kernel counts CPU time in 10 ms ticks.
scenarios=(
    "fan_in --mode closed --window 1000 --qos 0 --payload 16 --publishers 8 --messages 2000000"
    "fan_in --mode closed --window 1000 --qos 1 --payload 16 --publishers 8 --messages 1000000"
    "fan_in --mode closed --window 1000 --qos 0 --payload 1024 --publishers 8 --messages 1000000"
    "fan_out --qos 0 --payload 16 --subscribers 1000 --messages 2000 --window 20"
)

port=18931
declare -A figures
for scenario in "${scenarios[@]}"; do
    for round in $(seq "$rounds"); do
        for side in before after; do
            binary=$before
            [[ $side == after ]] && binary=$after
            start_broker "$binary" "$port"
            # shellcheck disable=SC2086
            line=$("$loadgen" $scenario --runs 1 --port "$port" --pid "$broker_pid" \
                --name "$side" --perf 0 --timeout 120)
            stop_broker
            echo "$line"
            rate=$(sed -n 's/.* msgs_per_cpu_s=\([0-9]*\).*/\1/p' <<< "$line")
            figures["$scenario|$side"]+="${figures["$scenario|$side"]:+ · }$rate"
            port=$((port + 1))
        done
    done
done

{
    echo "| scenario (msgs per broker CPU-second, run by run) | before | after |"
    echo "|---|---|---|"
    for scenario in "${scenarios[@]}"; do
        echo "| \`$scenario\` | ${figures["$scenario|before"]} | ${figures["$scenario|after"]} |"
    done
} | tee "$out"
