#!/usr/bin/env bash
# Measures how the two costly stages scale on this machine: featurization (attribute) with the
# training-set size n, the projection dimension k and the parameter count p, and ground-truth
# retraining (lds) with n; then one process against `mpirun -np 2 attriscope-mpi` for both.
# Prints one Markdown table row per run (seconds as the CLI reports them). About 10 minutes on
# 2 cores. Needs the release build (and attriscope-mpi, mpirun for the last rows).
#
#   tests/bench/scaling.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
cli=build/release/app/attriscope-cli
mpi=build/release/app/attriscope-mpi
out=${1:-$(mktemp -d "${TMPDIR:-/tmp}/attri-scaling.XXXXXX")}
mkdir -p "$out"
[ -x "$cli" ] || { echo "scaling: build first (cmake --preset release && cmake --build --preset release)" >&2; exit 2; }

# experiment NAME MODEL N [train options]: trains MODEL on the first N Fashion-MNIST images (for
# featurization 1 epoch: its cost does not depend on how well the model fits; ground truth
# retrains with the experiment's own recipe, so those experiments use the standard one).
experiment() {
  local file="$out/$1.h5" model=$2 n=$3
  shift 3
  [ -f "$file" ] || "$cli" train --data fashion-mnist --model "$model" --train-size "$n" --test-size 500 "$@" \
    --out "$file" >/dev/null
  echo "$file"
}
seconds() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); } # milliseconds → s.d
features_seconds() { sed -n 's/^method [a-z-]*: features \([0-9.]*\) s.*/\1/p' | tail -1; }
retrain_seconds() { sed -n 's/^ground truth: .*, \([0-9.]*\) s of retraining/\1/p' | tail -1; }
# attribute FILE K [extra args]: fresh featurization (stored attribution removed by --method if
# being recomputed) and its seconds.
attribute() {
  local file=$1 k=$2
  shift 2
  "$cli" "$@" attribute "$file" --method if --k "$k" --sensitivity-tests 10 2>/dev/null | features_seconds
}

echo "| stage | model | n | p | k | M | processes × threads | seconds |"
echo "|---|---|---|---|---|---|---|---|"
for n in 2500 5000 10000 20000; do
  f=$(experiment "mlp-$n" mlp "$n" --epochs 1)
  echo "| featurize | mlp | $n | 109386 | 1024 | | 1 × 2 | $(attribute "$f" 1024) |"
done
f=$(experiment mlp-5000 mlp 5000 --epochs 1)
for k in 256 4096; do
  echo "| featurize | mlp | 5000 | 109386 | $k | | 1 × 2 | $(attribute "$f" "$k") |"
done
for model in lr cnn; do
  f=$(experiment "$model-5000" "$model" 5000 --epochs 1)
  p=$("$cli" info "$f" | sed -n 's/.* \([0-9]*\) parameters.*/\1/p' | head -1)
  echo "| featurize | $model | 5000 | ${p:-?} | 1024 | | 1 × 2 | $(attribute "$f" 1024) |"
done
for n in 2500 5000 10000; do
  f=$(experiment "mlp-std-$n" mlp "$n")
  rm -f "$out/mlp-std-$n-lds.h5"
  cp "$f" "$out/mlp-std-$n-lds.h5"
  s=$("$cli" lds "$out/mlp-std-$n-lds.h5" --subsets 4 2>/dev/null | retrain_seconds)
  echo "| retrain (α = 0.5, standard recipe) | mlp | $n | 109386 | | 4 | 2 workers × 1 | $s |"
done

if [ -x "$mpi" ] && command -v mpirun >/dev/null; then
  env=(OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1)
  [ "$(id -u)" = 0 ] && env+=(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
  f=$(experiment mlp-20000 mlp 20000 --epochs 1)
  cp "$f" "$out/mpi-features.h5"
  start=$(date +%s%N)
  env "${env[@]}" mpirun -np 2 "$mpi" --threads 1 attribute "$out/mpi-features.h5" --method if --k 1024 \
    --sensitivity-tests 10 >/dev/null 2>&1
  wall=$(( ($(date +%s%N) - start) / 1000000 ))
  start=$(date +%s%N)
  "$cli" attribute "$out/mpi-features.h5" --method if --k 1024 --sensitivity-tests 10 >/dev/null 2>&1
  single=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "| attribute, whole command (wall) | mlp | 20000 | 109386 | 1024 | | mpirun 2 × 1 | $(seconds "$wall") |"
  echo "| attribute, whole command (wall) | mlp | 20000 | 109386 | 1024 | | 1 × 2 | $(seconds "$single") |"
  f=$(experiment mlp-std-5000 mlp 5000)
  for mode in mpi single; do
    cp "$f" "$out/$mode-lds.h5"
    start=$(date +%s%N)
    if [ $mode = mpi ]; then
      env "${env[@]}" mpirun -np 2 "$mpi" --threads 1 lds "$out/$mode-lds.h5" --subsets 8 --workers 1 >/dev/null 2>&1
      label="mpirun 2 × 1 worker"
    else
      "$cli" lds "$out/$mode-lds.h5" --subsets 8 --workers 2 >/dev/null 2>&1
      label="1 × 2 workers"
    fi
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "| lds, whole command (wall) | mlp | 5000 | 109386 | | 8 | $label | $(seconds "$wall") |"
  done
fi
echo
echo "files in $out"
