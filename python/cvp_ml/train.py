"""train: Ultralytics YOLO detect/classify, fully offline, progress per epoch, ONNX at the end."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .wire import EXIT_BAD_INPUT, CvpError, log, progress

PRESET_YAML = {
    ("yolov8n", "detect"): "yolov8n.yaml", ("yolov8s", "detect"): "yolov8s.yaml",
    ("yolov8n", "classify"): "yolov8n-cls.yaml", ("yolov8s", "classify"): "yolov8s-cls.yaml",
}
IMG_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

# Hyperparameters a caller (or the tuner) may set; anything else is refused so a typo or a
# path-like key (data, project, ...) cannot redirect the run.
HYP_KEYS = {
    "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr",
    "box", "cls", "cls_pw", "dfl", "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear",
    "perspective", "flipud", "fliplr", "bgr", "mosaic", "mixup", "cutmix", "copy_paste", "close_mosaic",
    "optimizer", "cos_lr", "label_smoothing", "dropout", "patience", "nbs", "erasing",
}


def _count_images(d: Path) -> int:
    return sum(1 for p in d.rglob("*") if p.suffix.lower() in IMG_EXT) if d.is_dir() else 0


def check_data(data: str, task: str) -> str:
    """Validate the data set before Ultralytics sees it: its fallbacks download things."""
    import yaml

    p = Path(data)
    if not p.exists():
        raise CvpError("data_error", f"data set {data!r} does not exist")
    if task == "classify":
        if not p.is_dir():
            raise CvpError("data_error", "classify data must be a folder with train/ and val/ class folders")
        for split in ("train",):
            if not (p / split).is_dir() or _count_images(p / split) == 0:
                raise CvpError("data_error", f"classify data set has no images under {split}/")
        if not any((p / s).is_dir() for s in ("val", "test")):
            raise CvpError("data_error", "classify data set needs a val/ (or test/) folder")
        classes = sorted(d.name for d in (p / "train").iterdir() if d.is_dir())
        if len(classes) < 2:
            raise CvpError("data_error", f"classify data set needs >= 2 class folders, found {classes}")
        return str(p.resolve())
    yml = p / "data.yaml" if p.is_dir() else p
    if not yml.is_file():
        raise CvpError("data_error", f"no data.yaml in {data!r}")
    try:
        cfg = yaml.safe_load(yml.read_text())
    except Exception as e:
        raise CvpError("data_error", f"data.yaml does not parse: {e}") from None
    if not isinstance(cfg, dict):
        raise CvpError("data_error", "data.yaml must be a mapping")
    if "download" in cfg:
        raise CvpError("data_error", "data.yaml has a 'download' key; offline data sets must not")
    if "names" not in cfg and "nc" not in cfg:
        raise CvpError("data_error", "data.yaml needs 'names'")
    home = yml.parent.resolve()
    root = Path(cfg.get("path") or yml.parent)
    if not root.is_absolute():
        root = (yml.parent / root).resolve()
    for split in ("train", "val"):
        v = cfg.get(split)
        if not v:
            raise CvpError("data_error", f"data.yaml has no '{split}' entry")
        for item in (v if isinstance(v, list) else [v]):
            sp = Path(item)
            sp = (sp if sp.is_absolute() else root / sp).resolve()
            # A data set reads only its own files: no absolute or '..' escape via data.yaml.
            if sp != home and home not in sp.parents:
                raise CvpError("data_error", f"{split} split {str(sp)!r} lies outside the data set folder {str(home)!r}")
            if not sp.exists() or (sp.is_dir() and _count_images(sp) == 0):
                raise CvpError("data_error", f"{split} split {str(sp)!r} is missing or has no images")
    return str(yml.resolve())


def resolve_model(model: str, task: str) -> str:
    if (model, task) in PRESET_YAML:
        return PRESET_YAML[(model, task)]
    p = Path(model)
    if p.suffix in (".yaml", ".yml") and not p.exists():
        return model  # an Ultralytics architecture name such as yolov8n.yaml
    if not p.is_file():
        raise CvpError("bad_input", f"model {model!r} is neither a preset ({sorted({k for k, _ in PRESET_YAML})}) nor a file")
    if p.suffix not in (".pt", ".yaml", ".yml"):
        raise CvpError("bad_input", f"train needs an Ultralytics .pt or .yaml, got {p.name!r}")
    return str(p.resolve())


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def run(model: str, data: str, task: str, epochs: int, imgsz: int, batch: int, device: str, seed: int,
        out: Path, workers: int = 0, hyp: dict | None = None, export: bool = True) -> dict[str, Any]:
    if epochs < 1 or imgsz < 32 or batch < 1:
        raise CvpError("bad_input", "epochs >= 1, imgsz >= 32 and batch >= 1 are required")
    hyp = hyp or {}
    bad = sorted(set(hyp) - HYP_KEYS)
    if bad:
        raise CvpError("bad_input", f"unknown hyperparameters {bad}")
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise CvpError("bad_input", f"--device {device!r} requested but no CUDA device is available; use --device cpu")
    data_arg = check_data(data, task)
    model_arg = resolve_model(model, task)

    from .env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    yolo = YOLO(model_arg, task=task)
    t0 = time.time()
    state: dict[str, Any] = {"last": {}}

    def on_fit_epoch_end(trainer):
        ep = trainer.epoch + 1
        # Ultralytics fires this once more for the final validation of best.pt; report each epoch once
        if ep > trainer.epochs or ep in state.setdefault("seen", set()):
            return
        state["seen"].add(ep)
        elapsed = time.time() - t0
        losses = {}
        if isinstance(trainer.tloss, dict):
            losses = {k: _num(v) for k, v in trainer.tloss.items()}
        elif trainer.tloss is not None:
            losses = {k.split("/")[-1]: _num(v) for k, v in trainer.label_loss_items(trainer.tloss).items()}
        metrics = {k: _num(v) for k, v in (trainer.metrics or {}).items()}
        lr = {k: _num(v) for k, v in (getattr(trainer, "lr", None) or {}).items()}
        eta = elapsed / ep * (trainer.epochs - ep)
        state["last"] = {"epoch": ep, "losses": losses, "metrics": metrics, "fitness": _num(getattr(trainer, "fitness", None))}
        progress("epoch", epoch=ep, epochs=trainer.epochs, losses=losses, metrics=metrics, lr=lr,
                 elapsed_s=round(elapsed, 2), eta_s=round(eta, 2))

    yolo.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    args = dict(data=data_arg, epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=seed,
                deterministic=True, amp=False, workers=workers, project=str(out), name="train", exist_ok=True,
                plots=False, verbose=False, val=True, save=True, cache=False, **hyp)
    progress("start", task=task, model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=seed)
    try:
        yolo.train(**args)
    except (FileNotFoundError, SyntaxError) as e:
        # Ultralytics raises these for unreadable data sets / labels
        raise CvpError("data_error", f"{type(e).__name__}: {str(e)[:800]}", exit_code=EXIT_BAD_INPUT) from None
    except RuntimeError as e:
        msg = str(e)
        if "Dataset" in msg or "images not found" in msg or "No labels" in msg or "No valid images" in msg:
            raise CvpError("data_error", msg[:800]) from None
        raise
    trainer = yolo.trainer
    wdir = Path(trainer.save_dir) / "weights"
    best = wdir / "best.pt" if (wdir / "best.pt").exists() else wdir / "last.pt"
    if not best.exists():
        raise CvpError("training_failed", "training finished without a checkpoint", exit_code=1)
    metrics = {k: _num(v) for k, v in (trainer.metrics or {}).items()}
    primary = "metrics/accuracy_top1" if task == "classify" else "metrics/mAP50-95(B)"
    result: dict[str, Any] = {
        "task": task, "model": model, "epochs": epochs, "imgsz": imgsz, "seed": seed,
        "checkpoint": str(best), "last_checkpoint": str(wdir / "last.pt"), "save_dir": str(trainer.save_dir),
        "metrics": metrics, "primary_metric": primary, "accuracy": metrics.get(primary),
        "fitness": _num(getattr(trainer, "fitness", None)), "hyp": hyp,
        "train_seconds": round(time.time() - t0, 2), "trained": True,
    }
    if export:
        from .export import ultralytics_export
        from . import onnx_utils as ou

        progress("export", format="onnx")
        onnx_path = ultralytics_export(best, out / "model.onnx", imgsz)
        result["onnx"] = str(onnx_path)
        result["validation"] = ou.validate(onnx_path)
        result["onnx_metadata"] = ou.metadata(onnx_path)
    else:
        result["onnx"] = None
    log(f"trained in {result['train_seconds']}s -> {best}")
    return result
