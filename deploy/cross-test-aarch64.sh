#!/usr/bin/env bash
# Cross-builds every Perch target for arm64 (Raspberry Pi 4B) and runs the tests under qemu-user,
# then the conformance suite (conformance/run.py) against the aarch64 perch under qemu.
# Tests that start the broker as a child process cannot go through ctest here (an aarch64 child
# needs binfmt_misc, which this machine need not have): the integration tests (label
# "integration") are compiled for arm64 but not run, and the conformance tests registered with
# ctest are replaced by the direct conformance run, which starts perch through qemu-aarch64.
# usage: deploy/cross-test-aarch64.sh        (from anywhere; deploy/install-cross-deps.sh first)
#   PERCH_BUILD_DIR     build directory (default: build-aarch64 in the repository root)
#   PERCH_CTEST_EXCLUDE_LABEL  ctest -LE value (default: integration)
#   PERCH_CTEST_EXCLUDE_REGEX  ctest -E value (default: ^conformance_)
#   PERCH_JOBS          parallel jobs (default: nproc)
#   PERCH_BUILD_TYPE    CMake build type (default: RelWithDebInfo, as the native test build)
#   PERCH_CROSS_SCOPE   all (default): every target, integration tests compiled but not run;
#                       unit: the integration tests are not even compiled (CI: saves minutes)
#   PERCH_CROSS_CONFORMANCE  1 (default) runs the conformance suite against the aarch64 perch
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${PERCH_BUILD_DIR:-$root/build-aarch64}
exclude_label=${PERCH_CTEST_EXCLUDE_LABEL:-integration}
exclude_regex=${PERCH_CTEST_EXCLUDE_REGEX:-^conformance_}
jobs=${PERCH_JOBS:-$(nproc)}
build_type=${PERCH_BUILD_TYPE:-RelWithDebInfo}
scope=${PERCH_CROSS_SCOPE:-all}
run_conformance=${PERCH_CROSS_CONFORMANCE:-1}
case "$scope" in
    all) integration=ON ;;
    unit) integration=OFF ;;
    *) echo "cross-test-aarch64: PERCH_CROSS_SCOPE must be all or unit, not '$scope'" >&2; exit 2 ;;
esac

for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake; do
    if ! command -v "$tool" >/dev/null; then
        echo "cross-test-aarch64: $tool is missing; run deploy/install-cross-deps.sh" >&2
        exit 2
    fi
done

started=$(date +%s)
echo "== configure ($build_dir)"
# The integration tests bake the reference broker's path into their binaries; they are not run
# here, so the build machine need not have Mosquitto installed. The PostgreSQL chat store is
# built (libpq from install-cross-deps.sh, found through the toolchain file): its unit tests run
# under qemu against a cluster of the build machine's own PostgreSQL server (amd64, started by
# the test as a child process on a unix socket), and skip, saying why, when it is not installed.
cmake -S "$root" -B "$build_dir" \
    -DCMAKE_TOOLCHAIN_FILE="$root/deploy/toolchain-aarch64.cmake" \
    -DCMAKE_BUILD_TYPE="$build_type" -DPERCH_WERROR=ON -DPERCH_BUILD_TESTS=ON \
    -DPERCH_INTEGRATION_TESTS="$integration" \
    -DPERCH_MOSQUITTO_EXECUTABLE=/usr/sbin/mosquitto \
    -DPERCH_POSTGRESQL=ON

echo "== build (all targets, scope $scope)"
cmake --build "$build_dir" -j"$jobs"
built=$(date +%s)

echo "== check: every program built is aarch64"
checked=0
while IFS= read -r binary; do
    description=$(file -b "$binary")
    case "$description" in
        ELF*"ARM aarch64"*) checked=$((checked + 1)) ;;
        ELF*) echo "cross-test-aarch64: $binary is not aarch64: $description" >&2; exit 1 ;;
    esac
done < <(find "$build_dir" -path "$build_dir/CMakeFiles" -prune -o -type f -perm -u+x -print)
echo "$checked aarch64 programs"

echo "== tests under qemu-aarch64 (excluding label '$exclude_label' and '$exclude_regex')"
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
status=0
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 600 \
    -LE "$exclude_label" -E "$exclude_regex" | tee "$summary" || status=$?

# ctest prints "100% tests passed, 0 tests failed out of 42"; turn it into passed/total.
line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$summary" | tail -n 1 || true)
if [ -z "$line" ]; then
    echo "cross-test-aarch64: ctest ran no test" >&2
    exit 1
fi
failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
tested=$(date +%s)

conformance_line="no conformance suite"
if [ "$run_conformance" = 1 ] && [ -x "$build_dir/gateway/perch" ] &&
    [ -f "$root/conformance/run.py" ]; then
    echo "== conformance suite against the aarch64 perch under qemu-aarch64"
    wrapper=$build_dir/perch-under-qemu
    printf '#!/bin/sh\nexec qemu-aarch64 -L / %s "$@"\n' "$build_dir/gateway/perch" >"$wrapper"
    chmod +x "$wrapper"
    python3 "$root/conformance/run.py" --broker perch --perch "$wrapper" | tee "$summary" ||
        status=$?
    conformance_line=$(grep -E '^perch: [0-9]+/[0-9]+ passed' "$summary" | tail -n 1 || true)
    if [ -z "$conformance_line" ]; then
        echo "cross-test-aarch64: the conformance suite printed no result" >&2
        status=1
    fi
fi
finished=$(date +%s)

echo "aarch64: $((total - failed))/$total unit tests passed under qemu" \
    "(build $((built - started)) s, tests $((tested - built)) s)"
echo "aarch64 conformance: $conformance_line (took $((finished - tested)) s)"
exit "$status"
