#!/usr/bin/env bash
# Fetch ONNX Runtime C/C++ headers for the native core.
#
# Debian 12 has no ONNX Runtime package. We download ONLY Debian 13 (trixie)'s libonnxruntime-dev
# .deb through a private apt configuration (nothing is installed into the system) and unpack its
# headers under native/.deps/. The library itself comes from onnxruntime-node (the C API is
# versioned, so 1.21 headers drive the 1.30 library). Idempotent: a no-op when headers exist.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$here/.deps"
inc="$deps/ort/usr/include/onnxruntime"

if [[ -f "$inc/onnxruntime_cxx_api.h" ]]; then
  echo "[fetch-ort-headers] headers present: $inc"
  exit 0
fi

src_file=/etc/apt/sources.list.d/debian.sources
uri="$(awk '/^URIs:/ {print $2; exit}' "$src_file" 2>/dev/null || true)"
uri="${uri:-http://deb.debian.org/debian}"
keyring="$(awk '/^Signed-By:/ {print $2; exit}' "$src_file" 2>/dev/null || true)"
keyring="${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}"

apt_dir="$deps/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$deps/ort"
cat > "$apt_dir/trixie.sources" <<SRC
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: $keyring
SRC

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/trixie.sources"
  -o "Dir::Etc::SourceParts=/nonexistent"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "Debug::NoLocking=1"
)

echo "[fetch-ort-headers] apt-get update (private lists, trixie from $uri)"
apt-get "${apt_opts[@]}" -qq update
echo "[fetch-ort-headers] downloading libonnxruntime-dev .deb (not installing it)"
(cd "$apt_dir/archives" && apt-get "${apt_opts[@]}" -qq download libonnxruntime-dev)
deb="$(ls -1 "$apt_dir"/archives/libonnxruntime-dev_*.deb | head -n1)"
echo "[fetch-ort-headers] unpacking $(basename "$deb") into $deps/ort"
dpkg -x "$deb" "$deps/ort"
test -f "$inc/onnxruntime_cxx_api.h"
echo "[fetch-ort-headers] headers ready: $inc"
