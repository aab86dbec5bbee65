"""ONNX loading with safety checks, validation, metadata and output comparison."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .wire import CvpError

OPSET = 17  # pinned for every export: supported by ORT, onnxconverter-common and quantization
MAX_MODEL_BYTES = int(os.environ.get("CVP_MAX_MODEL_BYTES", str(4 * 1024**3)))

_MAGIC = [
    (b"PK\x03\x04", "zip archive (a PyTorch/TorchScript checkpoint or a zipped SavedModel?)"),
    (b"\x89HDF", "HDF5 file (Keras .h5?)"),
    (b"\x80\x02", "Python pickle"),
    (b"\x80\x04", "Python pickle"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"\x7fELF", "ELF binary"),
    (b"\x1f\x8b", "gzip archive"),
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _external_locations(model) -> list[tuple[str, str]]:
    """(tensor name, location) for every tensor stored as external data, graphs nested included."""
    from onnx import TensorProto
    from onnx.external_data_helper import _get_all_tensors

    out = []
    for t in _get_all_tensors(model):
        if t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), None)
            out.append((t.name, loc or ""))
    return out


def check_external_data(model, model_path: Path) -> list[str]:
    """Refuse external-data paths that leave the model's folder (absolute, '..', symlinks)."""
    base = model_path.resolve().parent
    files = []
    for name, loc in _external_locations(model):
        p = Path(loc)
        if not loc or p.is_absolute() or loc.startswith(("/", "\\")) or ".." in p.parts or ".." in loc.split("\\"):
            raise CvpError("unsafe_external_data",
                           f"tensor {name!r}: external data location {loc!r} escapes the model folder")
        target = (base / p)
        resolved = target.resolve()
        if resolved != base and base not in resolved.parents:
            raise CvpError("unsafe_external_data",
                           f"tensor {name!r}: external data {loc!r} resolves outside the model folder (symlink)")
        if not resolved.is_file():
            raise CvpError("missing_external_data", f"tensor {name!r}: external data file {loc!r} not found")
        files.append(loc)
    return sorted(set(files))


def load_model(path: str | Path, load_external: bool = True):
    """Parse an ONNX file with sniffing and external-data checks; raise CvpError on any problem."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.exists():
        raise CvpError("not_found", f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise CvpError("invalid_model", f"{str(path)!r} is a directory, expected an .onnx file")
    size = path.stat().st_size
    if size == 0:
        raise CvpError("invalid_model", "file is empty (0 bytes)")
    if size > MAX_MODEL_BYTES:
        raise CvpError("too_large", f"file is {size} bytes, limit {MAX_MODEL_BYTES}")
    with open(path, "rb") as f:
        head = f.read(8)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise CvpError("invalid_model", f"not an ONNX protobuf: file looks like a {what}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as e:
        raise CvpError("invalid_model", f"ONNX parse error: {type(e).__name__}: {e}") from None
    except Exception as e:  # protobuf may raise other internal errors on garbage
        raise CvpError("invalid_model", f"ONNX parse error: {type(e).__name__}: {e}") from None
    if model.ir_version <= 0 or not model.HasField("graph") or len(model.graph.output) == 0:
        raise CvpError("invalid_model", "ONNX parse error: no graph/outputs or ir_version missing "
                       "(truncated or not an ONNX file)")
    check_external_data(model, path)
    if load_external and _external_locations(model):
        from onnx.external_data_helper import load_external_data_for_model
        load_external_data_for_model(model, str(path.resolve().parent))
    return model


def validate(path: Path) -> dict[str, Any]:
    """onnx.checker full check + strict shape inference + an ORT session that loads."""
    import onnx
    import onnxruntime as ort

    load_model(path, load_external=False)  # safety checks first
    try:
        # Path-based check handles external data and >2GB models.
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:
        raise CvpError("invalid_model", f"onnx.checker: {e}") from None
    try:
        onnx.shape_inference.infer_shapes_path(str(path), str(path) + ".inferred.tmp", check_type=True, strict_mode=True)
    except Exception as e:
        raise CvpError("invalid_model", f"shape inference: {e}") from None
    finally:
        Path(str(path) + ".inferred.tmp").unlink(missing_ok=True)
    try:
        sess = session(path)
    except Exception as e:
        raise CvpError("invalid_model", f"onnxruntime could not load the model: {e}") from None
    return {"checker": "ok", "shape_inference": "ok", "onnxruntime": ort.__version__,
            "providers": sess.get_providers()}


_LOAD_PROBE = (
    "import sys, onnxruntime as o\n"
    "so = o.SessionOptions()\n"
    "so.log_severity_level = 3\n"
    "so.graph_optimization_level = getattr(o.GraphOptimizationLevel, sys.argv[2])\n"
    "o.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n"
)
_LEVELS = {"basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def load_failure(path: Path | str, level: str = "all", timeout_s: float = 600) -> str | None:
    """None when onnxruntime makes a CPU session of the model at this graph level, else why not.

    In a child process: onnxruntime does not only refuse some graphs, it crashes on a few (an FP16
    graph of a CRNN at level all dies in its NCHWc layout pass), and a crash must not take the
    caller with it, nor leave it without a reason.
    """
    import signal
    import subprocess
    import sys

    try:
        r = subprocess.run([sys.executable, "-c", _LOAD_PROBE, str(path), _LEVELS[level]],
                           capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"creating a session took longer than {timeout_s:.0f} s"
    if r.returncode == 0:
        return None
    if r.returncode < 0:
        return f"onnxruntime crashed ({signal.Signals(-r.returncode).name}) creating a session at graph level {level}"
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else f"exit {r.returncode}")[:600]


def session(path: Path | str, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


_NP_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8, "tensor(bool)": np.bool_,
}


def concrete_shape(shape, fill: dict[str, int] | None = None, default_batch: int = 1) -> list[int]:
    """Replace symbolic/unknown dims: batch -> default_batch, spatial -> 224 unless filled."""
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, int) and d > 0:
            out.append(d)
        elif fill and isinstance(d, str) and d in fill:
            out.append(fill[d])
        elif i == 0:
            out.append(default_batch)
        else:
            out.append(224 if i >= 2 else 3)
    return out


def seeded_inputs(sess, seed: int = 0, count: int = 4, shape_override: list[int] | None = None):
    """Deterministic inputs in [0,1) (image-like) for every model input."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        feed = {}
        for inp in sess.get_inputs():
            shape = shape_override or concrete_shape(inp.shape)
            dtype = _NP_DTYPES.get(inp.type, np.float32)
            if np.issubdtype(dtype, np.floating):
                feed[inp.name] = rng.random(shape, dtype=np.float32).astype(dtype)
            else:
                feed[inp.name] = rng.integers(0, 2, size=shape).astype(dtype)
        batches.append(feed)
    return batches


def agreement(ref: list[list[np.ndarray]], other: list[list[np.ndarray]], task: str | None = None) -> dict[str, Any]:
    """Compare two sets of outputs (per batch, per output)."""
    max_abs = 0.0
    mean_abs = []
    cos = []
    top1_same = top1_total = 0
    for r_outs, o_outs in zip(ref, other):
        for r, o in zip(r_outs, o_outs):
            r = np.asarray(r, dtype=np.float64)
            o = np.asarray(o, dtype=np.float64)
            if r.shape != o.shape:
                raise CvpError("shape_mismatch", f"output shapes differ: {r.shape} vs {o.shape}", exit_code=1)
            d = np.abs(r - o)
            max_abs = max(max_abs, float(d.max()) if d.size else 0.0)
            mean_abs.append(float(d.mean()) if d.size else 0.0)
            rf, of = r.ravel(), o.ravel()
            denom = np.linalg.norm(rf) * np.linalg.norm(of)
            cos.append(float(rf @ of / denom) if denom > 0 else (1.0 if np.allclose(rf, of) else 0.0))
            if task == "classify" and r.ndim == 2:
                top1_same += int((r.argmax(1) == o.argmax(1)).sum())
                top1_total += r.shape[0]
    res: dict[str, Any] = {
        "max_abs_diff": max_abs,
        "mean_abs_diff": float(np.mean(mean_abs)) if mean_abs else 0.0,
        "cosine_similarity": float(np.min(cos)) if cos else 1.0,
        "samples": len(ref),
    }
    if top1_total:
        res["top1_agreement"] = top1_same / top1_total
    return res


def run_all(sess, feeds) -> list[list[np.ndarray]]:
    return [sess.run(None, f) for f in feeds]


def _dims(vi) -> list[Any]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return []
    dims = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return dims


def _dtype(vi) -> str:
    import onnx

    return onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type).name if vi.type.tensor_type.elem_type else "unknown"


def estimate_macs(model) -> dict[str, Any]:
    """MACs of Conv/ConvTranspose/Gemm/MatMul from shape inference, symbolic dims taken as 1."""
    import onnx

    # Fix symbolic input dims before inference (batch 1, spatial from Ultralytics' imgsz
    # metadata or 224) so that dynamic-H/W exports still get a meaningful estimate.
    props = {p.key: p.value for p in model.metadata_props}
    hw = [224, 224]
    try:
        import ast
        v = ast.literal_eval(props.get("imgsz", "None"))
        if isinstance(v, (list, tuple)) and len(v) == 2:
            hw = [int(v[0]), int(v[1])]
        elif isinstance(v, int):
            hw = [v, v]
    except (ValueError, SyntaxError):
        pass
    m = onnx.ModelProto()
    m.CopyFrom(model)
    init_names = {i.name for i in m.graph.initializer}
    assumed = {}
    for inp in m.graph.input:
        if inp.name in init_names or not inp.type.tensor_type.HasField("shape"):
            continue
        dims = inp.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                val = 1 if i == 0 else (hw[i - 2] if len(dims) == 4 and i >= 2 else 1)
                d.Clear()
                d.dim_value = val
        assumed[inp.name] = [d.dim_value for d in dims]
    model = m
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception:
        inferred = model
    g = inferred.graph
    shapes: dict[str, list[int]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        shapes[vi.name] = [d if isinstance(d, int) else 1 for d in _dims(vi)]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    counted = 0
    unknown = 0
    for n in g.node:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul"):
            continue
        out = shapes.get(n.output[0])
        if n.op_type in ("QLinearConv", "QLinearMatMul"):
            w = shapes.get(n.input[3])
        else:
            w = shapes.get(n.input[1]) if len(n.input) > 1 else None
        if not out or not w:
            unknown += 1
            continue
        if n.op_type in ("Conv", "QLinearConv", "ConvInteger"):
            # weight [Cout, Cin/group, k...]: each output element costs Cin/group * prod(k)
            macs += int(np.prod(out, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
        elif n.op_type == "ConvTranspose":
            inp = shapes.get(n.input[0])
            if not inp:
                unknown += 1
                continue
            macs += int(np.prod(inp, dtype=np.int64)) * int(np.prod(w[1:], dtype=np.int64))
        elif n.op_type == "Gemm":
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            k = w[1] if trans_b else w[0]
            macs += int(np.prod(out, dtype=np.int64)) * int(k)
        else:  # MatMul: K is the last dim of A
            a = shapes.get(n.input[0])
            if not a:
                unknown += 1
                continue
            macs += int(np.prod(out, dtype=np.int64)) * int(a[-1])
        counted += 1
    return {"macs": macs, "flops": 2 * macs, "counted_nodes": counted, "unknown_nodes": unknown,
            "input_shapes": assumed}


def metadata(path: str | Path) -> dict[str, Any]:
    import onnx

    path = Path(path)
    model = load_model(path, load_external=False)
    g = model.graph
    init_names = {i.name for i in g.initializer}
    params = int(sum(int(np.prod(i.dims, dtype=np.int64)) for i in g.initializer))
    ext_files = check_external_data(model, path)
    size = path.stat().st_size + sum((path.resolve().parent / f).stat().st_size for f in ext_files)
    est = estimate_macs(model)
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    ops: dict[str, int] = {}
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {
        "path": str(path),
        "format": "onnx",
        "inputs": [{"name": i.name, "shape": _dims(i), "dtype": _dtype(i)} for i in g.input if i.name not in init_names],
        "outputs": [{"name": o.name, "shape": _dims(o), "dtype": _dtype(o)} for o in g.output],
        "opset": opsets.get("ai.onnx", 0),
        "opsets": opsets,
        "ir_version": int(model.ir_version),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "parameters": params,
        **{k: v for k, v in est.items() if k in ("macs", "flops")},
        "flops_input_shapes": est["input_shapes"],
        "flops_note": "2 x MACs of Conv/ConvTranspose/Gemm/MatMul; symbolic dims fixed as in flops_input_shapes",
        "nodes": len(g.node),
        "op_types": dict(sorted(ops.items())),
        "size_bytes": size,
        "sha256": sha256_file(path),
        "external_data": ext_files,
        "metadata_props": {p.key: p.value for p in model.metadata_props},
    }
