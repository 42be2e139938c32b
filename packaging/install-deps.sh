#!/usr/bin/env bash
# Installs exactly the Debian 12 packages AttriScope needs to build, test and run.
# Idempotent: packages already present are skipped; nothing is fetched from outside Debian.
set -euo pipefail

PACKAGES=(
  # build (dpkg-dev comes with build-essential; CPack's Debian package asks dpkg-shlibdeps, which
  # needs `file`, for its dependencies)
  build-essential cmake ninja-build pkg-config file
  # LibTorch with an optimized BLAS (without libopenblas0-openmp it uses reference BLAS, ~15x slower)
  libtorch-dev libopenblas0-openmp
  libeigen3-dev libhdf5-dev zlib1g-dev
  # the GUI (Qt 6's GL headers, a font for its text and figures)
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev qt6-svg-dev qt6-tools-dev qt6-image-formats-plugins
  libgl-dev fonts-dejavu-core
  # the real-window UI test (a real X server)
  xvfb xauth
  # the demo data
  dataset-fashion-mnist
  # tests: GoogleTest and the PyTorch fixtures' checks
  libgtest-dev libgmock-dev
  python3-torch python3-h5py python3-numpy
  # .ci/sanitizers.sh: the fuzz harnesses (clang's libFuzzer); attriscope-mpi
  clang-14 libclang-rt-14-dev llvm-14
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
