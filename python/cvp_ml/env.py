"""Offline environment for Ultralytics. Must run before `import ultralytics`."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_ready = False


def data_dir() -> Path:
    env = os.environ.get("CVP_DATA_DIR")
    if env:
        return Path(env).resolve()
    # Default var/ at the repo root when running from the checkout (python/cvp_ml/..),
    # else var/ under the current directory.
    repo = Path(__file__).resolve().parents[2]
    if (repo / "python" / "pyproject.toml").exists():
        return repo / "var"
    return Path.cwd() / "var"


def setup_offline_env() -> Path:
    """Set the env vars Ultralytics reads at import time and place fonts it would download."""
    global _ready
    cfg = data_dir() / "ultralytics"
    if _ready:
        return cfg
    cfg.mkdir(parents=True, exist_ok=True)
    # "true" exactly: Ultralytics compares the string, "1" is ignored.
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cfg))
    os.environ.setdefault("YOLO_VERBOSE", "true")
    # Detection plots/labels check for Arial.ttf before downloading it; a local DejaVu copy
    # under that name satisfies the check without network. Arial.Unicode.ttf likewise.
    cfg_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    cfg_dir.mkdir(parents=True, exist_ok=True)
    # Ultralytics' USER_CONFIG_DIR is YOLO_CONFIG_DIR/Ultralytics (that is where check_font looks,
    # and its YOLO_OFFLINE does not stop that check from probing the URL): place fonts in both.
    if DEJAVU.exists():
        for folder in (cfg_dir, cfg_dir / "Ultralytics"):
            folder.mkdir(parents=True, exist_ok=True)
            for name in ("Arial.ttf", "Arial.Unicode.ttf"):
                dst = folder / name
                if not dst.exists():
                    tmp = dst.with_name(f".{name}.{os.getpid()}.tmp")
                    shutil.copyfile(DEJAVU, tmp)
                    os.replace(tmp, dst)
    # Hub/analytics/experiment trackers all reach out to the network.
    for var in ("WANDB_MODE", "COMET_MODE", "CLEARML_OFFLINE_MODE"):
        os.environ.setdefault(var, "disabled" if var != "CLEARML_OFFLINE_MODE" else "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _ready = True
    return cfg_dir


def import_ultralytics():
    """Import ultralytics with the offline env, settings sync/trackers off, and weights-only loading first."""
    setup_offline_env()
    import ultralytics  # noqa: F401

    from .safe_load import install_ultralytics_loader

    install_ultralytics_loader()
    from ultralytics.utils import SETTINGS

    off = {k: False for k in ("sync", "hub", "wandb", "mlflow", "comet", "clearml", "dvc", "neptune",
                              "raytune", "tensorboard") if k in SETTINGS}
    # Keep Ultralytics' default folders inside the data dir rather than the cwd/git root.
    base = data_dir() / "ultralytics"
    dirs = {"datasets_dir": str(base / "datasets"), "weights_dir": str(base / "weights"), "runs_dir": str(base / "runs")}
    want = {**off, **{k: v for k, v in dirs.items() if k in SETTINGS}}
    if any(SETTINGS.get(k) != v for k, v in want.items()):
        SETTINGS.update(want)
    return ultralytics
