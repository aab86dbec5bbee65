"""evaluate: mAP of a detector (.pt, .onnx, or a preset's untrained architecture) on a labelled split.

Ultralytics' own validator scores it (letterbox, NMS at conf 0.001 / IoU 0.7, COCO-style AP), so
an ONNX file, its INT8 variant and the PyTorch checkpoint are judged by one yardstick. A preset
name (yolov8n, yolov8s) scores the architecture with seeded random weights and the data set's
classes: the floor an untrained network reaches on that data.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .wire import CvpError, progress
from .train import PRESET_YAML, _count_images, check_data


def _split_dir(cfg: dict, data_yaml: Path, split: str) -> Path:
    root = Path(cfg.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else data_yaml.parent / root
    sp = Path(cfg[split])
    return sp if sp.is_absolute() else root / sp


def _untrained(preset: str, names: dict[int, str], seed: int):
    import torch
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    yolo = YOLO(PRESET_YAML[(preset, "detect")], task="detect")
    yolo.model = DetectionModel(PRESET_YAML[(preset, "detect")], nc=len(names), verbose=False)
    yolo.model.names = dict(names)
    return yolo


def run(model: str, data: str, imgsz: int, split: str = "val", batch: int = 16, seed: int = 0) -> dict[str, Any]:
    if imgsz < 32 or imgsz % 32:
        raise CvpError("bad_input", f"imgsz must be a multiple of 32 and >= 32, got {imgsz}")
    if split not in ("train", "val", "test"):
        raise CvpError("bad_input", f"split must be train, val or test, got {split!r}")
    data_yaml = check_data(data, "detect")
    import yaml

    cfg = yaml.safe_load(Path(data_yaml).read_text())
    names = cfg.get("names") or {k: f"class{k}" for k in range(int(cfg["nc"]))}
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not cfg.get(split):
        raise CvpError("data_error", f"data.yaml has no {split!r} split")

    from .env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    untrained = (model, "detect") in PRESET_YAML
    if untrained:
        yolo = _untrained(model, names, seed)
        source = f"{model} architecture, seeded random weights (seed {seed}), {len(names)} classes"
    else:
        p = Path(model)
        if not p.is_file() or p.suffix not in (".pt", ".onnx"):
            raise CvpError("bad_input", f"model {model!r} must be an Ultralytics .pt, an .onnx file or a preset name")
        yolo = YOLO(str(p.resolve()), task="detect")
        source = str(p.resolve())
    scratch = Path(tempfile.mkdtemp(prefix="cvp-eval-"))
    t0 = time.time()
    progress("evaluate", model=source, split=split, imgsz=imgsz)
    try:
        m = yolo.val(data=data_yaml, split=split, imgsz=imgsz, batch=batch, device="cpu", workers=0, plots=False,
                     save_json=False, verbose=False, project=str(scratch), name="val", exist_ok=True)
    except (FileNotFoundError, SyntaxError) as e:
        raise CvpError("data_error", f"{type(e).__name__}: {str(e)[:800]}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    per_class = {}
    for i, c in enumerate(list(m.box.ap_class_index)):
        per_class[names.get(int(c), str(c))] = float(m.box.ap50[i])
    nt = getattr(m, "nt_per_class", None)
    return {
        "model": source, "untrained": untrained, "data": data_yaml, "split": split, "imgsz": imgsz,
        "map50": float(m.box.map50), "map50_95": float(m.box.map), "precision": float(m.box.mp),
        "recall": float(m.box.mr), "ap50_per_class": per_class,
        "instances": int(nt.sum()) if nt is not None else None,
        "images": _count_images(_split_dir(cfg, Path(data_yaml), split)),
        "seconds": round(time.time() - t0, 2),
    }
