#!/usr/bin/env bash
# Configure and build the native core. Idempotent and quick when up to date.
#   native/scripts/build.sh              -> native/build      (Release: cvp-core, cvp_tests, cvp-bench)
#   native/scripts/build.sh --coverage   -> native/build-cov  (gcov instrumentation, for test.sh)
#   native/scripts/build.sh --sanitize   -> native/build-asan (ASan + UBSan)
# CVP_BUILD_JOBS (default 2) caps parallel compile jobs.
set -euo pipefail

native="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "${1:-}" in
  "") dir="$native/build"; opts=(-DCMAKE_BUILD_TYPE=Release) ;;
  --coverage) dir="$native/build-cov"; opts=(-DCMAKE_BUILD_TYPE=Debug -DCVP_COVERAGE=ON -DCVP_BUILD_BENCH=OFF) ;;
  --sanitize) dir="$native/build-asan"; opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCVP_SANITIZE=ON -DCVP_BUILD_BENCH=OFF) ;;
  *) echo "usage: $0 [--coverage|--sanitize]" >&2; exit 2 ;;
esac

"$native/scripts/fetch-ort-headers.sh"
ort="$native/../node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
if [[ ! -f "$ort" ]]; then
  echo "[native/build] missing $ort: run 'npm ci' at the repo root first (onnxruntime-node ships the library)" >&2
  exit 1
fi

# ccache (installed by the bootstrap) makes a fresh clone's build, CI's included, reuse earlier
# compilations; CCACHE_BASEDIR keeps its keys independent of where the clone lives. Not for the
# coverage build: its .gcno notes carry the clone's paths, which a cached object would not.
if command -v ccache >/dev/null && [[ "${1:-}" != --coverage ]]; then
  opts+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$(cd "$native/.." && pwd)" CCACHE_NOHASHDIR=1
fi
if [[ ! -f "$dir/CMakeCache.txt" ]]; then
  echo "[native/build] configuring $dir"
  cmake -S "$native" -B "$dir" "${opts[@]}"
fi
# cmake --build re-runs the configure step by itself when CMakeLists.txt changes
echo "[native/build] building $dir"
cmake --build "$dir" -j "${CVP_BUILD_JOBS:-2}"
echo "[native/build] ok: $dir"
