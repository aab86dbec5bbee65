"""Presets built from architecture definitions only (no weights can be downloaded here).

Which presets exist, their task, definition and default input size come from presets.json, generated
from the platform's one catalog (libs/contracts/src/presets.ts); this module keeps the builders.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import onnx_utils as ou
from .export import atomic_dir_file, torch_outputs, torch_to_onnx, ultralytics_export
from .wire import CvpError, progress

_CATALOG = json.loads(Path(__file__).with_name("presets.json").read_text(encoding="utf-8"))
PRESETS: dict[str, dict[str, Any]] = _CATALOG["presets"]
UNTRAINED_NOTE: str = _CATALOG["untrainedNote"]


def build_ultralytics(yaml_name: str, pt_path: Path, task: str = "detect"):
    """Construct a YOLO model from its yaml and save a real checkpoint (untrained)."""
    from .env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    model = YOLO(yaml_name, task=task)
    tmp = atomic_dir_file(pt_path)
    model.save(str(tmp))
    os.replace(tmp, pt_path)
    return model


def run(name: str, out: Path, imgsz: int | None = None, seed: int = 0) -> dict[str, Any]:
    if name not in PRESETS:
        raise CvpError("bad_input", f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    spec = PRESETS[name]
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    import torch

    torch.manual_seed(seed)
    imgsz = imgsz or spec["imgsz"]
    if spec["family"] == "ultralytics":
        if imgsz % 32:
            raise CvpError("bad_input", f"imgsz must be a multiple of 32 for YOLO, got {imgsz}")
        src = out / f"{name}.pt"
        progress("build", preset=name)
        build_ultralytics(spec["definition"], src)
        progress("export", preset=name, imgsz=imgsz)
        ultralytics_export(src, onnx_path, imgsz)
        shape = [1, 3, imgsz, imgsz]
        from ultralytics import YOLO
        module = YOLO(str(src)).model.float().eval()
    else:
        import torchvision

        progress("build", preset=name)
        module = getattr(torchvision.models, spec["definition"])(weights=None).eval()
        shape = [1, 3, imgsz, imgsz]
        example = torch.zeros(shape)
        src = out / f"{name}.torchscript.pt"
        with torch.no_grad():
            traced = torch.jit.trace(module, example)
        tmp = atomic_dir_file(src)
        traced.save(str(tmp))
        os.replace(tmp, src)
        progress("export", preset=name, imgsz=imgsz)
        torch_to_onnx(module, example, onnx_path, output_names=("logits",))
    progress("validate")
    validation = ou.validate(onnx_path)
    sess = ou.session(onnx_path)
    feeds = ou.seeded_inputs(sess, seed=seed, count=2, shape_override=shape)
    cmp = ou.agreement(torch_outputs(module, [f[sess.get_inputs()[0].name] for f in feeds]), ou.run_all(sess, feeds),
                       task=spec["task"])
    meta = ou.metadata(onnx_path)
    return {
        "preset": name,
        "task": spec["task"],
        "trained": False,
        "note": UNTRAINED_NOTE,
        "source": {"path": str(src), "format": spec["sourceFormat"], "sha256": ou.sha256_file(src)},
        "onnx": str(onnx_path),
        "imgsz": imgsz,
        "validation": validation,
        "comparison": cmp,
        "metadata": meta,
    }
