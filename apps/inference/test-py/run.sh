#!/usr/bin/env bash
# Drives the compiled inference service with Triton's own Python client (tritonclient[http]).
# Builds nothing: expects dist/ (npx tsc -p tsconfig.build.json) and python/.venv. Starts nats-server
# and the inference service on free loopback ports (plus the native core when it is built), deploys
# fixture models by publishing cvp.deployments.changed, runs pytest, and stops everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
here="$root/apps/inference/test-py"
py="$root/python/.venv/bin/python"
main="$root/dist/apps/inference/src/main.js"
fixtures="$root/apps/inference/test/fixtures"
core="$root/native/build/cvp-core"
[[ -x "$py" ]] || { echo "run.sh: $py missing (python venv not set up)" >&2; exit 1; }
[[ -f "$main" ]] || { echo "run.sh: $main missing; build first: npx tsc -p tsconfig.build.json" >&2; exit 1; }

work="$(mktemp -d /tmp/cvp-pytest-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # url, seconds
  for _ in $(seq $(( $2 * 10 ))); do
    if "$py" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run.sh: $1 not ready after $2 s" >&2; return 1
}

nats_port="$(free_port)"
nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
models=("multi=ort-node:$fixtures/multi_dtype.onnx" "mlp=ort-node:$fixtures/mlp.onnx")
native_addr=127.0.0.1:1
if [[ -x "$core" ]]; then
  core_port="$(free_port)"
  "$core" --host 127.0.0.1 --port "$core_port" --log-level warn >"$work/core.log" 2>&1 &
  pids+=($!)
  native_addr="127.0.0.1:$core_port"
  models+=("multi_native=native:$fixtures/multi_dtype.onnx" "mlp_native=native:$fixtures/mlp.onnx")
else
  echo "run.sh: native core not built ($core): native-engine cases are skipped" >&2
fi
sleep 0.5
port="$(free_port)"
(cd "$root" && CVP_INFERENCE_PORT="$port" CVP_NATS_URL="nats://127.0.0.1:$nats_port" CVP_NATIVE_ADDR="$native_addr" \
  CVP_DATA_DIR="$work/data" CVP_LOG_LEVEL=warn NODE_ENV=test \
  exec node -r ./scripts/register-paths.js "$main") >"$work/inference.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/v2/health/live" 30
(cd "$root" && node "$here/deploy.js" "nats://127.0.0.1:$nats_port" "${models[@]}")
names="$(printf '%s\n' "${models[@]}" | cut -d= -f1 | paste -sd, -)"
for m in ${names//,/ }; do
  wait_http "http://127.0.0.1:$port/v2/models/$m/ready" 60 || { cat "$work/inference.log" >&2; exit 1; }
done
wait_http "http://127.0.0.1:$port/v2/health/ready" 30
status=0
CVP_TEST_INFER_URL="127.0.0.1:$port" CVP_TEST_MODELS="$names" CVP_TEST_FIXTURES="$fixtures" \
  "$py" -m pytest -q "$here" "$@" || status=$?
[[ $status -eq 0 ]] || { echo "--- inference log ---" >&2; tail -n 50 "$work/inference.log" >&2; }
exit $status
