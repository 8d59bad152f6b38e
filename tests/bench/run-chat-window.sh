#!/usr/bin/env bash
# One broker under the chat scenario, measured over a window in the middle of the chatting (issue
# 19, docs/PERFORMANCE.md round 25): the users log in, chat for 45 s at RATE messages a second
# each, and from 20 s to 35 s the script takes the broker's CPU time (utime + stime from
# /proc/PID/stat) and, on request, its system calls (perf stat), a CPU profile (perf record) or
# glibc's heap figures (malloc_stats through gdb). perch is set up as run-compare.sh's chat (users
# imported in rooms of 20, durability full, presence on, `password_iterations 101`); Mosquitto as
# there too (its password file, persistence, the load generator subscribing each user).
#
# Usage: tests/bench/run-chat-window.sh perch|mosquitto PERCH LOADGEN WORK_DIR PORT
#   e.g. tests/bench/run-chat-window.sh perch build-bench/gateway/perch \
#        build-bench/tests/bench/perch_loadgen /tmp/chat-window 19500
# Environment: USERS (default 19000), RATE (messages a second per user, default 0.1), WORKERS
# (perch, default 2), PRELOAD (perch: a library for LD_PRELOAD, e.g. another allocator), MEASURE
# (cpu: CPU time only, the default; syscalls: perf stat of the calls that move messages;
# profile: perf record -F 1999 into WORK_DIR/perf.data; heap: malloc_stats into
# WORK_DIR/broker.err, and VmRSS around it; ramp: instead of the window, the load generator's
# ramp from RATE's default, 10 s per step, multiplied by RAMP_FACTOR (default 1.25) until p99
# passes 10 ms). MOSQUITTO (default /usr/sbin/mosquitto).
set -euo pipefail

kind=$1
perch=$(realpath "$2")
loadgen=$(realpath "$3")
work=$4
port=$5
users=${USERS:-19000}
measure=${MEASURE:-cpu}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench-lib.sh"
broker_pid=""
trap stop_broker_at_exit EXIT

rm -rf "$work"
mkdir -p "$work"
write_chat_users "$users" "$work" > /dev/null
extra=()
if [[ $kind == perch ]]; then
    import_chat_users "$perch" "$work" "$work/perch-data"
    cat > "$work/perch.conf" << EOF
listener $port 127.0.0.1
workers ${WORKERS:-2}
allow_anonymous false
persistence true
durability full
data_dir $work/perch-data
presence true
$(perch_unlimited_config)
password_iterations 101
EOF
    LD_PRELOAD=${PRELOAD:-} "$perch" -c "$work/perch.conf" > "$work/broker.log" 2> "$work/broker.err" &
elif [[ $kind == mosquitto ]]; then
    write_mosquitto_chat_config "$port" "$work" "$work/mosquitto.conf"
    "${MOSQUITTO:-/usr/sbin/mosquitto}" -c "$work/mosquitto.conf" > "$work/broker.log" 2>&1 &
    extra=(--subscribe 1)
else
    echo "run-chat-window: the broker is perch or mosquitto, not '$kind'" >&2
    exit 2
fi
broker_pid=$!
wait_for_port "$port"
if [[ $measure == ramp ]]; then
    # The ramp on a broker that has seen one login storm: 10 s at each rate, the rate multiplied
    # by RAMP_FACTOR until p99 passes 10 ms; CPU-seconds and p99 per step, then the highest rate.
    "$loadgen" chat --users "$users" --room-size 20 --mqtt 5 --payload 64 --window 1000 \
        --password pw- --perf 0 --timeout 150 --ramp 1 --ramp-factor "${RAMP_FACTOR:-1.25}" \
        --duration 10 --port "$port" --pid "$broker_pid" --name "$kind" "${extra[@]}" |
        tr ' ' '\n' | grep -E '^(rate|broker_cpu_s|p99_us|highest_total_msgs_per_s)=' |
        paste -sd ' ' | sed 's/ rate=/\nrate=/g'
    stop_broker
    exit 0
fi
"$loadgen" chat --users "$users" --room-size 20 --mqtt 5 --payload 64 --window 1000 \
    --password pw- --perf 0 --timeout 150 --runs 1 --duration 45 --rate "${RATE:-0.1}" \
    --port "$port" --pid "$broker_pid" --name "$kind" "${extra[@]}" > "$work/loadgen.txt" &
loadgen_pid=$!

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$broker_pid/stat"; }
rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$broker_pid/status"; }
sleep 20
before=$(cpu_ticks)
case $measure in
    cpu) sleep 15 ;;
    syscalls)
        perf stat -e 'syscalls:sys_enter_sendmsg,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,context-switches' \
            -p "$broker_pid" -o "$work/syscalls.txt" -- sleep 15
        ;;
    profile) perf record -F 1999 -p "$broker_pid" -o "$work/perf.data" -- sleep 15 2> /dev/null ;;
    heap)
        echo "rss_kib=$(rss_kib)"
        gdb -p "$broker_pid" -batch -ex 'call (void)malloc_stats()' > /dev/null 2>&1
        gdb -p "$broker_pid" -batch -ex 'call (int)malloc_trim(0)' > /dev/null 2>&1
        echo "rss_kib_after_malloc_trim=$(rss_kib)"
        grep -E 'RssAnon|RssFile' "/proc/$broker_pid/status"
        sleep 15
        ;;
    *) echo "run-chat-window: MEASURE is cpu, syscalls, profile, heap or ramp" >&2; exit 2 ;;
esac
after=$(cpu_ticks)
echo "broker=$kind users=$users rate=${RATE:-0.1} window_s=15 broker_cpu_s=$(awk -v t=$((after - before)) 'BEGIN { printf "%.2f", t / 100 }')"
if [[ $measure == syscalls ]]; then
    grep -E 'syscalls|context' "$work/syscalls.txt" | awk '{ print $2 "=" $1 }'
fi
wait "$loadgen_pid"
tr ' ' '\n' < "$work/loadgen.txt" | grep -E '^(delivered|lost|p99_us)=' | tr '\n' ' '
echo
if [[ $measure == heap ]]; then
    grep -E -A2 '^Arena|^Total' "$work/broker.err" || true
fi
stop_broker
