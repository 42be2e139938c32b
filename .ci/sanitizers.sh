#!/usr/bin/env bash
# CI: the sanitizer checks of docs/reliability.md on top of the normal build.
#   (a) the `asan` preset (GCC, -fsanitize=address,undefined, no GUI): configure, build, ctest;
#   (b) every libFuzzer harness for 20 s (preset `fuzz`, clang-14) on a copy of its seed corpus.
# Needs the packages of packaging/install-deps.sh (clang-14, libclang-rt-14-dev, llvm-14 included).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${ATTRI_JOBS:-2}

start=$(date +%s)
echo ".ci/sanitizers.sh: asan preset"
nice -n 15 cmake --preset asan
nice -n 15 cmake --build --preset asan -j"$jobs"
ctest --preset asan
asan_done=$(date +%s)
echo ".ci/sanitizers.sh: asan build + tests took $((asan_done - start)) s"

echo ".ci/sanitizers.sh: fuzzing (20 s per harness)"
bash tests/fuzz/run-fuzz.sh 20
echo ".ci/sanitizers.sh: fuzzing took $(( $(date +%s) - asan_done )) s; total $(( $(date +%s) - start )) s"
