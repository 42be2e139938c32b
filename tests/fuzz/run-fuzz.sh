#!/usr/bin/env bash
# Builds the libFuzzer harnesses (preset `fuzz`, clang-14) when needed and runs each one for
# SECONDS (default 30) on a scratch copy of its seed corpus; the committed corpus under
# tests/fuzz/corpus/ is never written.
#
# The harnesses over HDF5 and LibTorch run in libFuzzer's fork mode and keep fuzzing after a
# finding, so that a bug in a library (HDF5 1.10 has several) does not end the run after a
# second; the others stop at their first finding. Every input that
# crashed, leaked, timed out (-timeout=10), ran out of memory (-rss_limit_mb=2048), hit UB or
# threw something other than attri::Error is kept under build/fuzz/findings/<harness>/ (emptied
# at the start of each run), replayed on its own, and classified by the innermost frame of its
# report: AttriScope code ("ours") or an uninstrumented library (HDF5, LibTorch, zlib).
#
# Prints one line per harness (executions, clean or not, findings by origin) and exits 1 when
# any finding is ours; findings inside a library only, and findings whose input does not
# reproduce them when replayed alone, are listed and exit 1 only with ATTRI_FUZZ_STRICT=1. Once fixed, copy the input to tests/fuzz/regressions/<harness>/.
#
# The mutation sequence is seeded (ATTRI_FUZZ_SEED, default 1; libFuzzer's -seed), so CI runs
# walk the same inputs in the same order. A time-bounded run still stops after however many
# inputs the machine managed, so a slower run covers a prefix of a faster one. Set
# ATTRI_FUZZ_SEED=0 for a fresh random seed per run (libFuzzer's own default), to explore.
#
#   tests/fuzz/run-fuzz.sh [SECONDS]
#   FUZZERS="fuzz_idx fuzz_cifar" tests/fuzz/run-fuzz.sh 60   # a subset
#   ATTRI_FUZZ_SEED=0 tests/fuzz/run-fuzz.sh 600               # unseeded exploration
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: tests/fuzz/run-fuzz.sh [SECONDS]   (SECONDS a positive integer, default 30)" >&2
  exit 2
fi
seed=${ATTRI_FUZZ_SEED:-1}
if ! [[ "$seed" =~ ^[0-9]+$ ]]; then
  echo "run-fuzz: ATTRI_FUZZ_SEED must be a non-negative integer, got '$seed'" >&2
  exit 2
fi
all="fuzz_idx fuzz_cifar fuzz_hdf5_dataset fuzz_experiment_file fuzz_torchscript fuzz_spec_strings"
fuzzers=${FUZZERS:-$all}
bin=build/fuzz/tests/fuzz

# Configure once, then let ninja decide what is stale (nothing, usually).
if [ ! -f build/fuzz/build.ninja ]; then
  nice -n 15 cmake --preset fuzz >/dev/null || { echo "run-fuzz: configuring the fuzz preset failed" >&2; exit 2; }
fi
# shellcheck disable=SC2086
nice -n 15 cmake --build --preset fuzz -j2 --target $fuzzers || { echo "run-fuzz: build failed" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/attri-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
findings_root=build/fuzz/findings
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer
# UB aborts (the harnesses are built with -fno-sanitize-recover=all); stack traces for both.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
limits=(-rss_limit_mb=2048 -timeout=10)
# Harnesses over HDF5 and LibTorch run in fork mode (see above); the others stop at a finding,
# which is always ours, and run several times faster without the forking.
fork_harnesses="fuzz_hdf5_dataset fuzz_experiment_file fuzz_torchscript"

# Origin of a finding: the innermost frame of the replayed report that is not the sanitizer or
# libFuzzer runtime, an allocator, the C or C++ runtime, or a standard-library template.
classify() { # harness artifact
  local out
  out=$(ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" timeout 120 "$bin/$1" "${limits[@]}" "$2" 2>&1)
  local frame
  frame=$(printf '%s\n' "$out" | grep -E '^ +#[0-9]+ 0x' \
    | grep -vE '__sanitizer|__asan|__lsan|__ubsan|__interceptor|fuzzer::|LLVMFuzzerTestOneInput|in (malloc|calloc|realloc|free|strdup|strndup|memcpy|memmove|memset|memcmp|strlen|strnlen|strcmp|strncmp|strcpy|strncpy|operator new|operator delete)[ (]|in __(mem|str)|sysdeps/|__libc|/libc\.so|libstdc\+\+|libgcc_s|__cxa|__gxx|_Unwind|in (raise|abort|gsignal|main|_start) |in std::|in __gnu_cxx|H5MM_|H5FL_|attri::fuzz::' \
    | head -1)
  if ! grep -qE 'ERROR: |runtime error:|FINDING:|deadly signal' <<<"$out"; then
    echo "not reproducible on replay (state from earlier inputs in the same process?)"
  elif [ -z "$frame" ]; then
    echo "ours (no stack; replay $2)"
  elif [[ "$frame" =~ (libhdf5[a-z_]*|libtorch[a-z_]*|libc10|libz\.so|libprotobuf|libgomp|libopenblas) ]]; then
    echo "third-party ${BASH_REMATCH[1]}: $(sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ (in )?//; s/ \(BuildId.*//' <<<"$frame" | cut -c1-100)"
  else
    echo "ours: $(sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ (in )?//; s/ \(BuildId.*//' <<<"$frame" | cut -c1-140)"
  fi
}

status=0
summary=()
for f in $fuzzers; do
  name=${f#fuzz_}
  corpus="$work/$name"
  findings="$findings_root/$name"
  rm -rf "$findings"
  mkdir -p "$corpus" "$findings"
  cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  # The TorchScript seeds are the test fixtures themselves (not duplicated in the corpus).
  [ "$name" = torchscript ] && cp tests/fixtures/ts_*.pt "$corpus"/
  seeds=$(ls "$corpus" | wc -l)
  log="$work/$name.log"
  start=$(date +%s)
  mode=(-print_final_stats=1)
  [[ " $fork_harnesses " == *" $f "* ]] && mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  TMPDIR="$work" nice -n 15 "$bin/$f" "$corpus" "${mode[@]}" -max_total_time="$seconds" "${limits[@]}" \
    -seed="$seed" -artifact_prefix="$findings/" >"$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  ours=0
  third=0
  flaky=0
  details=()
  for a in "$findings"/*; do
    [ -f "$a" ] || continue
    origin=$(TMPDIR="$work" classify "$f" "$a")
    details+=("    $(basename "$a"): $origin")
    case "$origin" in
      third-party*) third=$((third + 1)) ;;
      "not reproducible"*) flaky=$((flaky + 1)) ;;
      *) ours=$((ours + 1)) ;;
    esac
  done
  if [ $((ours + third + flaky)) -eq 0 ] && [ "$rc" -ne 0 ] && ! grep -q 'INFO: exiting: [1-9]' "$log"; then
    ours=1 # the fuzzer itself failed without leaving an input
    details+=("    fuzzer exited $rc without an input; last lines: $(tail -3 "$log" | tr '\n' ' ')")
  fi
  if [ $((ours + third + flaky)) -eq 0 ]; then
    verdict=clean
  elif [ "$ours" -gt 0 ]; then
    verdict=FINDING
    status=1
  else
    verdict=libraries
    [ "${ATTRI_FUZZ_STRICT:-0}" = 1 ] && status=1
  fi
  line=$(printf '%-22s %-11s %9s execs in %3ss (%s seeds, %s); findings: %d ours, %d in libraries, %d not reproducible' \
    "$f" "$verdict" "${execs:-?}" "$elapsed" "$seeds" "${cov:-cov ?}" "$ours" "$third" "$flaky")
  echo "$line"
  [ ${#details[@]} -gt 0 ] && printf '%s\n' "${details[@]}"
  summary+=("$line")
done

echo
echo "run-fuzz: ${seconds}s per harness, seed $seed (-rss_limit_mb=2048 -timeout=10; fork mode for $fork_harnesses)"
printf '%s\n' "${summary[@]}"
if [ "$status" -ne 0 ]; then
  echo "run-fuzz: FINDINGS; inputs under $findings_root/<harness>/" >&2
fi
exit "$status"
