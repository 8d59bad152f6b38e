#!/usr/bin/env bash
# The soak: 1,000 well-behaved chat users (persistent sessions, QoS 1, rooms of 20, durability
# full, presence on) chat for several minutes, first on their own, then beside hostile clients
# (tests/bench/loadgen/hostile.hpp: CONNECTs never completed, silent connections, subscribers
# that never read, a publish flood, a subscription storm, a password guesser, malformed packets).
# Prints one line per chat window (p99, messages lost, broker memory) and a summary comparing the
# users' p99 beside the hostile clients with their p99 alone. Loopback only; ends by itself.
#
# usage: tests/bench/run-soak.sh [--users N] [--window SECONDS] [--windows N] [--rate R]
#                                [--flood-rate MSGS_PER_S] [--hostile-nice N]
#   --users N        well-behaved users (default 1000)
#   --window S       seconds per chat window (default 30)
#   --windows N      windows per phase (default 5: 2 x 150 s of chat)
#   --rate R         messages per second per user (default 0.5)
#   --flood-rate N   flood messages per second over all hostile flooders (default 20000)
#   --hostile KINDS  only these hostile kinds, comma-separated (hostile.hpp; default all)
#   --hostile-nice N the nice value of the hostile clients' thread (default 19: on a network the
#                    attackers have machines of their own, here they take only the CPU that the
#                    broker and the measured users leave; 0 runs them at the users' priority)
# Environment: PERCH_BENCH_BUILD (build directory, default build-bench), PERCH_SOAK_CONFIG (a
# file of config lines appended to perch's, e.g. to try other limits).
#
# The users' hashes are mosquitto_passwd's (101 PBKDF2 iterations) and perch keeps them at that
# (`password_iterations 101`), as in run-compare.sh --chat: the login of 1,000 users then measures
# the broker rather than the hash.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/tests/bench/bench-lib.sh"
build=${PERCH_BENCH_BUILD:-$root/build-bench}
users=1000
window=30
windows=5
rate=0.5
flood_rate=20000
hostile=""
hostile_nice=19
while [[ $# -gt 0 ]]; do
    case $1 in
        --users) users=$2; shift ;;
        --window) window=$2; shift ;;
        --windows) windows=$2; shift ;;
        --rate) rate=$2; shift ;;
        --flood-rate) flood_rate=$2; shift ;;
        --hostile) hostile=$2; shift ;;
        --hostile-nice) hostile_nice=$2; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

true \
    > /dev/null
true
perch=$build/gateway/perch
loadgen=$build/tests/bench/perch_loadgen

ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d /tmp/perch-soak.XXXXXX)
broker_pid=""
trap stop_broker_at_exit EXIT

write_chat_users "$users" "$work"
import_chat_users "$perch" "$work" "$work/data"

port=$((20000 + RANDOM % 20000))
# The listener is loopback-only, so anonymous clients (the hostile ones) get in and may use the
# topics outside chat/ (docs/ACCESS.md); every limit is perch's default.
cat > "$work/perch.conf" << EOF
listener $port 127.0.0.1
workers 2
persistence true
durability full
data_dir $work/data
presence true
sys_interval 10
log_level warning
password_iterations 101
EOF
if [[ -n ${PERCH_SOAK_CONFIG:-} ]]; then
    cat "$PERCH_SOAK_CONFIG" >> "$work/perch.conf"
fi
"$perch" -c "$work/perch.conf" > "$work/perch.log" 2>&1 &
broker_pid=$!
wait_for_port "$port"
"$loadgen" soak --users "$users" --room-size 20 --mqtt 5 --payload 64 --window 500 \
    --password pw- --rate "$rate" --duration "$window" --windows "$windows" \
    --flood-rate "$flood_rate" --hostile-nice "$hostile_nice" ${hostile:+--hostile "$hostile"} --timeout 120 --port "$port" \
    --pid "$broker_pid" --name perch
if ! kill -0 "$broker_pid" 2> /dev/null; then
    echo "perch is gone: see $work/perch.log" >&2
    exit 1
fi
stop_broker
echo "broker log: $work/perch.log ($(wc -l < "$work/perch.log") lines)"
