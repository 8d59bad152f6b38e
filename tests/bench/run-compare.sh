#!/usr/bin/env bash
# Runs every load-generator scenario against perch (1 and 2 workers) and Mosquitto on loopback in
# one run, prints each result line, and writes a markdown table with the ratios perch/Mosquitto.
#
# usage: tests/bench/run-compare.sh [--quick] [--chat] [--out FILE.md] [--callgrind]
#   --quick      smaller counts and one run per scenario (under 3 minutes; chat: 500 users)
#   --out FILE   where to write the markdown table (default: build-bench/compare.md)
#   --chat       only the chat scenario (19,000 users; with --quick 500)
#   --callgrind  instead of the comparison, run perch under valgrind --tool=callgrind for a fixed
#                fan-in and fan-out and print instructions per delivered message and hot spots
# Environment: PERCH_BENCH_BUILD (build directory, default build-bench), PERCH_BINARY (a perch
# built elsewhere, e.g. from a clean export of a commit; then only the load generator is built),
# MOSQUITTO (default /usr/sbin/mosquitto), PERCH_CHAT_PRESENCE (chat: perch's presence setting,
# default true, as shipped), PERCH_CHAT_RAMP_FACTOR (chat: the ramp's step, default 2; 1.25
# finds the highest rate more finely).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PERCH_BENCH_BUILD:-$root/build-bench}
source "$root/tests/bench/bench-lib.sh"
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
quick=0
callgrind=0
chat_only=0
out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) quick=1 ;;
        --chat) chat_only=1 ;;
        --callgrind) callgrind=1 ;;
        --out) out=$2; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
out=${out:-$build/compare.md}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPERCH_BENCH=ON -DPERCH_BUILD_TESTS=ON \
    > /dev/null
if [[ -n ${PERCH_BINARY:-} ]]; then
    cmake --build "$build" -j2 --target perch_loadgen > /dev/null
    perch=$PERCH_BINARY
else
    cmake --build "$build" -j2 --target perch perch_loadgen > /dev/null
    perch=$build/gateway/perch
fi
loadgen=$build/tests/bench/perch_loadgen

# Connections need descriptors on both sides; take the hard limit.
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/perch-compare.XXXXXX)
broker_pid=""
trap stop_broker_at_exit EXIT

perf_flag=0
if command -v perf > /dev/null && perf stat -e raw_syscalls:sys_enter -- true > /dev/null 2>&1; then
    perf_flag=1
fi

# start_broker NAME PORT: starts the broker NAME (perch-w1, perch-w2, mosquitto) on PORT.
start_broker() {
    local name=$1 port=$2 config=$work/$1.conf
    case $name in
        perch-w*)
            cat > "$config" << EOF
listener $port 127.0.0.1
workers ${name#perch-w}
allow_anonymous true
$(perch_unlimited_config)
data_dir $work/$name-data
max_output_bytes 268435456
EOF
            ${BROKER_WRAPPER:-} "$perch" -c "$config" > "$work/$name.log" 2>&1 &
            ;;
        mosquitto)
            cat > "$config" << EOF
listener $port 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 1000000
persistence true
persistence_location $work/mosquitto-data/
autosave_interval 1
EOF
            mkdir -p "$work/mosquitto-data"
            "$mosquitto" -c "$config" > "$work/$name.log" 2>&1 &
            ;;
    esac
    broker_pid=$!
    wait_for_port "$port"
}

# The scenarios: loadgen arguments, one line each. Counts are sized so that the slowest broker
# finishes each within the time budget. Idle comes first, on a fresh broker: memory freed by
# earlier scenarios would otherwise be reused and hide the growth per connection.
if [[ $quick == 1 ]]; then
    runs=1
    scenarios=(
        "idle --connections 5000"
        "fan_in --mode flat --qos 0 --payload 16 --publishers 8 --messages 100000"
        "fan_in --mode flat --qos 1 --payload 16 --publishers 8 --messages 50000"
        "fan_in --mode flat --qos 0 --payload 1024 --publishers 8 --messages 50000"
        "fan_in --mode closed --window 1000 --qos 1 --payload 16 --publishers 8 --messages 50000"
        "fan_in --mqtt 5 --mode flat --qos 0 --payload 16 --publishers 8 --messages 100000"
        "fan_out --qos 0 --payload 16 --subscribers 1000 --messages 200 --window 20"
        "fan_out --mqtt 5 --qos 0 --payload 16 --subscribers 1000 --messages 200 --window 20"
        "offline --subscribers 10 --publishers 4 --messages 1000"
        "rooms --qos 0 --payload 64 --rooms 100 --members 10 --rate 2 --duration 3"
    )
else
    runs=3
    scenarios=(
        "idle --connections 19000"
        "fan_in --mode flat --qos 0 --payload 16 --publishers 8 --messages 300000"
        "fan_in --mode flat --qos 1 --payload 16 --publishers 8 --messages 150000"
        "fan_in --mode flat --qos 0 --payload 1024 --publishers 8 --messages 150000"
        "fan_in --mode flat --qos 1 --payload 1024 --publishers 8 --messages 100000"
        "fan_in --mode closed --window 1000 --qos 0 --payload 16 --publishers 8 --messages 150000"
        "fan_in --mode closed --window 1000 --qos 1 --payload 16 --publishers 8 --messages 100000"
        "fan_out --qos 0 --payload 16 --subscribers 1000 --messages 500 --window 20"
        "fan_out --qos 1 --payload 16 --subscribers 1000 --messages 200 --window 20"
        "fan_in --mqtt 5 --mode flat --qos 0 --payload 16 --publishers 8 --messages 300000"
        "fan_in --mqtt 5 --mode flat --qos 1 --payload 16 --publishers 8 --messages 150000"
        "fan_in --mqtt 5 --mode flat --qos 0 --payload 1024 --publishers 8 --messages 150000"
        "fan_out --mqtt 5 --qos 0 --payload 16 --subscribers 1000 --messages 500 --window 20"
        "offline --subscribers 10 --publishers 4 --messages 2000"
        "rooms --qos 0 --payload 64 --rooms 100 --members 10 --rate 2 --duration 10"
        "rooms --qos 1 --payload 64 --rooms 100 --members 10 --rate 2 --duration 10"
    )
fi

if [[ $callgrind == 1 ]]; then
    # Instructions per delivered message: total Ir of a run with N messages minus that of the same
    # set-up with 1 message, divided by the extra deliveries the load generator counted.
    measure() {
        local label=$1 messages=$2 port=18839
        shift 2
        local totals=() delivered=()
        for count in 1 "$messages"; do
            local profile=$work/$label-$count.out
            # Both runs start from an empty store, so that its creation cancels out.
            rm -rf "$work/perch-w1-data"
            BROKER_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$profile" \
                start_broker perch-w1 "$port"
            sleep 2
            local line
            line=$("$loadgen" "$@" --messages "$count" --port "$port" --pid "$broker_pid" \
                --name perch-w1-callgrind --runs 1 --timeout 300)
            echo "$line"
            stop_broker
            delivered+=("$(sed -n 's/.* delivered=\([0-9]*\).*/\1/p' <<< "$line")")
            totals+=("$(awk '/^(summary|totals):/ { total = $2 } END { print total }' \
                "$work/$label-$count.out")")
        done
        local extra=$((delivered[1] - delivered[0]))
        echo "callgrind $label: Ir ${totals[0]} (${delivered[0]} deliveries)" \
            "${totals[1]} (${delivered[1]} deliveries); Ir per delivered message:" \
            "$(((totals[1] - totals[0]) / extra))"
        callgrind_annotate "$work/$label-$messages.out" 2> /dev/null | sed -n '1,60p' \
            > "$build/callgrind-$label.txt"
        cp "$work/$label-$messages.out" "$build/callgrind-$label.out"
        echo "  top functions: $build/callgrind-$label.txt"
    }
    # Closed loop, so that no message is dropped while valgrind slows the broker down.
    measure fan_in_qos0 100000 fan_in --mode closed --window 1000 --qos 0 --payload 16 \
        --publishers 8
    measure fan_in_qos1 50000 fan_in --mode closed --window 1000 --qos 1 --payload 16 \
        --publishers 8
    measure fan_out_qos0 200 fan_out --qos 0 --payload 16 --subscribers 1000 --window 20
    exit 0
fi

results=$work/results.txt
port=18831
brokers=(perch-w1 perch-w2 mosquitto)
if [[ $chat_only == 1 ]]; then
    brokers=()
    : > "$results"
fi
for broker in "${brokers[@]}"; do
    start_broker "$broker" "$port"
    for scenario in "${scenarios[@]}"; do
        # Idle and rooms run once (rooms for 10 s). perf would slow every broker system call
        # and so inflate latencies: rooms runs without it.
        scenario_runs=$runs
        scenario_perf=$perf_flag
        if [[ $scenario == idle* || $scenario == rooms* || $scenario == offline* ]]; then
            scenario_runs=1
        fi
        if [[ $scenario == rooms* ]]; then
            scenario_perf=0
        fi
        # shellcheck disable=SC2086
        "$loadgen" $scenario --runs "$scenario_runs" --port "$port" --pid "$broker_pid" \
            --name "$broker" --perf "$scenario_perf" --timeout 60 | tee -a "$results"
    done
    stop_broker
    port=$((port + 1))
done

# Chat: authenticated users with persistent sessions in rooms of 20, QoS 1, the store on. perch
# (2 workers) gets its users and rooms from `perch user import` and `perch room import` into a
# fresh data directory and runs at durability full with anonymous clients refused; its chat layer
# subscribes every user to its room and keeps history. Mosquitto has no chat layer: it checks the
# same password file, keeps persistent sessions (persistence true, saved every second), and the
# load generator subscribes each user to chat/room/{room}/+ with No Local. User uK's password is
# pw-K. Both brokers check the same hashes, made by mosquitto_passwd with its 101 PBKDF2
# iterations: perch's `password_iterations 101` keeps it from rehashing each one at its default
# of 210,000 on the first login (0.2 s of CPU per user, docs/CHAT.md "Device tokens"), which would
# make the login storm measure the hash instead of the broker. perch runs with presence on (its default; PERCH_CHAT_PRESENCE=false turns it off, as the
# round-2 figures in docs/PERFORMANCE.md were taken).
run_chat() {
    local users=$1 duration=$2 chat_runs=$3 ramp=$4 port=$5
    local dir=$work/chat
    rm -rf "$dir"
    mkdir -p "$dir"
    write_chat_users "$users" "$dir"
    import_chat_users "$perch" "$dir" "$dir/perch-data"
    local common=(--users "$users" --room-size 20 --mqtt 5 --payload 64 --window 1000
        --password pw- --perf 0 --timeout 150)
    for broker in perch-w2 mosquitto; do
        local config=$dir/$broker.conf extra=()
        if [[ $broker == mosquitto ]]; then
            write_mosquitto_chat_config "$port" "$dir" "$config"
            if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
                chmod 711 "$work"
            fi
            "$mosquitto" -c "$config" > "$dir/$broker.log" 2>&1 &
            extra=(--subscribe 1)
        else
            cat > "$config" << EOF
listener $port 127.0.0.1
workers 2
allow_anonymous false
persistence true
durability full
data_dir $dir/perch-data
presence ${PERCH_CHAT_PRESENCE:-true}
$(perch_unlimited_config)
password_iterations 101
EOF
            "$perch" -c "$config" > "$dir/$broker.log" 2>&1 &
        fi
        broker_pid=$!
        wait_for_port "$port"
        "$loadgen" chat "${common[@]}" "${extra[@]}" --runs "$chat_runs" --duration "$duration" \
            --port "$port" --pid "$broker_pid" --name "$broker" | tee -a "$results"
        if [[ $ramp == 1 ]]; then
            "$loadgen" chat "${common[@]}" "${extra[@]}" --ramp 1 \
                --ramp-factor "${PERCH_CHAT_RAMP_FACTOR:-2}" --duration 10 --port "$port" \
                --pid "$broker_pid" --name "$broker" | tee -a "$results"
        fi
        stop_broker
        port=$((port + 1))
    done
}
if [[ $quick == 1 ]]; then
    run_chat 500 10 1 0 "$port"
else
    run_chat 19000 60 3 1 "$port"
fi

python3 - "$results" "$out" << 'EOF'
import sys

lines = [dict(f.split("=", 1) for f in l.split()) for l in open(sys.argv[1]) if "=" in l]
measured = {"broker", "runs", "unit", "median", "min", "max", "delivered", "lost",
            "broker_cpu_s", "broker_syscalls", "msgs_per_cpu_s", "syscalls_per_msg",
            "loadgen_cpu_s", "all_syscalls", "all_syscalls_per_msg", "p50_us", "p99_us",
            "p999_us", "max_us", "disk_bytes_per_msg", "logins_per_s", "login_failures",
            "disk_bytes_per_sent", "unacknowledged", "rss_start_mb", "rss_logged_in_mb",
            "rss_end_mb", "highest_total_msgs_per_s"}
brokers = ["perch-w1", "perch-w2", "mosquitto"]
order, table = [], {}
for l in lines:
    key = " ".join(f"{k}={v}" for k, v in l.items() if k not in measured)
    if key not in table:
        order.append(key)
        table[key] = {}
    table[key][l["broker"]] = l
figures = [("median", "{unit} (median)"), ("min", "{unit} (min)"), ("max", "{unit} (max)"),
           ("msgs_per_cpu_s", "messages per broker CPU-second"),
           ("broker_cpu_s", "broker CPU seconds"), ("lost", "messages lost"),
           ("all_syscalls_per_msg", "broker syscalls per message (perf, all calls)"),
           ("syscalls_per_msg", "broker syscr+syscw per message (/proc/PID/io)"),
           ("loadgen_cpu_s", "load generator CPU seconds"),
           ("disk_bytes_per_msg", "broker bytes written to storage per message (/proc/PID/io)"),
           ("p50_us", "latency p50 us"), ("p99_us", "latency p99 us"),
           ("p999_us", "latency p99.9 us"), ("max_us", "latency max us"),
           ("logins_per_s", "logins per second (login storm)"),
           ("login_failures", "logins failed"),
           ("unacknowledged", "QoS 1 publishes never acknowledged"),
           ("disk_bytes_per_sent", "broker bytes written to storage per message sent"),
           ("rss_start_mb", "broker VmRSS MiB before the login storm"),
           ("rss_logged_in_mb", "broker VmRSS MiB with every user logged in"),
           ("rss_end_mb", "broker VmRSS MiB after chatting"),
           ("highest_total_msgs_per_s", "messages/s in at the highest rate holding p99 < 10 ms")]
out = ["| scenario | figure | perch w1 | perch w2 | mosquitto | w1/mosq | w2/mosq |",
       "|---|---|---:|---:|---:|---:|---:|"]
for key in order:
    row = table[key]
    any_line = next(iter(row.values()))
    for field, label in figures:
        if field not in any_line:
            continue
        if key.startswith("scenario=idle") and field not in ("median", "lost", "loadgen_cpu_s"):
            continue
        values = [row.get(b, {}).get(field) for b in brokers]
        def ratio(v):
            try:
                return f"{float(v) / float(values[2]):.2f}"
            except (TypeError, ValueError, ZeroDivisionError):
                return "-"
        cells = [v if v is not None else "-" for v in values]
        out.append(f"| {key} | {label.format(unit=any_line['unit'])} | " + " | ".join(cells) +
                   f" | {ratio(values[0])} | {ratio(values[1])} |")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "table written to $out"
