"""Synthetic data sets (tests, the demo, trained fixtures): shapes on noise with exact YOLO labels, or class folders."""
from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any

import numpy as np

from .wire import CvpError, progress

_HUES = ("red", "orange", "yellow", "chartreuse", "green", "spring-green", "cyan", "azure", "blue", "violet",
         "magenta", "rose")


def class_color(k: int, classes: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(k / max(classes, 1), 0.9, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def class_names(classes: int) -> dict[int, str]:
    """What each class looks like ("red rectangle", "cyan circle"), so detections read as what they are."""
    names: dict[int, str] = {}
    for k in range(classes):
        hue = _HUES[int(round(k / max(classes, 1) * len(_HUES))) % len(_HUES)]
        name = f"{hue} {'circle' if k % 2 else 'rectangle'}"
        names[k] = name if name not in names.values() else f"{name} {k}"
    return names


def _noise(rng, s: int) -> "Image.Image":
    from PIL import Image

    arr = rng.integers(0, 80, size=(s, s, 3), dtype=np.uint8)  # dark noise keeps shapes visible
    return Image.fromarray(arr, "RGB")


def _draw_shape(draw, rng, k: int, classes: int, s: int) -> tuple[float, float, float, float]:
    """Draw class k (colour by class, circle for odd ids, rectangle for even); return pixel box."""
    w = int(rng.integers(max(4, s // 6), max(5, s // 2)))
    h = w if k % 2 else int(rng.integers(max(4, s // 6), max(5, s // 2)))
    x0 = int(rng.integers(0, s - w))
    y0 = int(rng.integers(0, s - h))
    color = class_color(k, classes)
    if k % 2:
        draw.ellipse([x0, y0, x0 + w - 1, y0 + h - 1], fill=color)
    else:
        draw.rectangle([x0, y0, x0 + w - 1, y0 + h - 1], fill=color)
    return x0, y0, x0 + w, y0 + h


def write_data_yaml(folder: Path, classes: int, root: Path | None = None) -> Path:
    """data.yaml for the folder layout yolo() writes, with absolute `path`/`train`/`val` (so
    Ultralytics never resolves them against its own datasets dir, and never fetches anything).
    root: the absolute folder to name when the data set is about to move there (default: folder)."""
    import yaml

    root = (root or folder).resolve()
    data: dict[str, Any] = {"path": str(root), "train": str(root / "images" / "train"),
                            "val": str(root / "images" / "val")}
    # no 'download' key: an offline data set must never point Ultralytics at the network
    data.update(nc=classes, names=class_names(classes))
    dst = folder / "data.yaml"
    tmp = dst.with_name(".data.yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(dst)
    return dst


def zip_portable(root: Path, dst: Path) -> Path:
    """A zip of a yolo() folder that the gateway's data set upload accepts: portable data.yaml,
    images/<split>, labels/<split>, entries sorted (the same data set gives the same bytes)."""
    import yaml
    import zipfile

    cfg = yaml.safe_load((root / "data.yaml").read_text())
    portable = {"train": "images/train", "val": "images/val", "nc": cfg["nc"], "names": cfg["names"]}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("data.yaml", date_time=(2000, 1, 1, 0, 0, 0))
        z.writestr(info, yaml.safe_dump(portable, sort_keys=False), compress_type=zipfile.ZIP_DEFLATED)
        for sub in ("images/train", "images/val", "labels/train", "labels/val"):
            for f in sorted((root / sub).iterdir()):
                if f.is_file() and not f.name.startswith(".") and f.suffix != ".cache":
                    info = zipfile.ZipInfo(f"{sub}/{f.name}", date_time=(2000, 1, 1, 0, 0, 0))
                    # PNGs are compressed already: storing them saves CPU for no size cost
                    method = zipfile.ZIP_STORED if f.suffix == ".png" else zipfile.ZIP_DEFLATED
                    z.writestr(info, f.read_bytes(), compress_type=method)
    tmp.replace(dst)
    return dst


def yolo(out: Path, images: int, classes: int, imgsz: int, seed: int, val_fraction: float = 0.25) -> dict[str, Any]:
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(images * val_fraction)))
    counts = {"train": 0, "val": 0}
    instances = [0] * classes
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(images):
        split = "val" if i >= images - n_val else "train"
        img = _noise(rng, imgsz)
        d = ImageDraw.Draw(img)
        lines = []
        for j in range(int(rng.integers(1, 4))):
            # the first object cycles through classes so every class appears
            k = (i + j) % classes if j == 0 else int(rng.integers(0, classes))
            x0, y0, x1, y1 = _draw_shape(d, rng, k, classes, imgsz)
            cx, cy, bw, bh = (x0 + x1) / 2 / imgsz, (y0 + y1) / 2 / imgsz, (x1 - x0) / imgsz, (y1 - y0) / imgsz
            lines.append(f"{k} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
            instances[k] += 1
        name = f"img_{i:05d}"
        img.save(out / "images" / split / f"{name}.png")
        (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n")
        counts[split] += 1
        if i % 50 == 0:
            progress("synth", done=i, total=images)
    root = out.resolve()
    write_data_yaml(root, classes)
    return {"kind": "yolo", "path": str(root), "data_yaml": str(root / "data.yaml"), "splits": counts,
            "classes": classes, "names": list(class_names(classes).values()), "instances_per_class": instances, "imgsz": imgsz,
            "seed": seed, "val_fraction": val_fraction}


def imagefolder(out: Path, images: int, classes: int, imgsz: int, seed: int, val_fraction: float = 0.25) -> dict[str, Any]:
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    counts: dict[str, dict[str, int]] = {"train": {}, "val": {}}
    per_class = max(2, images // classes)
    n_val = max(1, int(round(per_class * val_fraction)))
    for k in range(classes):
        for split in ("train", "val"):
            (out / split / f"class{k}").mkdir(parents=True, exist_ok=True)
            counts[split][f"class{k}"] = 0
        for i in range(per_class):
            split = "val" if i >= per_class - n_val else "train"
            img = _noise(rng, imgsz)
            _draw_shape(ImageDraw.Draw(img), rng, k, classes, imgsz)
            img.save(out / split / f"class{k}" / f"img_{i:05d}.png")
            counts[split][f"class{k}"] += 1
    return {"kind": "imagefolder", "path": str(out.resolve()), "splits": counts, "classes": classes,
            "imgsz": imgsz, "seed": seed}


def run(kind: str, out: Path, images: int, classes: int, imgsz: int, seed: int,
        zip_path: Path | None = None) -> dict[str, Any]:
    if images < 2 or classes < 1 or imgsz < 16:
        raise CvpError("bad_input", "need images >= 2, classes >= 1, imgsz >= 16")
    if zip_path is not None and kind != "yolo":
        raise CvpError("bad_input", "--zip is available for yolo data sets only")
    if kind == "yolo":
        result = yolo(out, images, classes, imgsz, seed)
        if zip_path is not None:
            result["zip"] = str(zip_portable(out, zip_path).resolve())
        return result
    if kind == "imagefolder":
        return imagefolder(out, images, classes, imgsz, seed)
    raise CvpError("bad_input", f"unknown data set kind {kind!r}; choose yolo or imagefolder")
