"""convert: torchscript / ultralytics / tensorflow-savedmodel / onnx -> validated ONNX."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import onnx_utils as ou
from .export import atomic_dir_file, torch_outputs, torch_to_onnx, ultralytics_export
from .wire import EXIT_OTHER, CvpError, log, progress

FORMATS = ("onnx", "torchscript", "ultralytics", "tensorflow-savedmodel")
ZIP_MAX_ENTRIES = 10000
ZIP_MAX_BYTES = 4 * 1024**3


def parse_shape(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        dims = [int(x) for x in text.split(",")]
    except ValueError:
        raise CvpError("bad_input", f"--input-shape must be comma-separated integers, got {text!r}") from None
    if len(dims) != 4 or any(d <= 0 for d in dims):
        raise CvpError("bad_input", f"--input-shape must be N,C,H,W with positive dims, got {text!r}")
    return dims


def _convert_onnx(inp: Path, dst: Path) -> dict[str, Any]:
    model = ou.load_model(inp, load_external=False)  # sniff + external-data safety
    ext = ou.check_external_data(model, inp)
    tmp = atomic_dir_file(dst)
    shutil.copyfile(inp, tmp)
    for loc in ext:  # keep external data beside the copy, same relative names
        (dst.parent / loc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inp.resolve().parent / loc, dst.parent / loc)
    os.replace(tmp, dst)
    return {"skipped": "source is already ONNX: validated, nothing to compare against"}


def _convert_torchscript(inp: Path, dst: Path, shape: list[int], seed: int, task: str | None):
    import torch

    from .safe_load import require_code_loading

    require_code_loading("a TorchScript archive (a program, not weights)", inp)
    try:
        module = torch.jit.load(str(inp), map_location="cpu").eval()
    except Exception as e:
        raise CvpError("invalid_model", f"not a loadable TorchScript file: {type(e).__name__}: {str(e)[:500]}") from None
    example = torch.zeros(shape)
    try:
        with torch.no_grad():
            module(example)
    except Exception as e:
        raise CvpError("bad_input", f"model does not accept input shape {shape}: {str(e)[:500]}") from None
    torch_to_onnx(module, example, dst)
    return module


def _convert_ultralytics(inp: Path, dst: Path, shape: list[int] | None):
    from .env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    try:
        model = YOLO(str(inp))
    except CvpError:
        raise
    except Exception as e:
        raise CvpError("invalid_model", f"not a loadable Ultralytics checkpoint: {type(e).__name__}: {str(e)[:500]}") from None
    args = getattr(model.model, "args", None)
    ck_imgsz = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    if isinstance(ck_imgsz, (list, tuple)):
        ck_imgsz = ck_imgsz[0]
    imgsz = shape[2] if shape else int(ck_imgsz or 640)
    if imgsz % 32:
        raise CvpError("bad_input", f"YOLO input size must be a multiple of 32, got {imgsz}")
    ultralytics_export(inp, dst, imgsz)
    return model.model.float().eval(), model.task, [1, 3, imgsz, imgsz]


def safe_extract_zip(zpath: Path, dest: Path) -> None:
    """Extract with caps and refuse absolute paths, '..', symlinks and special files."""
    try:
        zf = zipfile.ZipFile(zpath)
    except zipfile.BadZipFile as e:
        raise CvpError("invalid_model", f"not a zip archive: {e}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > ZIP_MAX_ENTRIES:
            raise CvpError("bad_input", f"zip has {len(infos)} entries, limit {ZIP_MAX_ENTRIES}")
        if sum(i.file_size for i in infos) > ZIP_MAX_BYTES:
            raise CvpError("bad_input", "zip uncompressed size over the limit")
        root = dest.resolve()
        for i in infos:
            name = i.filename
            mode = (i.external_attr >> 16) & 0o170000
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name.split("/")[0]:
                raise CvpError("bad_input", f"zip entry {name!r} escapes the extraction folder")
            if mode and mode not in (stat.S_IFREG, stat.S_IFDIR):
                raise CvpError("bad_input", f"zip entry {name!r} is a symlink or special file")
            target = (root / name).resolve()
            if target != root and root not in target.parents:
                raise CvpError("bad_input", f"zip entry {name!r} escapes the extraction folder")
        zf.extractall(root)


def _find_savedmodel(root: Path) -> Path:
    hits = [p.parent for p in root.rglob("saved_model.pb")]
    if not hits:
        raise CvpError("invalid_model", "no saved_model.pb found in the SavedModel input")
    return sorted(hits, key=lambda p: len(p.parts))[0]


def tf_available() -> tuple[bool, str]:
    try:
        import tf2onnx  # noqa: F401
        import tensorflow  # noqa: F401
        return True, ""
    except Exception as e:  # ImportError, or a protobuf/numpy ABI clash at import time
        return False, f"{type(e).__name__}: {e}"


def _convert_savedmodel(inp: Path, dst: Path, shape: list[int] | None, seed: int):
    work = Path(tempfile.mkdtemp(prefix="cvp-tf-", dir=dst.parent))
    try:
        # input checks first: they are cheap, importing TensorFlow is not
        if inp.is_file():
            safe_extract_zip(inp, work)
            sm = _find_savedmodel(work)
        else:
            sm = _find_savedmodel(inp)
        ok, why = tf_available()
        if not ok:
            raise CvpError("converter_unavailable",
                           "tensorflow-savedmodel conversion needs tensorflow-cpu and tf2onnx "
                           f"(python/requirements-tf.txt), which are not importable here: {why}",
                           exit_code=EXIT_OTHER)
        tmp = atomic_dir_file(dst)
        # tf2onnx in a child: TF holds lots of global state and its logging floods stdout.
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(sm), "--output", str(tmp),
               "--opset", str(ou.OPSET)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
        sys.stderr.write(r.stdout[-4000:])
        if r.returncode != 0 or not tmp.exists():
            tail = r.stdout.strip().splitlines()[-3:]
            raise CvpError("conversion_failed", f"tf2onnx failed: {' | '.join(tail)}", exit_code=EXIT_OTHER)
        os.replace(tmp, dst)
        ref = _tf_reference(sm, dst, seed)
        return ref
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _tf_reference(sm: Path, onnx_path: Path, seed: int):
    """Run the SavedModel's serving signature on the same seeded inputs as the ONNX model."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(sm))
    fn = loaded.signatures["serving_default"]
    sess = ou.session(onnx_path)
    feeds = ou.seeded_inputs(sess, seed=seed, count=2)
    ref = []
    spec_names = list(fn.structured_input_signature[1].keys())
    out_names = sorted(fn.structured_outputs.keys())
    for f in feeds:
        # tf2onnx names ONNX inputs after the signature's inputs (with a ':0' suffix)
        args = {}
        for name, arr in f.items():
            key = name.split(":")[0]
            key = key if key in spec_names else spec_names[0]
            args[key] = tf.constant(arr)
        res = fn(**args)
        ref.append([res[k].numpy() for k in out_names])
    onnx_names = [o.name for o in sess.get_outputs()]
    # align output order by name where possible
    got = []
    for f in feeds:
        outs = dict(zip(onnx_names, sess.run(None, f)))
        got.append([outs.get(k, outs.get(k + ":0", list(outs.values())[i])) for i, k in enumerate(out_names)])
    return ref, got


def run(fmt: str, inp: Path, out: Path, shape: list[int] | None, task: str | None, seed: int = 0) -> dict[str, Any]:
    if fmt not in FORMATS:
        raise CvpError("bad_input", f"unknown format {fmt!r}; choose one of {list(FORMATS)}")
    if not inp.exists():
        raise CvpError("not_found", f"input {str(inp)!r} does not exist")
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "model.onnx"
    progress("convert", format=fmt)
    comparison: dict[str, Any]
    if fmt == "onnx":
        comparison = _convert_onnx(inp, dst)
    elif fmt == "torchscript":
        shape = shape or ([1, 3, 640, 640] if task == "detect" else [1, 3, 224, 224])
        module = _convert_torchscript(inp, dst, shape, seed, task)
        comparison = None  # filled below
    elif fmt == "ultralytics":
        module, utask, shape = _convert_ultralytics(inp, dst, shape)
        task = task or utask
    else:
        ref, got = _convert_savedmodel(inp, dst, shape, seed)
        comparison = ou.agreement(ref, got, task=task)
    progress("validate")
    validation = ou.validate(dst)
    if fmt in ("torchscript", "ultralytics"):
        sess = ou.session(dst)
        feeds = ou.seeded_inputs(sess, seed=seed, count=2, shape_override=shape)
        name = sess.get_inputs()[0].name
        comparison = ou.agreement(torch_outputs(module, [f[name] for f in feeds]), ou.run_all(sess, feeds), task=task)
    meta = ou.metadata(dst)
    from .safe_load import loads

    if loads():
        validation = {**validation, "source_loading": loads()}
    log(f"converted {fmt} -> {dst}")
    return {"format": fmt, "task": task, "source": {"path": str(inp), "sha256": ou.sha256_file(inp) if inp.is_file() else None},
            "onnx": str(dst), "validation": validation, "comparison": comparison, "metadata": meta}
