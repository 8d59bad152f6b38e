#!/usr/bin/env bash
# Installs every package Perch needs to build, test and run, from Debian 12's archive.
# usage: deploy/install-deps.sh [runtime|build|test|web]   (default: test, which includes build)
#   web: Node.js and npm alone, to build the chat app (web/) where nothing else is needed
set -euo pipefail
profile=${1:-test}

runtime=(libwolfssl35 libsqlite3-0 libpq5 libfmt9 ca-certificates)
build=(build-essential cmake pkg-config git
       libboost-dev libwolfssl-dev libsqlite3-dev libpq-dev libfmt-dev nlohmann-json3-dev)
test=(libgtest-dev libgmock-dev googletest
      libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev mosquitto mosquitto-clients
      clang clang-format libclang-rt-14-dev lld python3 procps curl
      postgresql
      nodejs node-mqtt node-ws chromium)

case "$profile" in
    runtime) packages=("${runtime[@]}") ;;
    build) packages=("${build[@]}") ;;
    web) packages=(nodejs ca-certificates)
        if ! command -v npm >/dev/null; then packages+=(npm); fi ;;
    test) packages=("${build[@]}" "${test[@]}")
        # npm builds the chat app (web/). A Node.js from outside Debian (NodeSource's) brings its
        # own npm and conflicts with Debian's npm package, so that is added only when missing.
        if ! command -v npm >/dev/null; then packages+=(npm); fi ;;
    *) echo "install-deps: unknown profile '$profile' (runtime, build, test or web)" >&2; exit 2 ;;
esac

sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
