"""The wire format of every command: JSON lines on stdout, and the exit codes.

stdout carries only wire lines; everything else (library prints, tqdm bars, C-level
writes) is redirected to stderr by `claim_stdout()` so the TypeScript side can parse
stdout line by line without filtering.
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any

# Exit codes (documented in README.md; the TypeScript side maps them to job errors).
EXIT_OK = 0
EXIT_OTHER = 1
EXIT_BAD_INPUT = 2
EXIT_OOM = 3
EXIT_CANCELLED = 4


class CvpError(Exception):
    """An expected failure with a stable machine-readable code."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_BAD_INPUT, **details: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.details = details


class Cancelled(BaseException):
    """Raised in the main thread by the SIGTERM/SIGINT handler.

    BaseException so that broad `except Exception` blocks inside libraries do not swallow it.
    """


_out_lock = threading.Lock()
_out_fd: int | None = None


def claim_stdout() -> None:
    """Keep a private handle on the real stdout and point fd 1 at stderr."""
    global _out_fd
    if _out_fd is not None:
        return
    sys.stdout.flush()
    _out_fd = os.dup(1)
    os.dup2(2, 1)
    # Python-level stdout now writes to fd 1 (= stderr) as well.
    sys.stdout = os.fdopen(os.dup(2), "w", buffering=1)


def _clean(obj: Any) -> Any:
    """Make values JSON-safe: NaN/inf -> None, numpy scalars -> python, paths -> str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        try:
            return _clean(obj.item())
        except (ValueError, RuntimeError):
            pass
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    return str(obj)


def emit(_type: str, /, **fields: Any) -> None:
    line = json.dumps(_clean({"type": _type, "ts": round(time.time(), 3), **fields}), separators=(",", ":"))
    data = (line + "\n").encode()
    with _out_lock:
        if _out_fd is None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        else:
            os.write(_out_fd, data)


def progress(stage: str, **fields: Any) -> None:
    emit("progress", stage=stage, **fields)


def log(msg: str) -> None:
    print(f"[cvp_ml] {msg}", file=sys.stderr, flush=True)
