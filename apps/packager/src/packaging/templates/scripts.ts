import { INFERENCE_MAIN } from '../app-payload';
import { type BundleSpec, ENTRYPOINT, INFERENCE_PORT, MODEL_CONFIG, NATIVE_PORT } from './bundle-spec';

/**
 * The bundle's ONE start-up path: both Dockerfiles use it as ENTRYPOINT and run.sh execs it.
 * It starts the native core first when the engine is `native`, then the data plane with the
 * model deployed from the bundled config; it forwards SIGTERM/SIGINT and stops both together.
 */
export function entrypointScript(spec: BundleSpec): string {
  return `#!/bin/sh
# cvp bundle entrypoint — the one start-up path of this bundle: Dockerfile.cpu, Dockerfile.cuda and
# run.sh all run this file. Serves model "${spec.modelName}" with engine ${spec.engine}.
set -eu
BUNDLE_DIR="\${CVP_BUNDLE_DIR:-$(cd "$(dirname "$0")" && pwd)}"
ENGINE="${spec.engine}"

export NODE_ENV="\${NODE_ENV:-production}"
export CVP_HOST="\${CVP_HOST:-127.0.0.1}"
export CVP_INFERENCE_PORT="\${CVP_INFERENCE_PORT:-${INFERENCE_PORT}}"
export CVP_DATA_DIR="\${CVP_DATA_DIR:-$BUNDLE_DIR/var}"
# The model is deployed at start-up from this file; no NATS and no gateway inside a bundle.
export CVP_INFER_MODEL_CONFIG="\${CVP_INFER_MODEL_CONFIG:-$BUNDLE_DIR/${MODEL_CONFIG}}"
export CVP_INFER_STANDALONE=1
mkdir -p "$CVP_DATA_DIR"

NATIVE_PID=""
if [ "$ENGINE" = "native" ]; then
  NATIVE_BIN="\${CVP_NATIVE_BIN:-$BUNDLE_DIR/native/build/cvp-core}"
  if [ ! -x "$NATIVE_BIN" ]; then
    echo "entrypoint: native core not found at $NATIVE_BIN (build it: see DEPLOY.md, or set CVP_NATIVE_BIN)" >&2
    exit 1
  fi
  export CVP_NATIVE_PORT="\${CVP_NATIVE_PORT:-${NATIVE_PORT}}"
  export CVP_NATIVE_ADDR="\${CVP_NATIVE_ADDR:-127.0.0.1:$CVP_NATIVE_PORT}"
  # The core listens on loopback only and may open models under the bundle's model folder only.
  LD_LIBRARY_PATH="\${CVP_NATIVE_LD_LIBRARY_PATH:-\${LD_LIBRARY_PATH:-}}" \\
    "$NATIVE_BIN" --host 127.0.0.1 --port "$CVP_NATIVE_PORT" --model-root "$BUNDLE_DIR/model" &
  NATIVE_PID=$!
fi

node -r "$BUNDLE_DIR/app/register-paths.js" "$BUNDLE_DIR/${INFERENCE_MAIN}" &
NODE_PID=$!

stop() {
  kill -TERM "$NODE_PID" 2>/dev/null || true
  [ -n "$NATIVE_PID" ] && kill -TERM "$NATIVE_PID" 2>/dev/null || true
}
trap stop INT TERM

# Whichever exits first takes the other down: a data plane without its core is not healthy.
status=0
if [ -n "$NATIVE_PID" ]; then
  while kill -0 "$NODE_PID" 2>/dev/null && kill -0 "$NATIVE_PID" 2>/dev/null; do sleep 1; done
  stop
  wait "$NATIVE_PID" 2>/dev/null || true
fi
wait "$NODE_PID" || status=$?
exit "$status"
`;
}

/** Starts the bundle without Docker where node is installed, through the same entrypoint. */
export function runScript(spec: BundleSpec): string {
  return `#!/bin/sh
# Runs this cvp bundle without Docker (node >= 20 on PATH). It prepares node_modules, then execs
# ${ENTRYPOINT} — the same entrypoint the Docker images use. See DEPLOY.md.
#   NODE_PATH=/path/to/node_modules ./run.sh   reuse an existing install (e.g. the platform's)
#   ./run.sh                                  npm ci --omit=dev --offline from the local npm cache
#   CVP_BUNDLE_ONLINE=1 ./run.sh              the same, allowed to reach the npm registry
set -eu
BUNDLE_DIR="$(cd "$(dirname "$0")" && pwd)"
ENGINE="${spec.engine}"

# Settings from .env (same file docker compose reads) for keys the environment does not set.
if [ -f "$BUNDLE_DIR/.env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    key="\${line%%=*}"
    [ "$key" = "$line" ] && continue
    case "$key" in ''|[0-9]*|*[!A-Za-z0-9_]*) continue ;; esac
    eval "already=\\\${$key+set}"
    [ -n "$already" ] || export "$key=\${line#*=}"
  done < "$BUNDLE_DIR/.env"
fi

command -v node >/dev/null 2>&1 || { echo "run.sh: node (>= 20) is not on PATH" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  { echo "run.sh: node >= 20 required, found $(node --version)" >&2; exit 1; }

if [ -n "\${NODE_PATH:-}" ]; then
  echo "run.sh: using node_modules from NODE_PATH=$NODE_PATH" >&2
  ORT_DIR="\${NODE_PATH%%:*}/onnxruntime-node/bin/napi-v6/linux/x64"
elif [ -d "$BUNDLE_DIR/app/node_modules" ]; then
  ORT_DIR="$BUNDLE_DIR/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
else
  offline="--offline"
  [ "\${CVP_BUNDLE_ONLINE:-0}" = "1" ] && offline=""
  echo "run.sh: installing production dependencies (npm ci --omit=dev --ignore-scripts $offline)" >&2
  if ! (cd "$BUNDLE_DIR/app" && ONNXRUNTIME_NODE_INSTALL="\${ONNXRUNTIME_NODE_INSTALL:-skip}" \\
        npm ci --omit=dev --ignore-scripts $offline --no-audit --no-fund); then
    rm -rf "$BUNDLE_DIR/app/node_modules"
    echo "run.sh: npm ci failed. Offline installs need the packages in the npm cache; set NODE_PATH to an" >&2
    echo "        existing node_modules, or run with CVP_BUNDLE_ONLINE=1 where the registry is reachable." >&2
    exit 1
  fi
  ORT_DIR="$BUNDLE_DIR/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
fi

if [ "$ENGINE" = "native" ] && [ -z "\${CVP_NATIVE_BIN:-}" ] && [ ! -x "$BUNDLE_DIR/native/build/cvp-core" ]; then
  command -v cmake >/dev/null 2>&1 || { echo "run.sh: engine native needs the core: set CVP_NATIVE_BIN, or install cmake and the build packages (DEPLOY.md)" >&2; exit 1; }
  echo "run.sh: building the native core from native/ (once)" >&2
  [ -f "$BUNDLE_DIR/native/.deps/ort/usr/include/onnxruntime/onnxruntime_cxx_api.h" ] || bash "$BUNDLE_DIR/native/scripts/fetch-ort-headers.sh"
  cmake -S "$BUNDLE_DIR/native" -B "$BUNDLE_DIR/native/build" -DCMAKE_BUILD_TYPE=Release -DCVP_BUILD_TESTS=OFF -DCVP_BUILD_BENCH=OFF \\
    -DCVP_ORT_LIB="$ORT_DIR/libonnxruntime.so.1" -DCVP_PROTO="$BUNDLE_DIR/native/proto/cvp_inference.proto" >&2
  cmake --build "$BUNDLE_DIR/native/build" --target cvp-core -j "$(nproc 2>/dev/null || echo 2)" >&2
fi
export CVP_NATIVE_LD_LIBRARY_PATH="\${CVP_NATIVE_LD_LIBRARY_PATH:-$ORT_DIR}"
export CVP_HOST="\${CVP_HOST:-127.0.0.1}"
exec "$BUNDLE_DIR/${ENTRYPOINT}"
`;
}
