#!/usr/bin/env bash
# Publish -> delivery latency of chat messages with the chat store in SQLite and in PostgreSQL
# (whose message ids come from the database: one round trip before a message is routed,
# docs/POSTGRESQL.md). One perch (2 workers, durability full) per store, the same users and rooms
# (`perch user import`, `perch room import`), the load generator's chat scenario at QoS 1.
# PostgreSQL is a throwaway cluster in a temporary folder on a unix socket only (run as the
# postgres user when this runs as root), as the tests' (tests/support/postgres_cluster.hpp).
#
# usage: [PERCH=path/to/perch] run-pg-latency.sh BUILD_BENCH_DIR [USERS] [DURATION_S] [RATE] [RUNS]
#   e.g. tests/bench/run-pg-latency.sh build-bench 500 10 1 3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/bench-lib.sh"
build=$(cd "$1" && pwd)
users=${2:-500}
duration=${3:-10}
rate=${4:-1}
runs=${5:-3}
perch=${PERCH:-$build/gateway/perch}
loadgen=$build/tests/bench/perch_loadgen
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d /tmp/perch-pg-latency.XXXXXX)
broker_pid=""
as_server=()
if [[ $(id -u) == 0 ]]; then
    chown postgres "$work"
    as_server=(runuser -u postgres --)
fi
cleanup() {
    stop_broker_at_exit
    "${as_server[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop > /dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${as_server[@]}" "$pg_bin/initdb" -D "$work/pg" -U perch -A trust -E UTF8 --locale=C > /dev/null
"${as_server[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-c listen_addresses='' -k $work -p 5432" start > /dev/null
"${as_server[@]}" "$pg_bin/createdb" -h "$work" -p 5432 -U perch perch
conninfo="host=$work port=5432 user=perch dbname=perch"

mkdir -p "$work/chat"
chmod 777 "$work/chat"
write_chat_users "$users" "$work/chat"
port=$((20000 + RANDOM % 20000))
for store in sqlite postgresql; do
    data=$work/data-$store
    store_lines="chat_store $store"
    if [[ $store == postgresql ]]; then
        store_lines+=$'\n'"postgresql_conninfo \"$conninfo\""
    fi
    printf 'data_dir %s\ndurability batched\n%s\n' "$data" "$store_lines" > "$work/import.conf"
    "$perch" user import "$work/chat/passwd" -c "$work/import.conf" > /dev/null
    "$perch" room import "$work/chat/rooms" -c "$work/import.conf" > /dev/null
    cat > "$work/$store.conf" << CONF
listener $port 127.0.0.1
workers 2
allow_anonymous false
persistence true
durability full
data_dir $data
$store_lines
$(perch_unlimited_config)
password_iterations 101
CONF
    "$perch" -c "$work/$store.conf" > "$work/$store.log" 2>&1 &
    broker_pid=$!
    wait_for_port "$port"
    "$loadgen" chat --users "$users" --room-size 20 --mqtt 5 --payload 64 --window 200 \
        --password pw- --perf 0 --timeout 120 --rate "$rate" --runs "$runs" \
        --duration "$duration" --port "$port" --pid "$broker_pid" --name "perch-$store"
    stop_broker
    port=$((port + 1))
done
