#!/usr/bin/env bash
# Installs what cross-building Perch for arm64 (Raspberry Pi 4B, Debian/Raspberry Pi OS arm64)
# needs on an amd64 Debian 12 machine: the cross compiler, qemu-user to run the aarch64 test
# binaries, and the arm64 builds of the libraries Perch links, side by side with the native ones
# (Debian multiarch: they land in /usr/lib/aarch64-linux-gnu).
# usage: deploy/install-cross-deps.sh [build|test|oci]   (default: test)
#   build  the cross compiler and the arm64 libraries perch links (deploy/build-image.sh with
#          PERCH_TARGET_ARCH=arm64, e.g. the Dockerfile's build stage)
#   test   build, plus qemu-user and the arm64 test libraries (deploy/cross-test-aarch64.sh)
#   oci    test, plus buildah and a static qemu (deploy/build-oci-archive.sh)
set -euo pipefail
profile=${1:-test}

# Host (amd64) tools for building.
#   g++-aarch64-linux-gnu  Debian's cross compiler; it searches the multiarch directories
#                          /usr/include/aarch64-linux-gnu and /usr/lib/aarch64-linux-gnu itself.
#   cmake, pkg-config      the build itself (usually present already).
build_host=(g++-aarch64-linux-gnu cmake pkg-config)

# arm64 libraries that perch links. Each is "Multi-Arch: same", so it installs beside the amd64
# package of the same version (apt may upgrade the amd64 one to match).
#   libboost-dev:arm64      Asio and Beast (headers only). Boost's headers are the same on every
#                           architecture, but its CMake package files live in the per-architecture
#                           directory, so the arm64 package is what find_package(Boost) finds.
#   libfmt-dev:arm64        fmt, linked by perch_common.
#   libwolfssl-dev:arm64    TLS listeners (gateway/).
#   libsqlite3-dev:arm64    the store (store/).
#   libpq5:arm64            libpq, the PostgreSQL chat store's client library (store/postgres/);
#                           its headers come from libpq-dev:arm64, unpacked below.
build_arm64=(libboost-dev:arm64 libfmt-dev:arm64 libwolfssl-dev:arm64 libsqlite3-dev:arm64
             libpq5:arm64)

# libpq-dev is not "Multi-Arch: same" in Debian 12 (it ships /usr/bin/pg_config and the headers
# under /usr/include/postgresql): installing libpq-dev:arm64 would remove the amd64 libpq-dev the
# native build needs. Its arm64 package is unpacked instead, not installed, under this root;
# deploy/toolchain-aarch64.cmake takes libpq's headers from there and links the installed
# /usr/lib/aarch64-linux-gnu/libpq.so.5. (Its headers differ from the amd64 ones only in
# pg_config.h's build details, e.g. the CRC instructions, which libpq's API does not use.)
libpq_dev_root=/opt/perch-cross/libpq-dev-arm64

# Running the tests.
#   qemu-user              qemu-aarch64, the CMAKE_CROSSCOMPILING_EMULATOR that runs the tests.
#   file                   cross-test-aarch64.sh checks that every program built is aarch64.
#   python3                runs the conformance suite against the aarch64 perch.
#   libgtest-dev:arm64,    the unit tests (GTest::gtest, GTest::gmock); Debian ships them
#   libgmock-dev:arm64     prebuilt per architecture.
#   libpaho-mqttpp-dev:arm64, only because tests/integration/CMakeLists.txt requires PahoMqttCpp
#   libpaho-mqtt-dev:arm64, at configure time (Paho C++'s CMake package looks for Paho C and
#   libssl-dev:arm64        OpenSSL); the integration tests are compiled for arm64 but not run
#                           under qemu (they start the broker as a child process).
test=(qemu-user file python3 libgtest-dev:arm64 libgmock-dev:arm64
      libpaho-mqttpp-dev:arm64 libpaho-mqtt-dev:arm64 libssl-dev:arm64)

# The container image.
#   buildah                assembles the image without a container daemon (vfs storage).
#   qemu-user-static       a static qemu-aarch64 that runs inside the image's own root (chroot),
#                          proving the image carries every library perch needs.
oci=(buildah qemu-user-static)

case "$profile" in
    build) packages=("${build_host[@]}" "${build_arm64[@]}") ;;
    test) packages=("${build_host[@]}" "${build_arm64[@]}" "${test[@]}") ;;
    oci) packages=("${build_host[@]}" "${build_arm64[@]}" "${test[@]}" "${oci[@]}") ;;
    *) echo "install-cross-deps: unknown profile '$profile' (build, test or oci)" >&2; exit 2 ;;
esac

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${packages[@]}"

# The arm64 libpq-dev, unpacked (see libpq_dev_root above), at the version of the libpq5:arm64
# just installed.
libpq_version=$(dpkg-query -W -f='${Version}' libpq5:arm64)
if [ "$(cat "$libpq_dev_root/version" 2>/dev/null)" != "$libpq_version" ]; then
    download=$(mktemp -d)
    chmod 755 "$download" # apt downloads as the user _apt
    (cd "$download" && apt-get download -q "libpq-dev:arm64=$libpq_version")
    $sudo rm -rf "$libpq_dev_root"
    $sudo mkdir -p "$libpq_dev_root"
    $sudo dpkg-deb -x "$download"/libpq-dev_*_arm64.deb "$libpq_dev_root"
    echo "$libpq_version" | $sudo tee "$libpq_dev_root/version" >/dev/null
    rm -rf "$download"
fi
