#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time over a scratch copy of its seed
# corpus (the committed corpus is never modified). Fails on any crash, leak or sanitizer report.
# usage: tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds=$2
corpus_root="$(cd "$(dirname "$0")" && pwd)/corpus"
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
for target in decoder properties websocket_deflate websocket_frame websocket_message relay_envelope; do
    binary="$build_dir/tests/fuzz/${target}_fuzzer"
    if [ ! -x "$binary" ]; then
        echo "missing $binary (build the perch_fuzzers target first)" >&2
        exit 1
    fi
    work=$(mktemp -d)
    log=$(mktemp)
    if [ -d "$corpus_root/$target" ]; then
        cp -r "$corpus_root/$target/." "$work/"
    fi
    result=0
    "$binary" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$work" >"$log" 2>&1 || result=$?
    executions=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    if [ "$result" -ne 0 ] ||
        grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        tail -n 80 "$log"
        echo "FAIL ${target}_fuzzer (exit $result); artifacts in $artifacts" >&2
        status=1
    else
        echo "ok   ${target}_fuzzer: ${executions:-0} executions in ${seconds}s"
    fi
    rm -rf "$work" "$log"
done
exit "$status"
