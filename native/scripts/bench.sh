#!/usr/bin/env bash
# The native core's benchmark (a benchmark, not a test): ONNX Runtime in-process vs the
# same model served by cvp-core over gRPC, at concurrency 1 and 16, in one run per file, on
#   - yolov8n at 640 exported by the python side (the platform's model), and
#   - the medium_cnn fixture (2 ms a request: the serving overhead at its most visible),
# each with tensors in the gRPC message (tcp) and in registered shared memory (shm).
# RSS over 10k served requests is checked on the small model (10k yolov8n runs take ~15 min here).
# Results: bench/results/native-core*.json. Needs native/scripts/build.sh and the python venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$root/native/build/cvp-bench"
out="$root/bench/results"
models="$root/var/bench-models"
[[ -x "$bin" ]] || "$root/native/scripts/build.sh"
mkdir -p "$out" "$models"
if [[ ! -f "$models/yolov8n-640/model.onnx" ]]; then
  echo "[native/bench] exporting yolov8n 640 (architecture only, untrained weights)"
  (cd "$root/python" && YOLO_OFFLINE=true YOLO_AUTOINSTALL=false YOLO_CONFIG_DIR="$models/.yolo" \
    .venv/bin/python -m cvp_ml preset --name yolov8n --out "$models/yolov8n-640" --imgsz 640 --seed 0 >/dev/null)
fi
run() {  # run NAME ARGS...: one result file, and its ratios on stdout
  local name="$1"; shift
  echo "[native/bench] $name: $*"
  "$bin" --out "$out/$name.json" "$@" >/dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  ", json.dumps(d["ratios"]), {k: v["pass"] for k, v in d["targets"].items()})' "$out/$name.json"
}
yolo=(--model "$models/yolov8n-640/model.onnx" --shape 1,3,640,640 --requests 200 --rss-requests 0)
run native-core "${yolo[@]}" --transport tcp
run native-core-shm "${yolo[@]}" --transport shm
run native-core-small-model --transport tcp --requests 1000 --rss-requests 10000
run native-core-small-model-shm --transport shm --requests 1000 --rss-requests 10000
