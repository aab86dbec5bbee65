"""scripts/lib/gpu_check.py, the prepared GPU check: the parts that run the same on any host (statistics,
agreement, the 100-user harness, YOLO post-processing, the skip reasons), here on a CPU. The GPU
engines themselves only run on a GPU host (scripts/gpu-check.sh)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "lib" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_stats_and_agreement(gc):
    s = gc.stats([10.0, 10.0, 10.0, 10.0, 20.0])
    assert s["n"] == 5 and s["p50Ms"] == 10.0 and s["meanMs"] == 12.0 and s["maxMs"] == 20.0
    assert gc.stats([]) == {"n": 0}
    a = np.arange(1, 9, dtype=np.float32)
    same = gc.agreement(a, a)
    assert same["maxAbsDiff"] == 0.0 and same["cosine"] == pytest.approx(1.0)
    off = gc.agreement(a, a + 0.5)
    assert off["maxAbsDiff"] == pytest.approx(0.5)


def test_post_processing_keeps_one_box_per_object(gc):
    out = np.zeros((1, 84, 8400), dtype=np.float32)
    # two overlapping boxes and one apart, all above the score threshold
    for i, (cx, cy, score) in enumerate([(100, 100, 0.9), (102, 101, 0.8), (400, 300, 0.7)]):
        out[0, :4, i] = [cx, cy, 50, 50]
        out[0, 4 + 3, i] = score
    assert gc._post(out) == 2


def test_load_harness_counts_every_request_of_100_users(gc):
    # The engine is a stand-in (a GPU engine cannot run here); the harness around it is the real one.
    def infer(x):
        time.sleep(0.002)
        return np.zeros((1, 84, 8400), dtype=np.float32)

    r = gc.load_test(infer, users=100, seconds=1.0, workers=10)
    assert r["users"] == 100 and r["errors"] == 0
    assert r["ok"] > 0 and r["ok"] == r["latency"]["n"]
    assert r["latency"]["p99Ms"] >= r["latency"]["p50Ms"] > 0
    assert set(r["splitMeanMs"]) == {"pre", "infer", "post"}


def test_engines_that_cannot_run_here_say_why(tmp_path):
    # A real child, as gpu-check.sh runs it: no CUDA device on this host, so it is skipped with the reason.
    from cvp_ml import nvml

    if nvml.devices()["ok"]:
        pytest.skip("this host has an NVIDIA GPU: the skip reason cannot occur")
    r = subprocess.run([sys.executable, str(SCRIPT), "engine", "--id", "torch-cuda-fp16", "--assets", str(tmp_path),
                        "--cache-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["status"] == "skipped" and "no CUDA device" in res["reason"]
    r = subprocess.run([sys.executable, str(SCRIPT), "engine", "--id", "ort-trt-fp16", "--assets", str(tmp_path),
                        "--cache-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["status"] == "skipped" and "TensorrtExecutionProvider" in res["reason"]


def test_summary_rows_carry_figures_or_reasons(gc):
    env = {"nvml": {"devices": [], "error": "no device: NVML: x", "driver": None}, "torch": {"version": "2"},
           "onnxruntime": {"package": "onnxruntime 1.30.0", "providers": ["CPUExecutionProvider"]}}
    lat = {"p50Ms": 5.0, "p95Ms": 6.0, "p99Ms": 7.0}
    engines = [{"id": "ort-cpu-fp32", "status": "measured", "latency": lat, "buildMs": 1, "firstInferenceMs": 2,
                "peakVramMb": None, "agreement": {"maxAbsDiff": 0.0}},
               {"id": "torch-cuda-fp32", "status": "skipped", "reason": "no CUDA device"}]
    loads = [{"id": "ort-cpu-fp32", "status": "measured",
              "load": {"users": 100, "seconds": 1, "ok": 9, "errors": 0, "rejected": 0, "throughputPerS": 9.0,
                       "latency": lat}}]
    s = gc.summarize(env, engines, loads)
    assert s["gpu"] == "no device: NVML: x" and s["ortGpuProviders"] == []
    assert s["engines"][0]["p50Ms"] == 5.0 and s["engines"][1]["reason"] == "no CUDA device"
    assert s["load"][0]["p99Ms"] == 7.0 and s["load"][0]["users"] == 100
