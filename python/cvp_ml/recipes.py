"""Training recipes: a detector with learned weights on cvp's own generated shapes data set.

An untrained network's output barely depends on its input, so every accuracy check against it
passes by construction. These recipes give a detector that has learned something, trained by
cvp's own pipeline on a labelled data set it generates, within a bounded time on 2 CPU cores.

- `shapes-demo`: what the demo trains through the platform (data set upload -> train job). The
  train job takes epochs, imgsz, batch and seed only, so this recipe keeps Ultralytics' default
  hyperparameters.
- `shapes-small`: the tests' trained-detector fixture; smaller images and a schedule that learns
  sooner (AdamW, no warm-up), so a cold cache costs about a minute of CPU.

The cache key covers everything that determines the weights: the recipe, the generator's and the
trainer's code (synth.py, train.py), and the Ultralytics and torch versions.
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from .wire import CvpError

RECIPES: dict[str, dict[str, Any]] = {
    "shapes-demo": {
        "model": "yolov8n",
        "task": "detect",
        # 300 train / 100 held-out val images of 1-3 shapes each; 4 classes (colour x shape)
        "dataset": {"kind": "yolo", "images": 400, "classes": 4, "imgsz": 128, "seed": 0},
        # measured: mAP@0.5 0.88 on the 100 held-out images for ~86 s of CPU; 160 px gave 0.83
        # for ~107 s, and batch 8 the same mAP for 20 % more CPU
        "train": {"epochs": 10, "imgsz": 128, "batch": 16, "seed": 0, "hyp": {}},
    },
    "shapes-small": {
        "model": "yolov8n",
        "task": "detect",
        "dataset": {"kind": "yolo", "images": 320, "classes": 4, "imgsz": 96, "seed": 0},
        "train": {"epochs": 8, "imgsz": 96, "batch": 8, "seed": 0,
                  "hyp": {"optimizer": "AdamW", "lr0": 0.003, "warmup_epochs": 0}},
    },
}

# The code whose changes change the data or the weights.
_KEYED_SOURCES = ("synth.py", "train.py")


def get(name: str) -> dict[str, Any]:
    if name not in RECIPES:
        raise CvpError("bad_input", f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return copy.deepcopy(RECIPES[name])


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def key_inputs(name: str) -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    code = hashlib.sha256()
    for f in _KEYED_SOURCES:
        code.update(f.encode() + b"\0" + (here / f).read_bytes())
    return {"recipe": name, "spec": get(name), "code_sha256": code.hexdigest(),
            "ultralytics": _version("ultralytics"), "torch": _version("torch")}


def key(name: str) -> str:
    """Stable digest of what determines the trained weights (short: it names folders)."""
    blob = json.dumps(key_inputs(name), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def describe(name: str) -> dict[str, Any]:
    """`recipe --name N`: the recipe, its cache key and what went into the key."""
    inputs = key_inputs(name)
    return {"name": name, "key": key(name), **inputs["spec"], "code_sha256": inputs["code_sha256"],
            "versions": {"ultralytics": inputs["ultralytics"], "torch": inputs["torch"]}}
