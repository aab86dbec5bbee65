"""Export helpers shared by preset, convert and train."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .onnx_utils import OPSET
from .wire import log


def atomic_dir_file(dst: Path) -> Path:
    """Temp path next to dst; callers write there and os.replace() so nothing is half-written."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    return dst.with_name(f".{dst.name}.tmp-{os.getpid()}")


def torch_to_onnx(module, example, dst: Path, input_names=("images",), output_names=("output",)) -> Path:
    """torch.onnx.export with the TorchScript-based exporter (dynamo=False), dynamic batch axis.

    The dynamo exporter cannot take ScriptModules and needs opset >= 18; the classic exporter
    gives one deterministic path for nn.Modules and TorchScript alike.
    """
    import torch

    tmp = atomic_dir_file(dst)
    dyn = {n: {0: "batch"} for n in (*input_names, *output_names)}
    kwargs: dict[str, Any] = dict(opset_version=OPSET, input_names=list(input_names),
                                  output_names=list(output_names), dynamic_axes=dyn, do_constant_folding=True)
    with torch.no_grad():
        try:
            torch.onnx.export(module, (example,), str(tmp), dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo kwarg
            torch.onnx.export(module, (example,), str(tmp), **kwargs)
    os.replace(tmp, dst)
    return dst


def torch_outputs(module, feeds_np: list[np.ndarray]) -> list[list[np.ndarray]]:
    import torch

    outs = []
    with torch.no_grad():
        for x in feeds_np:
            y = module(torch.from_numpy(x))
            if isinstance(y, (list, tuple)):
                y = y[0]  # Ultralytics eval returns (decoded, raw); ONNX export keeps the decoded one
            if isinstance(y, dict):
                y = next(iter(y.values()))
            outs.append([y.detach().cpu().numpy()])
    return outs


def ultralytics_export(pt_path: Path, dst: Path, imgsz: int, dynamic: bool = True) -> Path:
    """Ultralytics' own ONNX export (keeps its output layout and metadata), moved to dst."""
    from .env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    dst.parent.mkdir(parents=True, exist_ok=True)
    # Ultralytics writes the ONNX beside the weights; the source's folder may be read-only (the
    # sandbox binds the input read-only), so a copy in the output folder is what gets exported.
    work = None
    if pt_path.resolve().parent != dst.parent.resolve():
        work = dst.parent / f".export-{os.getpid()}{pt_path.suffix}"
        shutil.copyfile(pt_path, work)
    try:
        model = YOLO(str(work or pt_path))
        # simplify=True uses onnxslim (pinned in requirements) rather than pip-installing it.
        f = model.export(format="onnx", imgsz=imgsz, dynamic=dynamic, opset=OPSET, simplify=True,
                         device="cpu", half=False, verbose=False)
        src = Path(f)
        if src.resolve() != dst.resolve():
            tmp = atomic_dir_file(dst)
            shutil.move(str(src), tmp)
            os.replace(tmp, dst)
    finally:
        if work is not None:
            work.unlink(missing_ok=True)
    log(f"ultralytics export -> {dst}")
    return dst
