#!/usr/bin/env bash
# Builds the Debian package from a configured and built tree, then checks it the way a user
# would meet it: its dependencies resolve with apt (simulated install, nothing changes), and,
# unpacked into a throw-away root, the installed attriscope-cli reports its version and runs the
# headless demo; the desktop entry, icon and docs are where the desktop looks for them.
# Usage: packaging/test-deb.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build/release}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/pkg/attriscope_*.deb)
echo "test-deb: built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg-deb --field "$deb" Package Version Depends
dpkg-deb --field "$deb" Depends | grep -q libtorch || { echo "test-deb: Depends lacks LibTorch" >&2; exit 1; }

# Dependency resolution against the system's package lists (a simulation: installs nothing).
if apt-get install -s "$deb" >"$work/apt.log" 2>&1; then
  echo "test-deb: apt-get install -s resolves every dependency"
else
  cat "$work/apt.log" >&2
  echo "test-deb: apt-get could not resolve the package's dependencies" >&2
  exit 1
fi

root="$work/root"
dpkg-deb -x "$deb" "$root"
for f in usr/bin/attriscope usr/bin/attriscope-cli usr/share/applications/attriscope.desktop \
         usr/share/icons/hicolor/scalable/apps/attriscope.svg usr/share/doc/attriscope/README.md \
         usr/share/doc/attriscope/LICENSE.demo-data; do
  [ -e "$root/$f" ] || { echo "test-deb: $f is missing from the package" >&2; exit 1; }
done
# attriscope-mpi ships when the build found MPI (the project's dependencies include OpenMPI).
if [ -x "$build/app/attriscope-mpi" ]; then
  [ -x "$root/usr/bin/attriscope-mpi" ] || { echo "test-deb: usr/bin/attriscope-mpi is missing from the package" >&2; exit 1; }
fi
"$root/usr/bin/attriscope-cli" --version
"$root/usr/bin/attriscope-cli" demo --out "$work/demo" >"$work/demo.log" 2>&1 || { tail -20 "$work/demo.log"; exit 1; }
[ -s "$work/demo/demo.h5" ] || { echo "test-deb: the installed demo wrote no demo.h5" >&2; exit 1; }
"$root/usr/bin/attriscope-cli" info "$work/demo/demo.h5" | head -3
echo "test-deb: the installed package runs the demo"
