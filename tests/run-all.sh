#!/usr/bin/env bash
# Builds every test with AddressSanitizer and UndefinedBehaviorSanitizer and runs them all, then
# runs a bounded fuzzing pass over each fuzz target. The chat app (web/) is built first where npm
# is installed, for its browser test (tests/web). Exits non-zero on the first failure.
# usage: tests/run-all.sh            (from the repository root; deploy/install-deps.sh test first)
#   PERCH_FUZZ_SECONDS=60  seconds per fuzz target (0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${PERCH_FUZZ_SECONDS:-60}

echo "== format check"
if command -v clang-format >/dev/null; then
    git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror
fi

echo "== web app (web/: npm ci && npm run build; its browser test runs with the others)"
# The app's packages come from the npm registry. Where it cannot be reached (no network, or a
# proxy whose certificate the machine does not trust), the app is not built and its browser test
# is left out, said loudly here; everything else still runs.
web_tests=()
if ! command -v npm >/dev/null; then
    web_tests=(-DPERCH_WEB_TESTS=OFF)
    echo "SKIPPED: the chat app and its browser tests (web_chat_app, web_admin_page): npm is not installed"
elif ! (cd web && npm ci --no-audit --no-fund && npm run build); then
    web_tests=(-DPERCH_WEB_TESTS=OFF)
    echo "SKIPPED: the chat app and its browser tests (web_chat_app, web_admin_page): npm ci or the build failed" \
         "(is the npm registry reachable, and its certificate trusted?)"
fi

echo "== build (ASan + UBSan)"
# -O1 -g1: the sanitizers' checks are the same, and the build takes much less time than at -O2 -g.
# LLVM's linker, where installed, links the fifty test programs in a third of ld's time.
linker=()
if command -v ld.lld >/dev/null; then
    linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
fi
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPERCH_SANITIZE=ON -DPERCH_WERROR=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    "${linker[@]}" "${web_tests[@]}"
cmake --build build-test -j"$jobs"

echo "== tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
ctest --test-dir build-test --output-on-failure -j"$jobs" --timeout 300

if [ "$fuzz_seconds" -gt 0 ] && [ -f tests/fuzz/CMakeLists.txt ]; then
    echo "== fuzz (${fuzz_seconds}s per target)"
    cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPERCH_FUZZ=ON
    cmake --build build-fuzz -j"$jobs" --target perch_fuzzers
    tests/fuzz/run-fuzzers.sh build-fuzz "$fuzz_seconds"
fi
echo "== all tests passed"
