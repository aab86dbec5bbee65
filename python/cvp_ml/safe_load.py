"""Opening model files that may carry code: weights only first, code only inside the sandbox.

Ultralytics and PyTorch `.pt` files are pickles, and unpickling can run any code the file names.
Every Ultralytics load goes through Ultralytics' own restricted loader first
(`torch.load(weights_only=True)` against its allow-list of model classes). Only when a file needs
more than that (a pickle naming other objects, or a TorchScript archive) is it opened with the full
loader, and only when CVP_ALLOW_MODEL_CODE=1: the platform sets it inside its sandbox and nowhere
else (tools opening files they made themselves, such as the test suite, may set it too). Without it
such a file is refused with `unsafe_model`.
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from .wire import CvpError, progress

ALLOW_ENV = "CVP_ALLOW_MODEL_CODE"

# How the last model file was opened, reported with command results.
_loads: list[dict[str, Any]] = []


def code_allowed() -> bool:
    return os.environ.get(ALLOW_ENV) == "1"


def loads() -> list[dict[str, Any]]:
    """Every checkpoint opened by this process so far: file name and how (weights_only or code)."""
    return list(_loads)


def _record(weight, mode: str, reason: str | None = None) -> None:
    entry = {"file": Path(str(weight)).name, "mode": mode}
    if reason:
        entry["reason"] = reason
    _loads.append(entry)
    progress("load", **entry)


def require_code_loading(what: str, weight) -> None:
    """Refuses to open a file whose loading runs its code, unless this process is in the sandbox."""
    if code_allowed():
        _record(weight, "code", f"{what} cannot be opened weights-only")
        return
    raise CvpError("unsafe_model", f"{Path(str(weight)).name}: {what} runs code when opened; the platform opens such "
                                   f"files only inside its sandbox ({ALLOW_ENV} is not set here)")


def _refused_global(e: BaseException) -> str | None:
    cause = e.__cause__ or e.__context__
    if not isinstance(cause, pickle.UnpicklingError):
        return None
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(cause))
    return m.group(1) if m else "an object outside the allow-list"


def install_ultralytics_loader() -> None:
    """Routes every Ultralytics checkpoint load through the weights-only loader first (idempotent)."""
    import ultralytics.nn.tasks as tasks

    if getattr(tasks.torch_safe_load, "_cvp_safe_first", False):
        return
    full = tasks.torch_safe_load

    def safe_first(weight, safe_only=None):
        try:
            ckpt, file = full(weight, safe_only=True)
        except TypeError as e:
            refused = _refused_global(e)
            if refused is None:
                raise  # damaged or not a checkpoint: Ultralytics' own message
            if not code_allowed():
                raise CvpError("unsafe_model",
                               f"{Path(str(weight)).name} needs code to load: its pickle references {refused}, which "
                               "the weights-only loader refuses; the platform opens such files only inside its "
                               f"sandbox ({ALLOW_ENV} is not set here)") from None
            _record(weight, "code", f"pickle references {refused}")
            return full(weight, safe_only=False)
        _record(weight, "weights_only")
        return ckpt, file

    safe_first._cvp_safe_first = True  # type: ignore[attr-defined]
    tasks.torch_safe_load = safe_first
