#!/usr/bin/env bash
# Bytes written to storage per chat message (issue 19, docs/PERFORMANCE.md round 21): for each
# room size and rate, a fresh perch (set up as run-compare.sh's chat: users imported, `workers 2`,
# durability full, presence on, `password_iterations 101`) with 2,000 users in rooms of that
# size, one chat step of `perch_loadgen chat`, and what the write-ahead log holds at its end by
# table (wal_pages.py).
#
# Usage: tests/bench/run-chat-bytes.sh PERCH LOADGEN OUT_DIR "ROOM_SIZES" "RATES" [EXTRA_CONFIG]
#   e.g. tests/bench/run-chat-bytes.sh build-bench/gateway/perch \
#        build-bench/tests/bench/perch_loadgen /tmp/bytes "2 20 200" "0.1 0.5"
# RATES are messages per second per user (0.1 is 200/s for 2,000 users). EXTRA_CONFIG lines are
# appended to perch's config (e.g. "chat_search false"). USERS (default 2000), DURATION
# (default 15) and LOADGEN_ARGS (more options of the load generator, e.g. "--drain-idle 30") come
# from the environment. SEED_ROWS (default 0) fills each template's history with that many
# messages over the rooms first (seed-history.sh: a server with months of history, whose
# per-conversation index is that large). PAGE_SIZE (default: the file's, 4096) rewrites each
# template with that page size (VACUUM), to measure what a page written costs. Results:
# OUT_DIR/results.txt.
set -euo pipefail

perch=$(realpath "$1")
loadgen=$(realpath "$2")
out=$3
room_sizes=$4
rates=$5
extra=${6:-}
users=${USERS:-2000}
duration=${DURATION:-15}
seed_rows=${SEED_ROWS:-0}
page_size=${PAGE_SIZE:-}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench-lib.sh"
broker_pid=""
trap stop_broker_at_exit EXIT

mkdir -p "$out"
results=$out/results.txt

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A data directory with the users and rooms of SIZE, made once and copied for each run.
template_for() {
    local size=$1 dir=$out/template-$size-$seed_rows${page_size:+-$page_size}
    if [[ ! -d $dir/perch-data ]]; then
        mkdir -p "$dir"
        awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) print "u" i ":pw-" i }' > "$dir/passwd"
        mosquitto_passwd -U "$dir/passwd"
        awk -v n="$users" -v m="$size" 'BEGIN {
            for (r = 0; r * m < n; r++) {
                line = "r" r
                for (k = r * m; k < n && k < r * m + m; k++) line = line " u" k
                print line
            }
        }' > "$dir/rooms"
        import_chat_users "$perch" "$dir" "$dir/perch-data"
        if ((seed_rows > 0)); then
            "$here/seed-history.sh" "$dir/perch-data/perch.db" "$dir/rooms" "$seed_rows"
        fi
        if [[ -n $page_size ]]; then
            sqlite3 "$dir/perch-data/perch.db" "PRAGMA journal_mode = DELETE; \
                PRAGMA page_size = $page_size; VACUUM; PRAGMA journal_mode = WAL;" > /dev/null
        fi
    fi
    echo "$dir"
}

for size in $room_sizes; do
    template=$(template_for "$size")
    for rate in $rates; do
        run=$out/run-$size-$rate
        rm -rf "$run"
        mkdir -p "$run"
        cp -r "$template/perch-data" "$run/perch-data"
        port=$(free_port)
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
$extra
EOF
        "$perch" -c "$run/perch.conf" > "$run/perch.log" 2>&1 &
        broker_pid=$!
        wait_for_port "$port"
        echo "# room_size=$size rate=$rate seed_rows=$seed_rows page_size=${page_size:-4096} load=$(cut -d' ' -f1-3 /proc/loadavg) $(date -u +%H:%M:%S)" \
            | tee -a "$results"
        "$loadgen" chat --users "$users" --room-size "$size" --mqtt 5 --payload 64 --window 1000 \
            --password pw- --perf 0 --timeout 150 --runs 1 --duration "$duration" \
            --rate "$rate" --port "$port" --pid "$broker_pid" --name perch ${LOADGEN_ARGS:-} \
            > "$run/loadgen.out" \
            2> "$run/loadgen.err" &
        loadgen_pid=$!
        # The WAL near the end of the chat step (after the logins, before the logouts).
        until grep -q 'logged in' "$run/loadgen.err" 2> /dev/null; do sleep 0.2; done
        sleep $((duration - 2))
        cp "$run/perch-data/perch.db" "$run/copy.db"
        cp "$run/perch-data/perch.db-wal" "$run/copy.db-wal" 2> /dev/null || true
        wait "$loadgen_pid"
        cat "$run/loadgen.err" "$run/loadgen.out" | tee -a "$results"
        stop_broker
        if [[ -f $run/copy.db-wal ]]; then
            # The copy opened with its WAL names the pages; the WAL's own copy is parsed.
            cp "$run/copy.db-wal" "$run/wal-copy"
            /usr/bin/python3 "$here/wal_pages.py" "$run/copy.db" "$run/wal-copy" | head -12 \
                | sed 's/^/#   /' | tee -a "$results"
        fi
        rm -rf "$run/perch-data" "$run/copy.db"* "$run/wal-copy"
    done
done
