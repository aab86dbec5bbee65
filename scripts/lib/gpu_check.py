#!/usr/bin/env python3
"""The GPU check that scripts/gpu-check.sh runs on a bare GPU host (no network, no project install).

It needs python3 with numpy and onnxruntime; torch (with CUDA), Pillow, nvidia-ml-py and
onnxruntime's GPU providers are used where present and reported as absent where not. Inputs are
the assets `gpu-check.sh --prepare` made on a development machine (yolov8n exported to ONNX, its
FP16 variant, and the same network as TorchScript), so nothing is downloaded.

    gpu_check.py run --assets DIR --out OUTDIR [--quick] [--load-seconds S] [--users N]
    gpu_check.py engine --id ID ...     (internal: one engine measured in its own process)

Every engine runs in a child process of its own, so the VRAM NVML attributes to that process is
the engine's alone; it is sampled during the whole run. What cannot run is recorded with its reason.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import importlib.util
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NVML_PY = ROOT / "python" / "cvp_ml" / "nvml.py"
SHAPE = (1, 3, 640, 640)


def _load_nvml():
    spec = importlib.util.spec_from_file_location("cvp_nvml", NVML_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nvml = _load_nvml()

# id -> how it runs. ORT engines feed host tensors and read host tensors back, and so do the torch
# ones (input copied to the GPU, output copied back), so every latency is one whole batch-1 call.
ENGINES: dict[str, dict] = {
    "ort-cpu-fp32-noopt": {
        "kind": "ort", "provider": "CPUExecutionProvider", "model": "fp32", "opt": "disabled",
        "label": "ONNX Runtime CPU FP32, graph optimizations off (baseline: ground truth for outputs)",
    },
    "ort-cpu-fp32": {
        "kind": "ort", "provider": "CPUExecutionProvider", "model": "fp32", "opt": "all",
        "label": "ONNX Runtime CPU FP32, all graph optimizations",
    },
    "ort-cuda-fp32": {
        "kind": "ort", "provider": "CUDAExecutionProvider", "model": "fp32", "opt": "all",
        "label": "ONNX Runtime CUDA EP FP32",
    },
    "ort-cuda-fp16": {
        "kind": "ort", "provider": "CUDAExecutionProvider", "model": "fp16", "opt": "all",
        "label": "ONNX Runtime CUDA EP on the FP16 variant (keep_io_types)",
    },
    "ort-trt-fp16": {
        "kind": "ort", "provider": "TensorrtExecutionProvider", "model": "fp32", "opt": "all", "trt_fp16": True,
        "label": "ONNX Runtime TensorRT EP, FP16 builder flag on (trt_fp16_enable=1), engine cache on",
    },
    "torch-cuda-fp32": {
        "kind": "torch", "dtype": "float32",
        "label": "PyTorch CUDA FP32 on the TorchScript export of the same network (reference engine, not a cvp engine)",
    },
    "torch-cuda-fp16": {
        "kind": "torch", "dtype": "float16",
        "label": "PyTorch CUDA FP16 (weights and activations half) on the same TorchScript (reference engine, not a cvp engine)",
    },
}


# ----------------------------------------------------------------------------------- helpers
def stats(ms: list[float]) -> dict:
    a = np.sort(np.asarray(ms, dtype=np.float64))
    if a.size == 0:
        return {"n": 0}
    pct = lambda q: float(np.percentile(a, q))  # noqa: E731
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    r = lambda v: round(v, 3)  # noqa: E731
    return {"n": int(a.size), "p50Ms": r(pct(50)), "p95Ms": r(pct(95)), "p99Ms": r(pct(99)), "meanMs": r(mean),
            "stdMs": r(std), "cv": r(std / mean) if mean else 0.0, "minMs": r(float(a[0])), "maxMs": r(float(a[-1]))}


def seeded_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(SHAPE, dtype=np.float32)


def agreement(ref: np.ndarray, out: np.ndarray) -> dict:
    ref = ref.astype(np.float64).ravel()
    out = out.astype(np.float64).ravel()
    cos = float(ref @ out / (np.linalg.norm(ref) * np.linalg.norm(out) + 1e-30))
    return {"maxAbsDiff": float(np.max(np.abs(ref - out))), "meanAbsDiff": float(np.mean(np.abs(ref - out))),
            "cosine": round(cos, 8)}


def sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def _run(cmd: list[str], timeout: float = 30) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (r.stdout or r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable: {e}"


def environment() -> dict:
    env: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or _run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]),
        "cores": os.cpu_count(),
        "nvidiaSmi": _run(["nvidia-smi", "--query-gpu=name,memory.total,memory.free,driver_version",
                           "--format=csv,noheader"]),
        "nvml": nvml.devices(),
    }
    try:
        import torch

        env["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda,
                        "cudaAvailable": torch.cuda.is_available(),
                        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
                        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    except Exception as e:  # noqa: BLE001 - any import failure is the answer
        env["torch"] = {"error": f"{type(e).__name__}: {e}"}
    try:
        import onnxruntime as ort

        env["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers(),
                              "device": ort.get_device(), "package": _ort_package()}
    except Exception as e:  # noqa: BLE001
        env["onnxruntime"] = {"error": f"{type(e).__name__}: {e}"}
    env["tensorrt"] = _tensorrt()
    env["node"] = _run(["node", "--version"]) if shutil.which("node") else "absent"
    return env


def _ort_package() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return None


def _tensorrt() -> dict:
    import ctypes

    out: dict = {}
    try:
        import tensorrt

        out["python"] = tensorrt.__version__
    except Exception as e:  # noqa: BLE001
        out["python"] = f"absent ({type(e).__name__}: {e})"
    try:
        ctypes.CDLL("libnvinfer.so.10")
        out["libnvinfer.so.10"] = "loads"
    except OSError as e:
        out["libnvinfer.so.10"] = f"does not load: {e}"
    return out


class VramWatch(threading.Thread):
    """Samples the GPU memory NVML attributes to one pid (a child engine) until stopped."""

    def __init__(self, pid: int, interval_s: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak: float | None = None
        self.samples = 0
        self.error: str | None = None
        self._stop_evt = threading.Event()

    def run(self) -> None:
        nv, err = nvml._binding()
        if err or (err := nvml._init(nv)):
            self.error = f"no device: {err}" if nv else err
            return
        seen = False
        try:
            while not self._stop_evt.is_set():
                mb, _listed, why = nvml._process_memory(nv, {self.pid})
                self.samples += 1
                if why:
                    self.error = why
                elif mb is not None:
                    seen = seen or mb > 0
                    self.peak = mb if self.peak is None else max(self.peak, mb)
                self._stop_evt.wait(self.interval_s)
        finally:
            nv.nvmlShutdown()
        if not seen and self.error is None:
            self.error = "NVML never listed the engine's process (in a container NVML reports host PIDs)"

    def reading(self) -> dict:
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout=5)
        ok = self.error is None and self.peak is not None
        return {"peakVramMb": round(self.peak, 1) if ok else None, "vramSamples": self.samples,
                "vramError": None if ok else (self.error or "no sample")}


# ------------------------------------------------------------------------- engines (child)
def make_engine(eid: str, assets: Path, cache_dir: Path, cpu_threads: int = 0):
    """(infer(x) -> output0 as float32 host array, what actually ran). cpu_threads: ORT intra-op
    threads (0 = all cores)."""
    e = ENGINES[eid]
    if e["kind"] == "ort":
        import onnxruntime as ort

        if e["provider"] not in ort.get_available_providers():
            raise Unavailable(f"onnxruntime {ort.__version__} here ({_ort_package()}) has no {e['provider']}: "
                              f"available {ort.get_available_providers()}")
        so = ort.SessionOptions()
        so.graph_optimization_level = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                       "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[e["opt"]]
        if cpu_threads:
            so.intra_op_num_threads = cpu_threads
        model = assets / ("yolov8n-fp16.onnx" if e["model"] == "fp16" else "yolov8n.onnx")
        providers: list = [e["provider"]]
        extra: dict = {}
        if e["provider"] == "TensorrtExecutionProvider":
            # Engines are only valid for one model, GPU and TensorRT version: all three name the folder.
            gpu = ((nvml.devices().get("devices") or [{}])[0].get("name") or "gpu").replace(" ", "_")
            trt_cache = cache_dir / "trt" / f"{sha256(model)[:16]}-{gpu}-trt{_tensorrt().get('python', 'unknown')}"
            trt_cache.mkdir(parents=True, exist_ok=True)
            before = len(list(trt_cache.iterdir()))
            static = "images:1x3x640x640"  # one profile: the engine is built at session creation
            providers = [("TensorrtExecutionProvider", {
                "trt_fp16_enable": True, "trt_engine_cache_enable": True, "trt_engine_cache_path": str(trt_cache),
                "trt_profile_min_shapes": static, "trt_profile_opt_shapes": static,
                "trt_profile_max_shapes": static}), "CUDAExecutionProvider"]
            extra = {"trtEngineCache": str(trt_cache), "cacheFilesBefore": before}
        elif e["provider"] == "CUDAExecutionProvider":
            providers = ["CUDAExecutionProvider"]
        sess = ort.InferenceSession(str(model), so, providers=providers)
        ran = sess.get_providers()
        if ran[0] != e["provider"]:
            raise Unavailable(f"{e['provider']} did not load (ONNX Runtime fell back to {ran}); see stderr")
        name = sess.get_inputs()[0].name

        def infer(x):
            return sess.run(None, {name: x})[0]

        if extra:
            extra["cacheFilesAfter"] = len(list(Path(extra["trtEngineCache"]).iterdir()))
        return infer, {"providers": ran, "model": model.name, "onnxruntime": ort.__version__,
                       "intraOpThreads": cpu_threads or "all cores", **extra}
    import torch

    if not torch.cuda.is_available():
        raise Unavailable(f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
    torch.backends.cudnn.benchmark = True
    m = torch.jit.load(str(assets / "yolov8n.torchscript"), map_location="cuda").eval()
    half = e["dtype"] == "float16"
    if half:
        m = m.half()

    def infer(x):
        with torch.inference_mode():
            t = torch.from_numpy(x).to("cuda")
            y = m(t.half() if half else t)
            y = y[0] if isinstance(y, (tuple, list)) else y
            return y.float().cpu().numpy()

    # What ran, for the label: the weights' dtype after .half(), and the dtype the graph returns (the
    # traced head's anchor constants stay FP32, so the boxes come back FP32 from FP16 convolutions).
    return infer, {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0),
                   "cudnnBenchmark": True, "model": "yolov8n.torchscript",
                   "weightDtypes": sorted({str(p.dtype) for p in m.parameters()})}


class Unavailable(Exception):
    pass


def child_engine(a) -> dict:
    eid = a.id
    res: dict = {"id": eid, "label": ENGINES[eid]["label"]}
    x = seeded_input(0)
    t0 = time.perf_counter()
    try:
        # Under load, a CPU engine's concurrent runs share the cores instead of each taking all of them.
        threads = max(1, (os.cpu_count() or 1) // a.workers) if a.mode == "load" else 0
        infer, ran = make_engine(eid, Path(a.assets), Path(a.cache_dir), threads)
    except Unavailable as e:
        return {**res, "status": "skipped", "reason": str(e)}
    res["ran"] = ran
    res["buildMs"] = round((time.perf_counter() - t0) * 1000, 1)
    t1 = time.perf_counter()
    out = infer(x)
    res["firstInferenceMs"] = round((time.perf_counter() - t1) * 1000, 1)
    if a.write_out:
        np.save(a.write_out, out)
    if a.baseline and Path(a.baseline).exists():
        res["agreement"] = agreement(np.load(a.baseline), out)
    if a.mode == "latency":
        for _ in range(a.warmup):
            infer(x)
        lat = []
        deadline = time.perf_counter() + a.budget_s
        while len(lat) < a.iters and (time.perf_counter() < deadline or len(lat) < 20):
            s = time.perf_counter()
            infer(x)
            lat.append((time.perf_counter() - s) * 1000)
        res["latency"] = stats(lat)
        res["throughputPerS"] = round(1000 / res["latency"]["meanMs"], 2)
    else:
        res["load"] = load_test(infer, users=a.users, seconds=a.load_seconds, workers=a.workers)
    return {**res, "status": "measured"}


# ------------------------------------------------------------------ load (100 users, child)
def _jpeg(seed: int = 1) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _pre(jpeg: bytes) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("RGB")
    w, h = img.size
    r = min(640 / w, 640 / h)
    nw, nh = round(w * r), round(h * r)
    canvas = Image.new("RGB", (640, 640), (114, 114, 114))
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), ((640 - nw) // 2, (640 - nh) // 2))
    return (np.asarray(canvas, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


def _post(out: np.ndarray, conf: float = 0.25, iou: float = 0.45, top_k: int = 1000, max_det: int = 300) -> int:
    p = out[0]  # [84, anchors]: cx, cy, w, h, 80 class scores
    scores = p[4:].max(axis=0)
    keep = np.nonzero(scores > conf)[0]
    keep = keep[np.argsort(-scores[keep])[:top_k]]
    b = p[:4, keep].T
    boxes = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1)
    s = scores[keep]
    picked: list[int] = []
    order = np.arange(len(s))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size and len(picked) < max_det:
        i = order[0]
        picked.append(int(i))
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = order[1:][inter / (area[i] + area[order[1:]] - inter + 1e-9) <= iou]
    return len(picked)


def load_test(infer, users: int, seconds: float, workers: int, queue_cap: int = 256) -> dict:
    """`users` closed-loop clients, each sending one JPEG detection request after the last answer,
    through a bounded pool of `workers` (decode + letterbox, the engine, YOLO decode + NMS) with a
    capped queue: a full queue is a rejection (the data plane's 429), never a wait without bound."""
    jpeg = _jpeg()
    for _ in range(3):
        _post(infer(_pre(jpeg)))
    pool = cf.ThreadPoolExecutor(max_workers=workers)
    slots = threading.BoundedSemaphore(queue_cap + workers)
    lock = threading.Lock()
    lat: list[float] = []
    split = {"pre": [], "infer": [], "post": []}
    counts = {"ok": 0, "errors": 0, "rejected": 0}

    def handle() -> None:
        a = time.perf_counter()
        x = _pre(jpeg)
        b = time.perf_counter()
        y = infer(x)
        c = time.perf_counter()
        _post(y)
        d = time.perf_counter()
        with lock:
            split["pre"].append((b - a) * 1000)
            split["infer"].append((c - b) * 1000)
            split["post"].append((d - c) * 1000)

    end = time.monotonic() + seconds

    def user() -> None:
        while time.monotonic() < end:
            s = time.perf_counter()
            if not slots.acquire(blocking=False):
                with lock:
                    counts["rejected"] += 1
                time.sleep(0.05)
                continue
            try:
                pool.submit(handle).result(timeout=60)
                with lock:
                    lat.append((time.perf_counter() - s) * 1000)
                    counts["ok"] += 1
            except Exception:  # noqa: BLE001 - counted; the run goes on
                with lock:
                    counts["errors"] += 1
            finally:
                slots.release()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, daemon=True) for _ in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    wall = time.perf_counter() - t0
    pool.shutdown(wait=True)
    return {"users": users, "seconds": seconds, "workers": workers, "queueCap": queue_cap, **counts,
            "throughputPerS": round(counts["ok"] / wall, 2), "latency": stats(lat),
            "splitMeanMs": {k: round(float(np.mean(v)), 3) if v else None for k, v in split.items()},
            "harness": "python threads: closed-loop users -> bounded worker pool -> engine; "
                       "JPEG 640x480 decode + letterbox (Pillow), YOLO decode + NMS (numpy)"}


# ------------------------------------------------------------------------ orchestration
def run_child(eid: str, a, mode: str, baseline: Path | None, write_out: Path | None, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "engine", "--id", eid, "--assets", a.assets,
           "--cache-dir", a.cache_dir, "--mode", mode, "--iters", str(a.iters), "--warmup", str(a.warmup),
           "--budget-s", str(a.budget_s), "--users", str(a.users), "--load-seconds", str(a.load_seconds),
           "--workers", str(a.workers)]
    if baseline:
        cmd += ["--baseline", str(baseline)]
    if write_out:
        cmd += ["--write-out", str(write_out)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = VramWatch(p.pid)
    if "cpu" not in eid:
        watch.start()
    else:
        watch.error = "CPU engine: no GPU memory"

    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return {"id": eid, "label": ENGINES[eid]["label"], "status": "failed",
                "reason": f"timed out after {timeout:.0f} s", **watch.reading()}
    vram = watch.reading()
    try:
        res = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"id": eid, "label": ENGINES[eid]["label"], "status": "failed",
                "reason": f"exit {p.returncode}: {err.strip()[-1500:]}", **vram}
    res["wallS"] = round(time.perf_counter() - t0, 1)
    if res.get("status") == "measured":
        res.update(vram)
    return res


def seed_table() -> dict:
    return {"source": "the seed's table, RTX 4060, yolov8n (not measured here)",
            "ortFp32Ms": 100, "graphOptMs": 90, "fp16Ms": 75, "tensorrtFp16Ms": 60}


def run(a) -> int:
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    assets = Path(a.assets)
    scratch = Path(a.cache_dir)
    scratch.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    manifest = json.loads((assets / "manifest.json").read_text()) if (assets / "manifest.json").exists() else {}
    for f in ("yolov8n.onnx", "yolov8n-fp16.onnx", "yolov8n.torchscript"):
        want = manifest.get("files", {}).get(f, {}).get("sha256")
        if want and sha256(assets / f) != want:
            print(f"[gpu-check] {f} does not match its manifest sha256", file=sys.stderr)
            return 2
    env = environment()
    (out_dir / "environment.json").write_text(json.dumps({"environment": env, "assets": manifest}, indent=2))
    print(f"[gpu-check] GPU: {env['nvidiaSmi']}; torch CUDA: {env['torch'].get('cudaAvailable')}; "
          f"onnxruntime providers: {env.get('onnxruntime', {}).get('providers')}", flush=True)

    baseline = scratch / "baseline.npy"
    engines = []
    for eid in ENGINES:
        print(f"[gpu-check] engine {eid}", flush=True)
        r = run_child(eid, a, "latency", None if eid == "ort-cpu-fp32-noopt" else baseline,
                      baseline if eid == "ort-cpu-fp32-noopt" else None, timeout=a.engine_timeout_s)
        engines.append(r)
        print(f"[gpu-check]   {r['status']}: " + (f"p50 {r['latency']['p50Ms']} ms, VRAM {r.get('peakVramMb')} MB"
                                                   if r["status"] == "measured" else r.get("reason", "")), flush=True)
    base = next((e for e in engines if e["id"] == "ort-cpu-fp32-noopt" and e["status"] == "measured"), None)
    for e in engines:
        if base and e["status"] == "measured":
            e["p50VsBaseline"] = round(e["latency"]["p50Ms"] / base["latency"]["p50Ms"], 4)
    protocol = {"model": "yolov8n 640 (untrained weights, exported by cvp's preset)", "batch": 1,
                "inputs": "seeded uniform [0,1) float32 tensor, host memory in and out", "engines": engines,
                "seed": seed_table(),
                "notes": ["GPU engines of ONNX Runtime run only where onnxruntime's GPU providers are installed; "
                          "where they are not, the PyTorch engines measure the same exported network on the GPU "
                          "as a reference and are labelled so",
                          "peakVramMb: NVML's per-process figure for the engine's own process, sampled every "
                          "50 ms from start to exit"]}
    (out_dir / "protocol.json").write_text(json.dumps(protocol, indent=2))

    # Load: the fastest GPU engine measured, and the fastest CPU engine in the same run for the ratio.
    measured = [e for e in engines if e["status"] == "measured"]
    gpu = sorted((e for e in measured if "cpu" not in e["id"]), key=lambda e: e["latency"]["p50Ms"])
    cpu = sorted((e for e in measured if "cpu" in e["id"]), key=lambda e: e["latency"]["p50Ms"])
    loads = []
    for e in [*gpu[:1], *cpu[:1]]:
        print(f"[gpu-check] load: {a.users} users x {a.load_seconds} s on {e['id']}", flush=True)
        r = run_child(e["id"], a, "load", None, None, timeout=a.load_seconds + a.engine_timeout_s)
        loads.append(r)
        if r["status"] == "measured":
            lt = r["load"]
            print(f"[gpu-check]   p50 {lt['latency'].get('p50Ms')} p95 {lt['latency'].get('p95Ms')} "
                  f"p99 {lt['latency'].get('p99Ms')} ms, {lt['throughputPerS']}/s, errors {lt['errors']}", flush=True)
    load = {"runs": loads,
            "targets": {"p50Ms": 100, "p95Ms": 200, "p99Ms": 500, "source": "the seed's latency targets for GPUs"},
            "note": "cvp's own load benchmark (scripts/load-bench.js) needs the bootstrapped platform (Node, "
                    "nats-server); on a bare host this python harness drives the engine the same way: "
                    f"{a.users} closed-loop users, bounded pool, capped queue"}
    if not gpu:
        load["gpu"] = "no GPU engine could run here: see protocol.json for each reason"
    (out_dir / "load.json").write_text(json.dumps(load, indent=2))

    summary = summarize(env, engines, loads)
    summary["wallS"] = round(time.time() - t0, 1)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


def summarize(env: dict, engines: list[dict], loads: list[dict]) -> dict:
    rows = []
    for e in engines:
        row = {"engine": e["id"], "status": e["status"]}
        if e["status"] == "measured":
            row.update(p50Ms=e["latency"]["p50Ms"], p95Ms=e["latency"]["p95Ms"], buildMs=e.get("buildMs"),
                       firstInferenceMs=e.get("firstInferenceMs"), peakVramMb=e.get("peakVramMb"),
                       maxAbsDiff=(e.get("agreement") or {}).get("maxAbsDiff"))
        else:
            row["reason"] = e.get("reason")
        rows.append(row)
    return {"gpu": (env["nvml"].get("devices") or [{}])[0].get("name") or env["nvml"].get("error"),
            "driver": env["nvml"].get("driver"), "torch": env["torch"].get("version"),
            "onnxruntime": env.get("onnxruntime", {}).get("package"),
            "ortGpuProviders": [p for p in env.get("onnxruntime", {}).get("providers", []) if p != "CPUExecutionProvider"],
            "engines": rows,
            "load": [{"engine": r["id"], **({k: r["load"][k] for k in ("users", "seconds", "ok", "errors", "rejected",
                                                                        "throughputPerS")}
                                            | {"p50Ms": r["load"]["latency"].get("p50Ms"),
                                               "p95Ms": r["load"]["latency"].get("p95Ms"),
                                               "p99Ms": r["load"]["latency"].get("p99Ms")}
                                            if r["status"] == "measured" else {"reason": r.get("reason")})}
                     for r in loads]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "engine"):
        s = sub.add_parser(name)
        s.add_argument("--assets", required=True)
        s.add_argument("--cache-dir", default=str(ROOT / "var" / "gpu-check"))
        s.add_argument("--iters", type=int, default=300)
        s.add_argument("--warmup", type=int, default=20)
        s.add_argument("--budget-s", type=float, default=20.0)
        s.add_argument("--users", type=int, default=100)
        s.add_argument("--load-seconds", type=float, default=30.0)
        s.add_argument("--workers", type=int, default=10, help="the data plane's default CVP_INFER_WORKERS")
        s.add_argument("--engine-timeout-s", type=float, default=240.0)
    sub.choices["run"].add_argument("--out", required=True)
    sub.choices["run"].add_argument("--quick", action="store_true", help="few iterations (tests, dry runs)")
    e = sub.choices["engine"]
    e.add_argument("--id", required=True, choices=sorted(ENGINES))
    e.add_argument("--mode", choices=["latency", "load"], default="latency")
    e.add_argument("--baseline")
    e.add_argument("--write-out")
    a = ap.parse_args(argv)
    if a.users < 1 or a.load_seconds <= 0 or a.iters < 1 or a.workers < 1:
        ap.error("--users, --load-seconds, --iters and --workers must be positive")
    if a.cmd == "engine":
        print(json.dumps(child_engine(a)), flush=True)
        return 0
    if a.quick:
        a.iters, a.warmup, a.budget_s = min(a.iters, 5), min(a.warmup, 1), min(a.budget_s, 5)
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
