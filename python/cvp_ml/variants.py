"""variant: FP16, INT8 static (QDQ) and INT8 dynamic ONNX variants with accuracy agreement."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import onnx_utils as ou
from .export import atomic_dir_file
from .wire import EXIT_OTHER, CvpError, log, progress

KINDS = ("fp16", "int8-static", "int8-dynamic")
IMG_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _guess_task(model, sess) -> str | None:
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("task"):
        return props["task"]
    outs = sess.get_outputs()
    if len(outs) == 1 and len(outs[0].shape) == 2:
        return "classify"
    if len(outs) == 1 and len(outs[0].shape) == 3:
        return "detect"
    return None


def yolo_head_exclusions(model) -> list[str]:
    """Nodes of the YOLO Detect head's decoding step that INT8 would wreck.

    Ultralytics names nodes '/model.<i>/...'; the highest index is the Detect head. Its box
    decoding (DFL softmax/conv, anchor arithmetic, Sigmoid on class scores, final Concat)
    mixes pixel-scale boxes with [0,1] confidences in one tensor, so one shared INT8 scale
    flattens the confidences. The head's feature convolutions stay quantized.
    """
    idx = []
    for n in model.graph.node:
        m = re.match(r"^/model\.(\d+)/", n.name)
        if m:
            idx.append(int(m.group(1)))
    if not idx:
        return []
    head = f"/model.{max(idx)}/"
    excl = []
    for n in model.graph.node:
        if not n.name.startswith(head):
            continue
        feature_conv = n.op_type == "Conv" and "/dfl/" not in n.name
        if not feature_conv:
            excl.append(n.name)
    return excl


class _Reader:
    """CalibrationDataReader over images (resized, RGB, [0,1], NCHW) or seeded noise."""

    def __init__(self, name: str, shape: list[int], calib_dir: Path | None, seed: int, count: int):
        self.items: list[dict[str, np.ndarray]] = []
        _, c, h, w = shape
        if calib_dir:
            from PIL import Image

            files = sorted(p for p in calib_dir.rglob("*") if p.suffix.lower() in IMG_EXT)[:count]
            if not files:
                raise CvpError("bad_input", f"--calib-dir {str(calib_dir)!r} has no images")
            for p in files:
                try:
                    with Image.open(p) as im:
                        arr = np.asarray(im.convert("RGB").resize((w, h)), dtype=np.float32) / 255.0
                except Exception as e:
                    raise CvpError("bad_input", f"calibration image {p.name}: {e}") from None
                self.items.append({name: arr.transpose(2, 0, 1)[None][:, :c].copy()})
            self.source = f"{len(files)} images from {calib_dir}"
        else:
            rng = np.random.default_rng(seed)
            for _ in range(count):
                self.items.append({name: rng.random((1, c, h, w), dtype=np.float32)})
            self.source = f"{count} seeded synthetic inputs (seed {seed})"
        self._it = iter(self.items)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):
        self._it = iter(self.items)


def int8_weight_range(cpuinfo: str | None = None) -> tuple[bool, str]:
    """(reduce_range, why) for static INT8 on this CPU.

    On x86 without VNNI, ONNX Runtime's U8S8 kernels multiply with vpmaddubsw, whose 16-bit
    intermediate sums can saturate with full 8-bit weights; ONNX Runtime recommends 7-bit weights
    (reduce_range) there. Speed: ~8 % quicker for yolov8n 640 in python's ONNX Runtime 1.32 on
    this project's AVX2 machine (same run, alternating), neutral through onnxruntime-node 1.30 in
    the optimization protocol (INT8 / FP32 stayed 0.79). With VNNI (or off x86) full range.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False, "CPU flags unknown: full 8-bit weights"
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not flags or "avx2" not in flags:
        return False, "not an AVX2 x86 CPU: full 8-bit weights"
    if flags & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return False, "x86 with VNNI: full 8-bit weights"
    return True, "x86 without VNNI: 7-bit weights (reduce_range) avoid U8S8 saturation"


def run(model_path: Path, kind: str, out: Path, calib_dir: Path | None = None, seed: int = 0,
        calib_count: int = 16, input_shape: list[int] | None = None) -> dict[str, Any]:
    import onnx

    if kind not in KINDS:
        raise CvpError("bad_input", f"unknown variant kind {kind!r}; choose one of {list(KINDS)}")
    if calib_dir is not None and not calib_dir.is_dir():
        raise CvpError("bad_input", f"--calib-dir {str(calib_dir)!r} is not a directory")
    model = ou.load_model(model_path)
    ref_sess = ou.session(model_path)
    inp = ref_sess.get_inputs()[0]
    shape = input_shape or ou.concrete_shape(inp.shape)
    task = _guess_task(model, ref_sess)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_dir_file(out)
    extra: dict[str, Any] = {}
    progress("variant", kind=kind)
    loads = False  # already opened in a child process, and it loaded
    if kind == "fp16":
        from onnxconverter_common import float16

        # keep_io_types: callers keep feeding/reading float32; default op_block_list covers
        # Resize/NMS/TopK/Range/CumSum, which have no or broken fp16 kernels.
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one "value truncated" warning per tiny weight
            m16 = float16.convert_float_to_float16(model, keep_io_types=True)
        onnx.save(m16, str(tmp))
        extra = {"converter": "onnxconverter-common", "keep_io_types": True}
        why = ou.load_failure(tmp)
        loads = why is None  # the final check would open the same file again in another process
        if why:
            # onnxconverter-common leaves a float16 value_info on the outputs of blocked ops
            # (Resize in YOLO's upsample) and ORT refuses the graph; ORT's maintained fork of the
            # same converter inserts the casts correctly.
            log(f"onnxconverter-common fp16 graph does not load ({why[:200]}); using onnxruntime.transformers.float16")
            from onnxruntime.transformers.float16 import convert_float_to_float16 as ort_f16

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m16 = ort_f16(model, keep_io_types=True)
            onnx.save(m16, str(tmp))
            extra = {"converter": "onnxruntime.transformers.float16 (fallback)", "keep_io_types": True,
                     "fallback_reason": why[:300]}
    else:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        work = Path(tempfile.mkdtemp(prefix="cvp-q-", dir=out.parent))
        try:
            pre = work / "pre.onnx"
            src = str(model_path.resolve())
            # ORT's symbolic shape inference saves sym_shape_infer_temp.onnx into the cwd:
            # run it inside the temp folder so nothing lands in the caller's directory.
            cwd = os.getcwd()
            os.chdir(work)
            try:
                try:
                    quant_pre_process(src, str(pre), skip_symbolic_shape=False)
                except Exception as e:  # symbolic shape inference fails on some graphs; ONNX inference suffices
                    log(f"quant_pre_process with symbolic shapes failed ({e}); retrying without")
                    quant_pre_process(src, str(pre), skip_symbolic_shape=True)
            finally:
                os.chdir(cwd)
            if kind == "int8-static":
                reader = _Reader(inp.name, shape, calib_dir, seed, calib_count)
                exclude = yolo_head_exclusions(model) if task == "detect" else []
                reduce_range, why = int8_weight_range()
                quantize_static(str(pre), str(tmp), reader, quant_format=QuantFormat.QDQ,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                per_channel=True, reduce_range=reduce_range, nodes_to_exclude=exclude)
                extra = {"calibration": reader.source, "excluded_nodes": len(exclude), "format": "QDQ",
                         "reduce_range": reduce_range, "weight_range_reason": why}
            else:
                quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8)
                extra = {"weight_type": "QInt8"}
        finally:
            shutil.rmtree(work, ignore_errors=True)
    # e.g. ConvInteger produced by dynamic quantization has no CPU kernel for some types; an FP16
    # CRNN crashes onnxruntime at level all. Checked apart before this process opens it.
    why = None if loads else ou.load_failure(tmp)
    if why:
        hint = ""
        if "crashed" in why and ou.load_failure(tmp, "extended") is None:
            hint = " (it loads at graph level extended: an onnxruntime optimizer fails on this graph)"
        tmp.unlink(missing_ok=True)
        raise CvpError("variant_unloadable", f"{kind} variant does not load in onnxruntime: {why}{hint}",
                       exit_code=EXIT_OTHER)
    var_sess = ou.session(tmp)
    os.replace(tmp, out)
    progress("agreement")
    feeds = ou.seeded_inputs(ref_sess, seed=seed, count=4, shape_override=shape)
    agree = ou.agreement(ou.run_all(ref_sess, feeds), ou.run_all(var_sess, feeds), task=task)
    if task == "detect":
        # confidences live in rows 4: of [B, 4+nc, N]; boxes are pixel-scale so judged separately
        r = np.concatenate([o[0][:, 4:] for o in ou.run_all(ref_sess, feeds)])
        v = np.concatenate([o[0][:, 4:] for o in ou.run_all(var_sess, feeds)])
        if r.size:
            agree["score_max_abs_diff"] = float(np.abs(r - v).max())
    return {"kind": kind, "source": str(model_path), "onnx": str(out), "task": task,
            "agreement": agree, **extra,
            "size_bytes": out.stat().st_size, "source_size_bytes": model_path.stat().st_size,
            "sha256": ou.sha256_file(out), "metadata": ou.metadata(out)}
