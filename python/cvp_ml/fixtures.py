"""trained-detector: a small detector with learned weights and its labelled data set, cached.

Tests that judge accuracy (INT8 against FP32, the accuracy constraint of the selector) need a
network whose output depends on its input. This command generates the recipe's data set, trains
it with `train.run` and exports ONNX, once per cache key; later calls return the cached folder.

Cache: `--cache-dir`, else `$CVP_FIXTURE_CACHE`, else `~/.cache/cvp/fixtures` (outside the repo
and the data dir, shared by every checkout on the machine). One folder per recipe and key:

    <cache>/<recipe>-<key>/
        data/            the generated data set (data.yaml with absolute paths, images/, labels/)
        model.pt         best checkpoint
        model.onnx       Ultralytics ONNX export (dynamic batch and H/W)
        fixture.json     this command's result

Built in a temp folder and renamed, under an exclusive lock (concurrent callers wait, bounded,
then reuse the finished folder).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import recipes
from .wire import EXIT_OTHER, CvpError, log, progress

LOCK_WAIT_S = 30 * 60  # a cold build on a loaded 2-core host; beyond that something is stuck


def default_cache_dir() -> Path:
    env = os.environ.get("CVP_FIXTURE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cvp" / "fixtures"


def _lock(path: Path, wait_s: float):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.monotonic() + wait_s
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise CvpError("internal", f"waited {wait_s:.0f}s for {path} (another build holds it)",
                               exit_code=EXIT_OTHER) from None
            if not announced:
                progress("waiting", lock=str(path), reason="another process is building this fixture")
                announced = True
            time.sleep(1.0)


def _read(final: Path) -> dict[str, Any] | None:
    f = final / "fixture.json"
    if not f.is_file():
        return None
    res = json.loads(f.read_text())
    if not all(Path(res[k]).exists() for k in ("checkpoint", "onnx", "data_yaml")):
        return None
    return res


def _build(name: str, key: str, tmp: Path, final: Path) -> dict[str, Any]:
    from . import evaluate, synth, train

    spec = recipes.get(name)
    ds, tr = spec["dataset"], spec["train"]
    t0 = time.time()
    progress("fixture", step="dataset", recipe=name)
    data = synth.run(ds["kind"], tmp / "data", ds["images"], ds["classes"], ds["imgsz"], ds["seed"])
    progress("fixture", step="train", recipe=name)
    res = train.run(model=spec["model"], data=str(tmp / "data"), task=spec["task"], epochs=tr["epochs"],
                    imgsz=tr["imgsz"], batch=tr["batch"], device="cpu", seed=tr["seed"], out=tmp / "train",
                    hyp=tr["hyp"], export=True)
    shutil.copyfile(res["checkpoint"], tmp / "model.pt")
    os.replace(res["onnx"], tmp / "model.onnx")
    shutil.rmtree(tmp / "train")  # epochs' checkpoints and logs: tens of MB nobody reads
    progress("fixture", step="evaluate", recipe=name)
    ev = evaluate.run(str(tmp / "model.onnx"), str(tmp / "data"), tr["imgsz"], split="val")
    # the folder moves from tmp to final: data.yaml must name the final paths, and Ultralytics'
    # label caches (which hold the old ones) go
    for cache in (tmp / "data" / "labels").glob("*.cache"):
        cache.unlink()
    synth.write_data_yaml(tmp / "data", ds["classes"], root=final / "data")
    return {
        "recipe": name, "key": key, "dir": str(final), "data_dir": str(final / "data"),
        "data_yaml": str(final / "data" / "data.yaml"), "checkpoint": str(final / "model.pt"),
        "onnx": str(final / "model.onnx"), "imgsz": tr["imgsz"], "classes": ds["classes"], "names": data["names"],
        "splits": data["splits"], "train_metrics": res["metrics"], "train_seconds": res["train_seconds"],
        "onnx_val": {k: ev[k] for k in ("map50", "map50_95", "precision", "recall", "images", "instances")},
        "build_seconds": round(time.time() - t0, 2),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "spec": spec, "key_inputs": recipes.key_inputs(name),
    }


def run(name: str, cache_dir: Path | None = None, rebuild: bool = False) -> dict[str, Any]:
    recipes.get(name)  # unknown recipe -> bad_input before anything is created
    cache = (cache_dir or default_cache_dir()).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    key = recipes.key(name)
    final = cache / f"{name}-{key}"
    fd = _lock(cache / f".{name}-{key}.lock", LOCK_WAIT_S)
    try:
        if not rebuild:
            hit = _read(final)
            if hit:
                log(f"trained detector {name} from cache {final}")
                return {**hit, "cached": True}
        tmp = cache / f".tmp-{name}-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            res = _build(name, key, tmp, final)
            (tmp / "fixture.json").write_text(json.dumps(res, indent=2))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"trained detector {name} built in {res['build_seconds']}s -> {final}")
        return {**res, "cached": False}
    finally:
        os.close(fd)
