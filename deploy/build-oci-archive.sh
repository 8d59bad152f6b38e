#!/usr/bin/env bash
# Builds the arm64 container image of Perch without a container daemon and proves it runs.
#  1. cross-builds perch for arm64 and stages it with its default config (deploy/build-image.sh);
#  2. lays out a minimal root: perch, the shared libraries it needs (copied from Debian's arm64
#     multiarch packages, with their copyright files), the dynamic loader, passwd/group entries
#     for the unprivileged user perch (uid/gid 999), /etc/perch/perch.conf and /var/lib/perch;
#  3. assembles it with buildah (vfs storage, from scratch), sets entrypoint, user, volume, ports
#     and labels, and writes an OCI archive;
#  4. extracts the archive's layers into an empty directory and, chrooted into it with a static
#     qemu-aarch64, runs `perch --version` and then the broker as uid 999, and passes a message
#     through it with mosquitto_pub and mosquitto_sub on 127.0.0.1.
# usage: deploy/build-oci-archive.sh [ARCHIVE]   (default: build-image/perch-arm64.tar)
#   PERCH_SKIP_DEPS=1  do not install packages (deploy/install-cross-deps.sh oci)
# Needs root (buildah's storage and the chroot check).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/build-image/arm64
archive=${1:-$root/build-image/perch-arm64.tar}
triplet=aarch64-linux-gnu
user_id=999
version=$(sed -n 's/^project(perch VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")

if [ "${PERCH_SKIP_DEPS:-0}" != 1 ]; then
    echo "== packages"
    "$root/deploy/install-cross-deps.sh" oci
fi

echo "== build and stage perch for arm64"
PERCH_TARGET_ARCH=arm64 PERCH_SKIP_DEPS=1 "$root/deploy/build-image.sh" "$work/stage"

echo "== image root ($work/rootfs)"
rootfs=$work/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{etc/perch,tmp,var/lib/perch,usr/bin,usr/lib/$triplet,usr/share/doc}
# Debian 12's merged /usr: /lib is /usr/lib, so the loader path in the binary resolves.
ln -s usr/lib "$rootfs/lib"
chmod 1777 "$rootfs/tmp"
install -m 0755 "$work/stage/usr/bin/perch" "$rootfs/usr/bin/perch"
install -m 0644 "$work/stage/etc/perch/perch.conf" "$rootfs/etc/perch/perch.conf"
# The chat app, when build-image.sh could build it (its config serves it only then).
if [ -d "$work/stage/usr/share/perch/web" ]; then
    mkdir -p "$rootfs/usr/share/perch"
    cp -R "$work/stage/usr/share/perch/web" "$rootfs/usr/share/perch/web"
    chmod -R a+rX,go-w "$rootfs/usr/share/perch/web"
fi

# The shared libraries perch needs, transitively, each found where the arm64 loader looks.
find_library() {
    local directory
    for directory in "/lib/$triplet" "/usr/lib/$triplet"; do
        if [ -e "$directory/$1" ]; then echo "$directory/$1"; return 0; fi
    done
    return 1
}
copy_package_copyright() {
    local package
    package=$(dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
    if [ -n "$package" ] && [ -f "/usr/share/doc/$package/copyright" ]; then
        install -D -m 0644 "/usr/share/doc/$package/copyright" \
            "$rootfs/usr/share/doc/$package/copyright"
    fi
}
pending=("$rootfs/usr/bin/perch")
declare -A copied=()
# copy_library SONAME WHO: copies the arm64 library SONAME (and its copyright file) into the root
# and queues it for its own NEEDED entries; WHO says why it is needed, for the error.
copy_library() {
    local source_path
    if ! source_path=$(find_library "$1"); then
        echo "build-oci-archive: $1 ($2) is not installed for arm64" >&2
        exit 1
    fi
    cp -L "$source_path" "$rootfs/usr/lib/$triplet/$1"
    copy_package_copyright "$source_path"
    copied[$1]=1
    pending+=("$rootfs/usr/lib/$triplet/$1")
}
# Loaded with dlopen when a PostgreSQL chat store is configured (store/postgres/libpq_library.hpp),
# so no NEEDED entry names it.
copy_library libpq.so.5 "loaded by perch for PostgreSQL"
while [ ${#pending[@]} -gt 0 ]; do
    file=${pending[0]}
    pending=("${pending[@]:1}")
    for soname in $("$triplet-readelf" -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        if [ -z "${copied[$soname]:-}" ]; then
            copy_library "$soname" "needed by $file"
        fi
    done
done
interpreter=$("$triplet-readelf" -l "$rootfs/usr/bin/perch" |
              sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
loader_name=$(basename "$interpreter")
if [ -z "${copied[$loader_name]:-}" ]; then
    loader_source=$(find_library "$loader_name")
    cp -L "$loader_source" "$rootfs/usr/lib/$triplet/$loader_name"
    copy_package_copyright "$loader_source"
    copied[$loader_name]=1
fi
if [ ! -e "$rootfs$interpreter" ]; then
    ln -s "$triplet/$loader_name" "$rootfs/usr/lib/$loader_name"
fi
echo "libraries: ${!copied[*]}"

cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
perch:x:$user_id:$user_id:Perch broker:/var/lib/perch:/usr/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
perch:x:$user_id:
EOF
cat >"$rootfs/etc/nsswitch.conf" <<EOF
passwd: files
group: files
hosts: files dns
EOF
echo "127.0.0.1 localhost" >"$rootfs/etc/hosts"
chown "$user_id:$user_id" "$rootfs/var/lib/perch"
chmod 0700 "$rootfs/var/lib/perch"

echo "== buildah: assemble and write $archive"
storage=(--storage-driver vfs --root "$work/containers/storage" --runroot "$work/containers/run")
image=localhost/perch:$version-arm64
container=$(buildah "${storage[@]}" from --arch arm64 --os linux scratch)
remove_container() { buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true; }
trap remove_container EXIT
# tar keeps the owners (root, and perch for /var/lib/perch) and modes laid out above.
tar -C "$rootfs" -cf "$work/rootfs.tar" .
buildah "${storage[@]}" add "$container" "$work/rootfs.tar" / >/dev/null
rm -f "$work/rootfs.tar"
buildah "${storage[@]}" config \
    --arch arm64 --os linux --variant v8 \
    --user "$user_id:$user_id" --workingdir /var/lib/perch \
    --entrypoint '["/usr/bin/perch"]' --cmd '-c /etc/perch/perch.conf' \
    --volume /var/lib/perch \
    --port 1883/tcp --port 8883/tcp --port 8083/tcp --port 8084/tcp \
    --stop-signal SIGTERM \
    --label org.opencontainers.image.title=perch \
    --label org.opencontainers.image.description="MQTT 3.1.1/5.0 broker and chat gateway" \
    --label org.opencontainers.image.version="$version" \
    --label org.opencontainers.image.licenses=UNLICENSED \
    "$container"
buildah "${storage[@]}" commit --rm "$container" "$image" >/dev/null
trap - EXIT
mkdir -p "$(dirname "$archive")"
rm -f "$archive"
buildah "${storage[@]}" push --quiet "$image" "oci-archive:$archive:perch:$version"
echo "wrote $archive ($(du -h "$archive" | cut -f1))"

echo "== check: unpack the archive and run what is in it"
check=$work/check
rm -rf "$check"
mkdir -p "$check/oci" "$check/rootfs"
tar -C "$check/oci" -xf "$archive"
# index.json -> manifest -> config and layers, all by digest under blobs/.
python3 - "$check/oci" "$check/rootfs" "$user_id" <<'EOF'
import json, pathlib, subprocess, sys

layout, rootfs, user_id = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def blob(digest):
    algorithm, value = digest.split(":")
    return layout / "blobs" / algorithm / value

index = json.loads((layout / "index.json").read_text())
manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
config = json.loads(blob(manifest["config"]["digest"]).read_text())
settings = config["config"]
problems = []
if config.get("architecture") != "arm64" or config.get("os") != "linux":
    problems.append(f"platform {config.get('os')}/{config.get('architecture')}")
if settings.get("User") != f"{user_id}:{user_id}":
    problems.append(f"user {settings.get('User')}")
if settings.get("Entrypoint") != ["/usr/bin/perch"]:
    problems.append(f"entrypoint {settings.get('Entrypoint')}")
if "/var/lib/perch" not in settings.get("Volumes", {}):
    problems.append("no volume /var/lib/perch")
ports = set(settings.get("ExposedPorts", {}))
if ports != {"1883/tcp", "8883/tcp", "8083/tcp", "8084/tcp"}:
    problems.append(f"ports {sorted(ports)}")
if problems:
    sys.exit("build-oci-archive: image config: " + "; ".join(problems))
for layer in manifest["layers"]:
    subprocess.run(["tar", "-C", rootfs, "--same-owner", "-xf", str(blob(layer["digest"]))],
                   check=True)
print(f"config: {config['os']}/{config['architecture']} user {settings['User']} "
      f"entrypoint {settings['Entrypoint']} cmd {settings.get('Cmd')} "
      f"ports {sorted(ports)} layers {len(manifest['layers'])}")
EOF

owner=$(stat -c %u:%g "$check/rootfs/var/lib/perch")
if [ "$owner" != "$user_id:$user_id" ]; then
    echo "build-oci-archive: /var/lib/perch in the image belongs to $owner" >&2
    exit 1
fi

# Inside the chroot only the image's own files exist, so a missing library fails here.
install -m 0755 "$(command -v qemu-aarch64-static)" "$check/rootfs/qemu-aarch64-static"
in_image() { chroot --userspec="$user_id:$user_id" "$check/rootfs" /qemu-aarch64-static "$@"; }
in_image /usr/bin/perch --version

free_port() {
    local candidate=$((20000 + RANDOM % 20000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; do
        candidate=$((candidate + 1))
    done
    echo "$candidate"
}
port=$(free_port)
# What a container runtime provides and a bare chroot lacks: the device nodes perch opens
# (/dev/urandom seeds wolfSSL's generator for the certificate made at first start).
mkdir -p "$check/rootfs/dev"
mknod -m 0666 "$check/rootfs/dev/null" c 1 3
mknod -m 0666 "$check/rootfs/dev/urandom" c 1 9
mknod -m 0666 "$check/rootfs/dev/random" c 1 8
# The image's config, with the TLS and WebSocket listeners moved to free ports of this machine,
# and anonymous clients let in on image/# for the check's mosquitto_pub and mosquitto_sub.
printf 'topic readwrite image/#\n' >"$check/rootfs/etc/perch/check.acl"
sed -e '$a allow_anonymous true' \
    -e '$a acl_file /etc/perch/check.acl' \
    -e "s#^listener 8883\$#listener $(free_port)#" \
    -e "s#^listener 8083\$#listener ${web_port:=$(free_port)}#" \
    -e "s#^listener 8084\$#listener $(free_port)#" \
    "$check/rootfs/etc/perch/perch.conf" >"$check/rootfs/etc/perch/check.conf"
# Not through in_image: $! must be the broker itself, so that stop_broker reaches it.
chroot --userspec="$user_id:$user_id" "$check/rootfs" /qemu-aarch64-static \
    /usr/bin/perch -c /etc/perch/check.conf -p "$port" 2>"$check/broker.log" &
broker_pid=$!
stop_broker() {
    # SIGTERM, then SIGKILL if the broker has not stopped within 5 s.
    kill "$broker_pid" 2>/dev/null || true
    for _ in $(seq 50); do
        if ! kill -0 "$broker_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
}
trap stop_broker EXIT
for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        echo "build-oci-archive: perch from the image exited:" >&2
        cat "$check/broker.log" >&2
        exit 1
    fi
    sleep 0.1
done
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'image/arm64' -C 1 -W 20 >"$check/received" &
subscriber=$!
for _ in $(seq 50); do
    timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" -t 'image/arm64' \
        -m 'hello from the arm64 image' -q 1 || true
    if ! kill -0 "$subscriber" 2>/dev/null; then break; fi
    sleep 0.2
done
wait "$subscriber" || true
if [ "$(cat "$check/received")" != 'hello from the arm64 image' ]; then
    echo "build-oci-archive: no message through perch from the image" >&2
    cat "$check/broker.log" >&2
    exit 1
fi
echo "perch from the image (aarch64 under qemu, uid $user_id) delivered a message on port $port"
in_image /usr/bin/perch --check -p "$port"
if [ -f "$check/rootfs/usr/share/perch/web/index.html" ]; then
    exec 3<>"/dev/tcp/127.0.0.1/$web_port"
    printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    answer=$(timeout 20 cat <&3 || true)
    exec 3<&-
    if [[ "$answer" != "HTTP/1.1 200"* ]] || [[ "$answer" != *"<html"* ]]; then
        echo "build-oci-archive: perch from the image does not serve the chat app" >&2
        cat "$check/broker.log" >&2
        exit 1
    fi
    echo "perch from the image served the chat app on port $web_port"
fi
echo "build-oci-archive: $archive"
