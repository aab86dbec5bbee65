#!/usr/bin/env bash
# The prepared GPU check (docs/gpu.md), in two halves:
#
#   scripts/gpu-check.sh --prepare
#       on a development machine (python/.venv): exports yolov8n (cvp's preset, seed 0) to ONNX, its
#       FP16 variant and the same network as TorchScript into .gpu-check/ (git-ignored, ~33 MB, with
#       sha256s). That folder is all the GPU host needs besides this checkout: carry it there.
#
#   scripts/gpu-check.sh OUTDIR [--quick] [--load-seconds S] [--users N] ...
#       on the GPU host, offline: environment and provider discovery (NVML, torch, onnxruntime,
#       TensorRT; the staged ONNX Runtime GPU build and onnxruntime-node where this checkout is
#       bootstrapped), the protocol's engines on yolov8n (ORT CPU baseline and all-opt, ORT CUDA FP32,
#       CUDA FP16, TensorRT FP16 where ONNX Runtime's GPU providers are installed, else PyTorch CUDA
#       FP32/FP16 on the same network as a labelled reference), and 100 users on the fastest GPU
#       engine and the fastest CPU engine in the same run. JSON into OUTDIR; exit 0 when it ran,
#       whatever could not run (that is in the JSON with its reason).
#
# Python: CVP_GPU_CHECK_PYTHON, else python3 (a GPU host's python with torch), else python/.venv.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASSETS="${CVP_GPU_CHECK_ASSETS:-$ROOT/.gpu-check}"
MAX_ASSET_BYTES=$((48 * 1024 * 1024)) # leaves room for the checkout within a 64 MiB transfer
say() { echo "[gpu-check] $*" >&2; }

prepare() {
  set -e
  local py="$ROOT/python/.venv/bin/python" build="$ASSETS/build"
  [[ -x $py ]] || {
    say "python/.venv missing: run the bootstrap first"
    exit 1
  }
  rm -rf "$build" && mkdir -p "$build"
  say "yolov8n preset (architecture definition, seed 0) -> ONNX"
  (cd "$ROOT/python" && "$py" -m cvp_ml preset --name yolov8n --out "$build" --seed 0 >"$build/preset.jsonl")
  say "FP16 variant (keep_io_types)"
  (cd "$ROOT/python" && "$py" -m cvp_ml variant --model "$build/model.onnx" --kind fp16 --out "$build/fp16.onnx" >"$build/fp16.jsonl")
  say "the same checkpoint as TorchScript (Ultralytics' own exporter, export-mode head like the ONNX)"
  (cd "$ROOT/python" && YOLO_OFFLINE=true YOLO_AUTOINSTALL=false "$py" - "$build/yolov8n.pt" >"$build/ts.log" 2>&1 <<'PY'
import sys
from cvp_ml.env import import_ultralytics
import_ultralytics()
from ultralytics import YOLO
print(YOLO(sys.argv[1]).export(format="torchscript", imgsz=640, device="cpu", verbose=False))
PY
  )
  mv "$build/model.onnx" "$ASSETS/yolov8n.onnx"
  mv "$build/fp16.onnx" "$ASSETS/yolov8n-fp16.onnx"
  mv "$build/yolov8n.torchscript" "$ASSETS/yolov8n.torchscript"
  "$py" - "$ASSETS" "$build" <<'PY'
import hashlib, json, os, sys
from importlib.metadata import version
assets, build = sys.argv[1:3]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
last = lambda f: json.loads(open(os.path.join(build, f)).read().strip().splitlines()[-1])
files = {f: {"bytes": os.path.getsize(os.path.join(assets, f)), "sha256": sha(os.path.join(assets, f))}
         for f in ("yolov8n.onnx", "yolov8n-fp16.onnx", "yolov8n.torchscript")}
json.dump({"model": "yolov8n 640, cvp preset (untrained, seed 0)", "files": files,
           "madeWith": {p: version(p) for p in ("torch", "ultralytics", "onnx", "onnxruntime", "onnxconverter-common")},
           "fp16Agreement": last("fp16.jsonl").get("agreement"), "exportComparison": last("preset.jsonl").get("comparison")},
          open(os.path.join(assets, "manifest.json"), "w"), indent=2)
PY
  rm -rf "$build"
  local total
  total=$(du -cb "$ASSETS"/* | tail -1 | cut -f1)
  ((total <= MAX_ASSET_BYTES)) || {
    say "assets are $total bytes, over $MAX_ASSET_BYTES"
    exit 1
  }
  say "ready: $ASSETS ($((total / 1048576)) MiB); run scripts/gpu-check.sh OUTDIR on the GPU host"
}

pick_python() {
  local py
  for py in "${CVP_GPU_CHECK_PYTHON:-}" python3 "$ROOT/python/.venv/bin/python"; do
    [[ -n $py ]] && "$py" -c 'import numpy, onnxruntime' 2>/dev/null && {
      echo "$py"
      return
    }
  done
  return 1
}

if [[ ${1:-} == --prepare ]]; then
  prepare
  exit 0
fi
OUT=${1:?usage: scripts/gpu-check.sh --prepare | OUTDIR [--quick] [gpu_check.py options]}
shift
mkdir -p "$OUT"
[[ -f $ASSETS/manifest.json ]] || {
  say "no assets at $ASSETS: run scripts/gpu-check.sh --prepare on a development machine and carry .gpu-check/"
  exit 1
}
PY=$(pick_python) || {
  say "no python with numpy and onnxruntime here"
  exit 1
}
say "python: $PY"

# Where this checkout is bootstrapped (node_modules, dist), cvp's own discovery runs too: the staged
# ONNX Runtime GPU build's C probe and onnxruntime-node's providers. On a bare host: said and skipped.
{
  echo '{'
  if d=$(bash "$ROOT/scripts/gpu-ort.sh" dir 2>/dev/null); then
    echo "\"stagedGpuBuild\": $("$d/bin/ort-gpu-probe" 2>&1 || echo null),"
  else
    echo '"stagedGpuBuild": "not staged here (scripts/gpu-ort.sh stage needs PyPI; CVP_GPU=1 npm start does it)",'
  fi
  if command -v node >/dev/null && [[ -f $ROOT/dist/libs/measure/src/gpu-discovery.js ]]; then
    echo "\"onnxruntimeNode\": $(cd "$ROOT" && node -e 'console.log(JSON.stringify(require("./dist/libs/measure/src/gpu-discovery.js").discoverProviders()))' 2>/dev/null || echo null)"
  else
    echo "\"onnxruntimeNode\": \"not run: $(command -v node >/dev/null && echo 'dist/ not built' || echo 'node absent on this host')\""
  fi
  echo '}'
} >"$OUT/discovery.json"

exec "$PY" "$ROOT/scripts/lib/gpu_check.py" run --assets "$ASSETS" --out "$OUT" "$@"
