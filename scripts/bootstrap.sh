#!/usr/bin/env bash
# Idempotent bootstrap: system packages, npm ci, python venv, native build, TypeScript build.
# Prints each step; quick when nothing is missing. Never downloads anything at run time beyond
# the package registries (apt, npm, PyPI).
# CVP_GPU=1 also installs ONNX Runtime's GPU build (CUDA + TensorRT providers) for both engines;
# CVP_GPU=0 goes back to onnxruntime-node's bundled CPU library (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*"; }
SKIP=",${CVP_BOOTSTRAP_SKIP:-},"

# --- 1. system packages -------------------------------------------------------------------
# postgresql: the server the test suite runs a second pass against (scripts/test-postgres.sh); the
# tests start their own in a temp dir and never use the package's system cluster.
APT_PACKAGES=(nats-server libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev libgtest-dev
  libbenchmark-dev nlohmann-json3-dev libopencv-dev libturbojpeg0-dev libspng-dev libstb-dev
  cmake pkg-config g++ make ccache jq lcov chromium fonts-dejavu-core docker-compose curl unzip patchelf
  bubblewrap util-linux postgresql tmux)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) == 0 ]]; then
    say "installing system packages: ${missing[*]}"
    bash -c "$cmd"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "installing system packages with sudo: ${missing[*]}"
    sudo bash -c "$cmd"
  else
    echo "cvp needs system packages that are missing. Run as root:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
else
  say "system packages: present"
fi

# --- 2. node modules ----------------------------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [[ ! -f node_modules/.cvp-lock-hash || $(cat node_modules/.cvp-lock-hash) != "$lock_hash" ]]; then
  say "npm ci (lock $lock_hash)"
  # sqlite3 has no reachable prebuilt binary and compiles from source: ccache makes the next
  # clean clone (CI's) reuse that compilation.
  if command -v ccache >/dev/null; then
    export CC="ccache gcc" CXX="ccache g++" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
  fi
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
  unset CC CXX
  echo "$lock_hash" > node_modules/.cvp-lock-hash
else
  say "node_modules: up to date"
fi

# --- 3. python venv -----------------------------------------------------------------------
if [[ $SKIP != *,python,* && -f python/scripts/setup-venv.sh ]]; then
  bash python/scripts/setup-venv.sh
fi

# --- 3a. test tools venv (pip-audit, schemathesis, kubernetes-validate): kept apart from the ML environment ---
tools_hash=$(sha256sum python/requirements-tools.txt | cut -c1-16)
tools_dir="$HOME/.cache/cvp/tools-$tools_hash"
# Made in place (a venv's scripts name their interpreter by absolute path); .complete marks success.
if [[ $SKIP != *,tools,* && ! -f "$tools_dir/.complete" ]]; then
  say "test tools venv ($tools_dir)"
  rm -rf "$tools_dir"
  if python3 -m venv "$tools_dir" && "$tools_dir/bin/pip" install -q -r python/requirements-tools.txt; then
    touch "$tools_dir/.complete"
  else
    rm -rf "$tools_dir"
    say "test tools venv failed; the dependency audit and the schema fuzz report skipped"
  fi
fi

# --- 3a'. Go tools for the deploy files' offline checks (apps/packager/src/platform-deploy):
# kustomize renders deploy/k8s (platform-k8s.spec.ts); the nats CLI runs deploy/cluster/jetstream-init.sh
# against a 3-node nats-server cluster (platform-jetstream-init.spec.ts). Built once each from the Go
# module proxy into ~/.cache/cvp/bin (~2 min each, needs Go >= 1.22); without Go the kustomize spec
# falls back to `kubectl kustomize` and the init spec fails, naming what is missing.
kustomize_version=v5.5.0
natscli_version=v0.5.0
go_tool() { # <binary name> <module path> <version>
  local bin="$HOME/.cache/cvp/bin/$1-$3"
  [[ $SKIP == *,tools,* || -x "$bin" ]] && return 0
  if ! command -v go >/dev/null; then
    say "no Go toolchain: $1 $3 not built"
    return 0
  fi
  say "$1 $3 (Go module proxy)"
  local tmp
  tmp=$(mktemp -d)
  if GOBIN="$tmp" go install "$2@$3"; then
    mkdir -p "$(dirname "$bin")" && mv "$tmp/$(basename "${2%/v[0-9]*}")" "$bin"
  else
    say "$1 build failed; the deploy checks that need it will fail"
  fi
  rm -rf "$tmp"
}
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$kustomize_version"
go_tool natscli github.com/nats-io/natscli/nats "$natscli_version"

# --- 3b. ONNX Runtime GPU build -------------------------------------------------------------
# After npm ci (which reinstalls the bundled CPU library) and the venv (whose torch wheels carry the
# CUDA 13 libraries the providers load). Unset leaves whichever library is in place.
case "${CVP_GPU:-}" in
  1)
    say "CVP_GPU=1: ONNX Runtime GPU build for onnxruntime-node and the native core"
    bash scripts/gpu-ort.sh activate
    ;;
  0) bash scripts/gpu-ort.sh deactivate ;;
  "") ;;
  *)
    echo "CVP_GPU must be 1 or 0, not '$CVP_GPU'" >&2
    exit 1
    ;;
esac

# --- 4. native core -----------------------------------------------------------------------
if [[ $SKIP != *,native,* && -f native/scripts/build.sh ]]; then
  [[ -f native/scripts/fetch-ort-headers.sh ]] && bash native/scripts/fetch-ort-headers.sh
  bash native/scripts/build.sh
fi

# --- 5. TypeScript services ---------------------------------------------------------------
say "building TypeScript services (tsc, incremental)"
npx --no-install tsc -p tsconfig.build.json
# The cvp command has its own build (module node16 keeps its dynamic import of Ink, an ES module);
# package.json's "bin" makes `npx cvp` run it from the repository root.
say "building the cvp command (apps/cli)"
npx --no-install tsc -p apps/cli/tsconfig.build.json
# Also as node_modules/.bin/cvp (npm ci does not link a project's own bin): runs without npm.
ln -sf ../../apps/cli/bin/cvp.js node_modules/.bin/cvp
say "ready in ${SECONDS}s"
