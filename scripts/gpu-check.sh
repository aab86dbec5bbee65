#!/usr/bin/env bash
# One short, prepared check of the CUDA and TensorRT paths, for a session lent a GPU machine
# (see docs/gpu.md). Prints what it finds; never fails the whole run on a missing piece.
set -u
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -5
echo "== torch"; python3 - <<'PY' 2>&1
import time
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
    if torch.cuda.is_available():
        x = torch.randn(4096, 4096, device="cuda"); torch.cuda.synchronize(); t = time.time()
        for _ in range(20): y = x @ x
        torch.cuda.synchronize(); print("fp32 matmul 4096^2 x20: %.1f ms" % ((time.time() - t) * 1000))
except Exception as e:
    print("torch check failed:", e)
PY
echo "== onnxruntime (python)"; python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())" 2>&1
echo "== onnxruntime-node"; node -e "const o=require('./node_modules/onnxruntime-node'); console.log(o.env.versions, o.listSupportedBackends ? o.listSupportedBackends() : '')" 2>&1 | head -5
echo "== TensorRT"; (ldconfig -p | grep -E "libnvinfer\.so" || echo "libnvinfer not found: TensorRT EP cannot load") 2>&1
echo "== native core provider refusal"; if [[ -x native/build/cvp-core ]]; then echo "built"; else echo "native/build/cvp-core not carried"; fi
