#!/usr/bin/env bash
# The build stage of the container image (deploy/Dockerfile RUNs this script), runnable without
# Docker so CI exercises it: installs the build packages, builds perch in Release, installs it
# with its default config into a staging root, checks that the runtime image's packages provide
# every library perch links, and starts the staged broker once.
# usage: deploy/build-image.sh [STAGE]      (STAGE default: build-image/ARCH/stage)
#   PERCH_TARGET_ARCH  Debian architecture to build for (default: this machine's); arm64 on amd64
#                      cross-compiles with deploy/toolchain-aarch64.cmake
#   PERCH_BUILD_DIR    CMake build directory (default: build-image/ARCH/cmake)
#   PERCH_SKIP_DEPS=1  do not install packages (they are already there)
#   PERCH_JOBS         parallel jobs (default: nproc)
#   PERCH_REQUIRE_WEB=1  fail when the chat app (web/) cannot be built (deploy/Dockerfile sets it);
#                      otherwise the image is staged without it, said loudly, and its config
#                      serves no app
# The staging root holds exactly what the runtime stage copies into the image:
#   usr/bin/perch, usr/share/perch/web/ (the chat app), etc/perch/perch.conf (from
#   deploy/perch-pi.conf), var/lib/perch/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
host_arch=$(dpkg --print-architecture)
target_arch=${PERCH_TARGET_ARCH:-$host_arch}
build_dir=${PERCH_BUILD_DIR:-$root/build-image/$target_arch/cmake}
stage=${1:-$root/build-image/$target_arch/stage}
jobs=${PERCH_JOBS:-$(nproc)}

toolchain_args=()
runner=()
if [ "$target_arch" = "$host_arch" ]; then
    deps=("$root/deploy/install-deps.sh" build)
elif [ "$target_arch" = arm64 ] && [ "$host_arch" = amd64 ]; then
    deps=("$root/deploy/install-cross-deps.sh" build)
    toolchain_args=(-DCMAKE_TOOLCHAIN_FILE="$root/deploy/toolchain-aarch64.cmake")
    if command -v qemu-aarch64 >/dev/null; then
        runner=(qemu-aarch64 -L /)
    fi
else
    echo "build-image: cannot build for $target_arch on $host_arch" >&2
    exit 2
fi
case "$target_arch" in
    amd64) triplet=x86_64-linux-gnu ;;
    arm64) triplet=aarch64-linux-gnu ;;
    *) triplet=$(dpkg-architecture -a"$target_arch" -qDEB_HOST_MULTIARCH) ;;
esac
binutils_prefix=""
if [ "$target_arch" != "$host_arch" ]; then binutils_prefix=$triplet-; fi

if [ "${PERCH_SKIP_DEPS:-0}" != 1 ]; then
    echo "== packages (${deps[*]})"
    "${deps[@]}"
fi

echo "== web app (web/dist: the same files for every architecture)"
if [ -f "$root/web/dist/index.html" ]; then
    echo "web/dist is built"
else
    if ! command -v npm >/dev/null && [ "${PERCH_SKIP_DEPS:-0}" != 1 ]; then
        "$root/deploy/install-deps.sh" web
    fi
    if command -v npm >/dev/null &&
        (cd "$root/web" && npm ci --no-audit --no-fund && npm run build); then
        echo "web/dist built"
    elif [ "${PERCH_REQUIRE_WEB:-0}" = 1 ]; then
        echo "build-image: the chat app (web/) could not be built: npm ci && npm run build" >&2
        exit 1
    else
        echo "SKIPPED: the chat app is not in this image (npm is missing, or the npm registry" \
             "cannot be reached): its config serves no web_root"
    fi
fi

echo "== configure ($build_dir, Release, $target_arch)"
cmake -S "$root" -B "$build_dir" "${toolchain_args[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DPERCH_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr

echo "== build perch"
cmake --build "$build_dir" -j"$jobs" --target perch

echo "== install into $stage"
rm -rf "$stage"
mkdir -p "$stage"
DESTDIR="$stage" cmake --install "$build_dir" --strip >/dev/null
if [ ! -x "$stage/usr/bin/perch" ]; then
    # The project declares no install rule for perch yet: place the binary the same way.
    install -D -m 0755 "$build_dir/gateway/perch" "$stage/usr/bin/perch"
    "${binutils_prefix}strip" "$stage/usr/bin/perch"
fi
install -D -m 0644 "$root/deploy/perch-pi.conf" "$stage/etc/perch/perch.conf"
if [ ! -f "$stage/usr/share/perch/web/index.html" ]; then
    # An image without the app: a web_root naming a missing folder would stop perch at start.
    sed -i 's#^web_root #\#web_root #' "$stage/etc/perch/perch.conf"
fi
install -d -m 0700 "$stage/var/lib/perch"

echo "== check: the runtime packages provide every library perch links"
# The runtime image installs `deploy/install-deps.sh runtime`; libc6, libstdc++6 and libgcc-s1
# are in debian:12-slim already.
runtime_packages=" libc6 libstdc++6 libgcc-s1 $(sed -n 's/^runtime=(\(.*\))$/\1/p' \
    "$root/deploy/install-deps.sh") "
missing=0
needed=$("${binutils_prefix}readelf" -d "$stage/usr/bin/perch" |
         sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for soname in $needed; do
    owner=""
    # dpkg knows each file by the path its package ships (/lib/... or /usr/lib/...).
    for directory in "/lib/$triplet" "/usr/lib/$triplet" /lib /usr/lib; do
        if [ -e "$directory/$soname" ]; then
            owner=$(dpkg -S "$directory/$soname" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
            if [ -n "$owner" ]; then break; fi
        fi
    done
    if [ -z "$owner" ] || [[ "$runtime_packages" != *" $owner "* ]]; then
        echo "build-image: $soname (package '${owner:-?}') is not in install-deps.sh runtime" >&2
        missing=1
    else
        echo "$soname <- $owner"
    fi
done
if [ "$missing" != 0 ]; then exit 1; fi

if [ "$target_arch" != "$host_arch" ] && [ ${#runner[@]} = 0 ]; then
    echo "== no emulator for $target_arch: not starting the staged broker"
    echo "build-image: staged $stage"
    exit 0
fi

echo "== check: the staged broker runs"
"${runner[@]}" "$stage/usr/bin/perch" --version

# Start it once with the staged config, on a free port and with a throwaway data directory.
scratch=$(mktemp -d)
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then
        # SIGTERM, then SIGKILL if the broker has not stopped within 5 s.
        kill "$broker_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            if ! kill -0 "$broker_pid" 2>/dev/null; then break; fi
            sleep 0.1
        done
        kill -KILL "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
free_port() {
    local candidate=$((20000 + RANDOM % 20000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; do
        candidate=$((candidate + 1))
    done
    echo "$candidate"
}
# The staged config as it is, with its own data directory, the app's folder in the stage, the TLS
# and WebSocket listeners moved to free ports (the first start generates the TLS certificate, as on the Pi), and anonymous
# clients let in on image/# for the mosquitto_pub and mosquitto_sub below (the Pi's listeners
# serve the LAN, where clients must log in; docs/ACCESS.md).
printf 'topic readwrite image/#\n' >"$scratch/check.acl"
sed -e "s#^data_dir .*#data_dir $scratch/data#" \
    -e "s#^web_root /#web_root $stage/#" \
    -e '$a allow_anonymous true' \
    -e "\$a acl_file $scratch/check.acl" \
    -e "s#^listener 8883\$#listener $(free_port)#" \
    -e "s#^listener 8083\$#listener ${web_port:=$(free_port)}#" \
    -e "s#^listener 8084\$#listener $(free_port)#" \
    "$stage/etc/perch/perch.conf" >"$scratch/perch.conf"
mkdir -p "$scratch/data"
port=$(free_port)
"${runner[@]}" "$stage/usr/bin/perch" -c "$scratch/perch.conf" -p "$port" 2>"$scratch/log" &
broker_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        echo "build-image: the staged broker exited:" >&2
        cat "$scratch/log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "build-image: the staged broker does not accept connections on $port" >&2
    cat "$scratch/log" >&2
    exit 1
fi
echo "listening on 127.0.0.1:$port"
if [ ! -s "$scratch/data/perch-cert.pem" ]; then
    echo "build-image: the staged broker generated no TLS certificate" >&2
    cat "$scratch/log" >&2
    exit 1
fi
# The image's HEALTHCHECK: an MQTT CONNECT that must be answered with a CONNACK.
"${runner[@]}" "$stage/usr/bin/perch" --check -p "$port"

if command -v mosquitto_sub >/dev/null && command -v mosquitto_pub >/dev/null; then
    mosquitto_sub -h 127.0.0.1 -p "$port" -t 'image/check' -C 1 -W 10 >"$scratch/received" &
    subscriber=$!
    # Publish until the subscriber, which may still be subscribing, has its message.
    for _ in $(seq 50); do
        timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" -t 'image/check' -m 'staged perch' \
            -q 1 || true
        if ! kill -0 "$subscriber" 2>/dev/null; then break; fi
        sleep 0.2
    done
    wait "$subscriber" || true
    if [ "$(cat "$scratch/received")" != 'staged perch' ]; then
        echo "build-image: a message published to the staged broker did not arrive" >&2
        cat "$scratch/log" >&2
        exit 1
    fi
    echo "delivered a message through the staged broker"
fi
if [ -f "$stage/usr/share/perch/web/index.html" ]; then
    # The app from the WebSocket listener, as a browser on the LAN gets it.
    exec 3<>"/dev/tcp/127.0.0.1/$web_port"
    printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    answer=$(timeout 10 cat <&3 || true)
    exec 3<&-
    if [[ "$answer" != "HTTP/1.1 200"* ]] || [[ "$answer" != *"<html"* ]]; then
        echo "build-image: the staged broker does not serve the chat app on $web_port:" >&2
        printf '%s\n' "$answer" | head -n 20 >&2
        cat "$scratch/log" >&2
        exit 1
    fi
    echo "served the chat app on 127.0.0.1:$web_port"
fi
echo "build-image: staged $stage"
