# Shell functions the benchmark scripts share (sourced, not run): waiting for a broker's port,
# stopping the broker they started, and the chat users and rooms of the chat scenarios.
# The sourcing script sets `broker_pid` (empty while no broker runs).

# wait_for_port PORT: waits up to 10 s until something accepts connections on 127.0.0.1:PORT.
wait_for_port() {
    local port=$1
    for _ in $(seq 100); do
        if (: < "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "broker on port $port did not start" >&2
    return 1
}

# stop_broker: stops the broker in broker_pid and waits for it.
stop_broker() {
    kill "$broker_pid"
    wait "$broker_pid" 2> /dev/null || true
    broker_pid=""
}

# stop_broker_at_exit: the EXIT trap's work, when a script ends while its broker runs.
stop_broker_at_exit() {
    if [[ -n ${broker_pid:-} ]]; then
        kill "$broker_pid" 2> /dev/null || true
        wait "$broker_pid" 2> /dev/null || true
    fi
}

# write_chat_users USERS DIR: DIR/passwd with users uK, password pw-K, hashed by mosquitto_passwd
# (101 PBKDF2 iterations), and DIR/rooms with rooms r0, r1, ... of 20 users each (uK in room
# K / 20), the formats of `perch user import` and `perch room import`.
write_chat_users() {
    local users=$1 dir=$2
    awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) print "u" i ":pw-" i }' > "$dir/passwd"
    mosquitto_passwd -U "$dir/passwd"
    awk -v n="$users" 'BEGIN {
        for (r = 0; r * 20 < n; r++) {
            line = "r" r
            for (k = r * 20; k < n && k < r * 20 + 20; k++) line = line " u" k
            print line
        }
    }' > "$dir/rooms"
}

# import_chat_users PERCH DIR DATA_DIR: imports DIR/passwd and DIR/rooms into a perch data
# directory. The import's own connection commits without fsync (durability batched): each
# directory change is its own transaction, and tens of thousands of fsyncs would take minutes.
import_chat_users() {
    local perch=$1 dir=$2 data=$3
    printf 'data_dir %s\ndurability batched\n' "$data" > "$dir/import.conf"
    "$perch" user import "$dir/passwd" -c "$dir/import.conf" > /dev/null
    "$perch" room import "$dir/rooms" -c "$dir/import.conf" > /dev/null
}

# write_mosquitto_chat_config PORT DIR CONFIG: Mosquitto's side of the chat scenarios, written to
# CONFIG: DIR/passwd (write_chat_users) checked, persistent sessions saved every second in
# DIR/mosquitto-data. Started as root, Mosquitto runs as the user mosquitto: it may read the
# password file and write its database (the directories above DIR must let it through).
write_mosquitto_chat_config() {
    local port=$1 dir=$2 config=$3
    cat > "$config" << EOF
listener $port 127.0.0.1
allow_anonymous false
password_file $dir/passwd
set_tcp_nodelay true
max_queued_messages 1000000
persistence true
persistence_location $dir/mosquitto-data/
autosave_interval 1
EOF
    mkdir -p "$dir/mosquitto-data"
    if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        chmod 755 "$dir"
        chmod 644 "$dir/passwd"
        chown mosquitto "$dir/mosquitto-data"
    fi
}

# The perch config lines every benchmark shares: queues, stored sessions and rates unbounded (the
# limits of docs/LIMITS.md would otherwise be what is measured), no $SYS, warnings only. Used
# inside the scripts' config heredocs as $(perch_unlimited_config).
perch_unlimited_config() {
    cat << 'EOF'
max_queued_messages 1000000
max_stored_messages 0
max_stored_bytes 0
max_publish_rate 0
max_publish_bytes_rate 0
max_connection_rate 0
sys_interval 0
log_level warning
EOF
}
