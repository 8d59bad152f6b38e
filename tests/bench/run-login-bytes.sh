#!/usr/bin/env bash
# Bytes written to storage by a login storm of resumed chat sessions (issue 19, docs/PERFORMANCE.md
# round 21 and after): a fresh perch set up as run-chat-bytes.sh's (users imported in rooms of 20,
# `workers 2`, durability full, presence on, `password_iterations 101`), `perch_loadgen chat` with
# a 5 s chat step at 0.1 message/s per user, then the reconnect storm. For each STORM_MESSAGES
# value: 1 is round 21's measure (one message per user before the drop and once back, the drop and
# the logins counted together), 0 measures the drop and the logins apart without messages
# (disk_bytes_per_logout, disk_bytes_per_login). At 0 the write-ahead log is copied once the
# logins are measured and its frames are counted by table (wal_pages.py).
#
# Usage: tests/bench/run-login-bytes.sh PERCH LOADGEN OUT_DIR ["STORM_MESSAGES"]
#   e.g. tests/bench/run-login-bytes.sh build-bench/gateway/perch \
#        build-bench/tests/bench/perch_loadgen /tmp/login-bytes "1 0"
# USERS (default 19000) and LOADGEN_ARGS (more options of the load generator, e.g.
# "--storm-settle 65" to let the drop's deferred session records fall due before the users come
# back) come from the environment. Results: OUT_DIR/results.txt.
set -euo pipefail

perch=$(realpath "$1")
loadgen=$(realpath "$2")
out=$3
modes=${4:-"1 0"}
users=${USERS:-19000}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench-lib.sh"
broker_pid=""
trap stop_broker_at_exit EXIT

mkdir -p "$out"
results=$out/results.txt
template=$out/template-$users
if [[ ! -d $template/perch-data ]]; then
    mkdir -p "$template"
    write_chat_users "$users" "$template"
    import_chat_users "$perch" "$template" "$template/perch-data"
fi

for messages in $modes; do
    run=$out/run-$messages
    rm -rf "$run"
    mkdir -p "$run"
    cp -r "$template/perch-data" "$run/perch-data"
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$run/perch.conf" << EOF
listener $port 127.0.0.1
workers 2
allow_anonymous false
persistence true
durability full
data_dir $run/perch-data
presence true
$(perch_unlimited_config)
password_iterations 101
EOF
    "$perch" -c "$run/perch.conf" > "$run/perch.log" 2>&1 &
    broker_pid=$!
    wait_for_port "$port"
    echo "# storm_messages=$messages users=$users ${LOADGEN_ARGS:+$LOADGEN_ARGS }load=$(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M:%S)" \
        | tee -a "$results"
    "$loadgen" chat --users "$users" --room-size 20 --mqtt 5 --payload 64 --window 1000 \
        --password pw- --perf 0 --timeout 150 --runs 1 --duration 5 --rate 0.1 --storm 1 \
        --storm-messages "$messages" --storm-hold 3 --port "$port" --pid "$broker_pid" \
        --name perch ${LOADGEN_ARGS:-} > "$run/loadgen.out" 2> "$run/loadgen.err" &
    loadgen_pid=$!
    # The WAL once the logins are measured, before the users log out.
    until grep -q 'chat_storm' "$run/loadgen.out" 2> /dev/null; do
        kill -0 "$loadgen_pid" 2> /dev/null || break
        sleep 0.2
    done
    cp "$run/perch-data/perch.db" "$run/copy.db"
    cp "$run/perch-data/perch.db-wal" "$run/copy.db-wal" 2> /dev/null || true
    wait "$loadgen_pid"
    cat "$run/loadgen.err" "$run/loadgen.out" | tee -a "$results"
    stop_broker
    if [[ $messages == 0 && -f $run/copy.db-wal ]]; then
        cp "$run/copy.db-wal" "$run/wal-copy"
        /usr/bin/python3 "$here/wal_pages.py" "$run/copy.db" "$run/wal-copy" | head -12 \
            | sed 's/^/#   /' | tee -a "$results"
    fi
    rm -rf "$run/perch-data" "$run/copy.db"* "$run/wal-copy"
done
