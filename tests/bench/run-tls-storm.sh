#!/usr/bin/env bash
# The chat benchmark over TLS 1.3 and the reconnect storm, perch (2 workers) beside Mosquitto on
# loopback in one run: for each broker, a fresh instance chatting over plain TCP (the memory
# baseline), then a fresh one with every user over TLS followed by the reconnect storm, first with
# session resumption, then with full handshakes (tests/bench/loadgen/chat.cpp). Both brokers use
# the same self-signed ECDSA P-256 certificate, generated for the run with openssl. Prints each
# result line and writes a markdown table.
#
# usage: tests/bench/run-tls-storm.sh [--users N] [--duration SECONDS] [--out FILE.md]
#   --users N      chat users (default 9000: see the descriptor note below)
#   --duration S   seconds of chat before the storm (default 20)
#   --out FILE     where to write the markdown table (default: build-bench/tls-storm.md)
# Environment: PERCH_BENCH_BUILD (build directory, default build-bench), MOSQUITTO (default
# /usr/sbin/mosquitto), PERCH_CHAT_PRESENCE (perch's presence setting, default false: with presence
# on, a login storm of thousands of users is limited by presence traffic, docs/PERFORMANCE.md).
#
# perch checks the same `$7$` file as Mosquitto (101 PBKDF2 iterations, as mosquitto_passwd writes)
# with `password_iterations 101`: at its default (210,000) every first login would rewrite the
# user's hash, 0.21 s of CPU each, and the login storm would measure that instead.
#
# Descriptors: every user is one descriptor in the load generator and one in the broker, two
# separate processes, so N users need a hard limit (`ulimit -Hn`) above N plus a few dozen in
# each. 19,000 users fit a limit of 20,000. Beyond that raise the hard limit first (e.g.
# `prlimit --nofile=1048576 --pid $$` as root, or LimitNOFILE= for a service), and make sure
# net.ipv4.ip_local_port_range and 127.1.0.0/16 source addresses (the load generator rotates 16,000
# of them) leave enough ports.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${PERCH_BENCH_BUILD:-$root/build-bench}
source "$root/tests/bench/bench-lib.sh"
mosquitto=${MOSQUITTO:-/usr/sbin/mosquitto}
users=9000
duration=20
out=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --users) users=$2; shift ;;
        --duration) duration=$2; shift ;;
        --out) out=$2; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
out=${out:-$build/tls-storm.md}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPERCH_BENCH=ON -DPERCH_BUILD_TESTS=ON \
    > /dev/null
cmake --build "$build" -j2 --target perch perch_loadgen > /dev/null
perch=$build/gateway/perch
loadgen=$build/tests/bench/perch_loadgen

ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < users + 100)); then
    echo "$users users need more than $((users + 100)) descriptors; the limit is $(ulimit -n)" >&2
    exit 2
fi
work=$(mktemp -d /tmp/perch-tls-storm.XXXXXX)
broker_pid=""
trap stop_broker_at_exit EXIT

# One certificate for both brokers; its key is a throwaway for this run, readable by Mosquitto.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2> /dev/null
chmod 644 "$work/key.pem"

# Users uK with password pw-K in rooms of 20, as in run-compare.sh --chat.
write_chat_users "$users" "$work"
import_chat_users "$perch" "$work" "$work/perch-template"
if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    chmod 711 "$work"
    chmod 644 "$work/passwd"
fi

# start_broker NAME TRANSPORT PORT: a fresh perch-w2 or mosquitto, plain or tls.
start_broker() {
    local name=$1 transport=$2 port=$3 dir=$work/$1-$2
    mkdir -p "$dir"
    chmod 755 "$dir"
    local listener="listener $port 127.0.0.1"
    if [[ $name == mosquitto ]]; then
        if [[ $transport == tls ]]; then
            listener+=$'\n'"certfile $work/cert.pem"$'\n'"keyfile $work/key.pem"
        fi
        mkdir -p "$dir/data"
        if id mosquitto > /dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
            chown mosquitto "$dir/data"
        fi
        cat > "$dir/broker.conf" << EOF
$listener
allow_anonymous false
password_file $work/passwd
set_tcp_nodelay true
max_queued_messages 1000000
persistence true
persistence_location $dir/data/
autosave_interval 1
EOF
        "$mosquitto" -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
    else
        if [[ $transport == tls ]]; then
            listener+=$'\n'"protocol mqtt_tls"$'\n'"certfile $work/cert.pem"
            listener+=$'\n'"keyfile $work/key.pem"
        fi
        cp -a "$work/perch-template" "$dir/data"
        cat > "$dir/broker.conf" << EOF
$listener
workers 2
allow_anonymous false
persistence true
durability full
data_dir $dir/data
presence ${PERCH_CHAT_PRESENCE:-false}
password_iterations 101
$(perch_unlimited_config)
EOF
        "$perch" -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
    fi
    broker_pid=$!
    wait_for_port "$port"
}

results=$work/results.txt
: > "$results"
port=18861
common=(--users "$users" --room-size 20 --mqtt 5 --payload 64 --window 1000 --password pw-
    --perf 0 --timeout 150 --runs 1 --rate 0.1 --duration "$duration")
for broker in perch-w2 mosquitto; do
    extra=()
    if [[ $broker == mosquitto ]]; then
        extra=(--subscribe 1)
    fi
    for transport in plain tls; do
        start_broker "$broker" "$transport" "$port"
        tls=()
        if [[ $transport == tls ]]; then
            tls=(--tls "$work/cert.pem" --storm 1)
        fi
        "$loadgen" chat "${common[@]}" "${extra[@]}" "${tls[@]}" --port "$port" \
            --pid "$broker_pid" --name "$broker" | sed "s/^/transport=$transport /" |
            tee -a "$results"
        stop_broker
        port=$((port + 1))
    done
done

python3 - "$results" "$out" << 'EOF'
import sys

lines = [dict(f.split("=", 1) for f in l.split()) for l in open(sys.argv[1]) if "=" in l]
def find(broker, transport, scenario, handshakes=None):
    for l in lines:
        if (l["broker"], l["transport"], l["scenario"]) == (broker, transport, scenario) and \
                (handshakes is None or l.get("handshakes") == handshakes):
            return l
    return {}
rows = [("broker VmRSS MiB, every user logged in, plain TCP", "plain", "chat", None,
         "rss_logged_in_mb"),
        ("broker VmRSS MiB, every user logged in, TLS 1.3", "tls", "chat", None,
         "rss_logged_in_mb"),
        ("chat deliveries/s over TLS", "tls", "chat", None, "median"),
        ("chat p99 latency us over TLS", "tls", "chat", None, "p99_us"),
        ("chat messages lost over TLS", "tls", "chat", None, "lost")]
for kind in ("resumed", "full"):
    rows += [(f"storm ({kind}): seconds until every CONNACK", "tls", "chat_storm", kind, "median"),
             (f"storm ({kind}): users back / resumed / CONNECTs retried", "tls", "chat_storm", kind, "back+resumed"),
             (f"storm ({kind}): broker CPU seconds", "tls", "chat_storm", kind,
              "storm_broker_cpu_s"),
             (f"storm ({kind}): p99 us, first message after", "tls", "chat_storm", kind,
              "after_p99_us"),
             (f"storm ({kind}): messages lost (of expected deliveries)", "tls", "chat_storm",
              kind, "lost+expected")]
def cell(l, field):
    if not l:
        return "-"
    if field == "back+resumed":
        return f"{l['back']} / {l['resumed']} / {l['retries']}"
    if field == "lost+expected":
        return f"{l['lost']} of {l['expected']}"
    return l.get(field, "-")
out = ["| figure | perch (2 workers) | Mosquitto | perch/Mosquitto |", "|---|---:|---:|---:|"]
for label, transport, scenario, handshakes, field in rows:
    p = cell(find("perch-w2", transport, scenario, handshakes), field)
    m = cell(find("mosquitto", transport, scenario, handshakes), field)
    try:
        ratio = f"{float(p) / float(m):.2f}"
    except (ValueError, ZeroDivisionError):
        ratio = "-"
    out.append(f"| {label} | {p} | {m} | {ratio} |")
for broker in ("perch-w2", "mosquitto"):
    plain = find(broker, "plain", "chat").get("rss_logged_in_mb")
    tls = find(broker, "tls", "chat").get("rss_logged_in_mb")
    if plain and tls:
        out.append(f"\n{broker}: TLS / plain VmRSS with every user logged in: "
                   f"{float(tls) / float(plain):.2f}")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "table written to $out"
