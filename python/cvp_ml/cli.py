"""`python -m cvp_ml <command>`: JSON lines on stdout, logs on stderr, distinct exit codes."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from .wire import (EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OOM, EXIT_OTHER, Cancelled, CvpError,
                       claim_stdout, emit, log)

def _handle_signal(signum, frame):
    # Raised in the main thread; commands clean up in their own except/finally blocks
    # (tune stops its trial children and re-queues their parameters).
    raise Cancelled(signal.Signals(signum).name)


def classify_exception(e: BaseException) -> tuple[int, str, str]:
    """Map an exception to (exit code, error code, message)."""
    if isinstance(e, CvpError):
        return e.exit_code, e.code, e.message
    if isinstance(e, (Cancelled, KeyboardInterrupt)):
        return EXIT_CANCELLED, "cancelled", f"cancelled by {e or 'signal'}"
    msg = f"{type(e).__name__}: {e}"
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or (
            isinstance(e, RuntimeError) and ("out of memory" in str(e).lower()
                                             or "failed to allocate memory" in str(e).lower())):
        return EXIT_OOM, "out_of_memory", msg[:1000]
    return EXIT_OTHER, "internal", msg[:1000]


def _path(p: str | None) -> Path | None:
    return Path(p) if p else None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cvp_ml", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("preset", help="build a preset from its architecture definition (untrained)")
    s.add_argument("--name", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--imgsz", type=int)
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("convert", help="convert a model to validated ONNX")
    s.add_argument("--format", required=True)
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--input-shape")
    s.add_argument("--task", choices=["detect", "classify"])
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("inspect", help="ONNX metadata")
    s.add_argument("--model", required=True)

    s = sub.add_parser("variant", help="FP16 / INT8 variants with accuracy agreement")
    s.add_argument("--model", required=True)
    s.add_argument("--kind", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--calib-dir")
    s.add_argument("--calib-count", type=int, default=16)
    s.add_argument("--input-shape", help="N,C,H,W to fill symbolic dims")
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("synth-dataset", help="synthetic data set for tests")
    s.add_argument("--kind", required=True, choices=["yolo", "imagefolder"])
    s.add_argument("--out", required=True)
    s.add_argument("--images", type=int, default=16)
    s.add_argument("--classes", type=int, default=2)
    s.add_argument("--imgsz", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--zip", help="also write a zip the gateway's data set upload accepts (yolo only)")

    s = sub.add_parser("train", help="Ultralytics training, offline")
    s.add_argument("--model", required=True, help="preset name (yolov8n, yolov8s), .pt or .yaml")
    s.add_argument("--data", required=True)
    s.add_argument("--task", choices=["detect", "classify"], default="detect")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--imgsz", type=int, default=640)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--device", default="cpu")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--workers", type=int, default=0)
    s.add_argument("--hyp", help="JSON object of Ultralytics hyperparameters (lr0, mosaic, ...)")
    s.add_argument("--no-export", action="store_true", help="skip the final ONNX export")

    s = sub.add_parser("evaluate", help="mAP@0.5 of a detector (.pt, .onnx or an untrained preset) on a labelled split")
    s.add_argument("--model", required=True, help=".pt, .onnx, or yolov8n/yolov8s for the untrained architecture")
    s.add_argument("--data", required=True, help="YOLO data set folder or data.yaml")
    s.add_argument("--imgsz", type=int, required=True)
    s.add_argument("--split", default="val")
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("recipe", help="a training recipe and its cache key")
    s.add_argument("--name", required=True)

    s = sub.add_parser("trained-detector", help="train (or load from cache) a recipe's detector and its data set")
    s.add_argument("--recipe", default="shapes-small")
    s.add_argument("--cache-dir", help="default: $CVP_FIXTURE_CACHE or ~/.cache/cvp/fixtures")
    s.add_argument("--rebuild", action="store_true", help="train again even when cached")

    s = sub.add_parser("tune", help="hyperparameter search coordinator (owns the Optuna study)")
    s.add_argument("--coordinator", action="store_true", help="accepted for clarity; tune is always the coordinator")
    s.add_argument("--study", required=True, help="SQLite file of the study (created or resumed)")
    s.add_argument("--strategy", required=True, choices=["ga", "nsga2", "tpe", "cmaes", "random"])
    s.add_argument("--trials", type=int, required=True)
    s.add_argument("--parallel", type=int, default=1)
    s.add_argument("--model", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--task", choices=["detect", "classify"], default="detect")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--imgsz", type=int, default=640)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--device", default="cpu")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--space", help="JSON search space overriding the defaults")
    s.add_argument("--latency-cmd", help='command printing JSON {"p50_ms":..}; "{onnx}" is replaced by the trial ONNX')
    s.add_argument("--population", type=int, help="population size for ga/nsga2 (default: min(8, max(2, trials/2)))")
    s.add_argument("--trial-timeout", type=float, default=0, help="seconds; 0 = none")
    return p


def dispatch(args) -> dict:
    cmd = args.command
    if cmd == "preset":
        from . import presets
        return presets.run(args.name, Path(args.out), args.imgsz, args.seed)
    if cmd == "convert":
        from . import convert
        return convert.run(args.format, Path(args.input), Path(args.out), convert.parse_shape(args.input_shape),
                           args.task, args.seed)
    if cmd == "inspect":
        from . import onnx_utils
        return {"metadata": onnx_utils.metadata(Path(args.model))}
    if cmd == "variant":
        from . import variants
        from .convert import parse_shape
        return variants.run(Path(args.model), args.kind, Path(args.out), _path(args.calib_dir), args.seed,
                            args.calib_count, parse_shape(args.input_shape))
    if cmd == "synth-dataset":
        from . import synth
        return synth.run(args.kind, Path(args.out), args.images, args.classes, args.imgsz, args.seed, _path(args.zip))
    if cmd == "train":
        from . import train
        hyp = {}
        if args.hyp:
            try:
                hyp = json.loads(args.hyp)
            except json.JSONDecodeError as e:
                raise CvpError("bad_input", f"--hyp is not JSON: {e}") from None
        return train.run(model=args.model, data=args.data, task=args.task, epochs=args.epochs, imgsz=args.imgsz,
                         batch=args.batch, device=args.device, seed=args.seed, out=Path(args.out),
                         workers=args.workers, hyp=hyp, export=not args.no_export)
    if cmd == "evaluate":
        from . import evaluate
        return evaluate.run(args.model, args.data, args.imgsz, args.split, args.batch, args.seed)
    if cmd == "recipe":
        from . import recipes
        return recipes.describe(args.name)
    if cmd == "trained-detector":
        from . import fixtures
        return fixtures.run(args.recipe, _path(args.cache_dir), args.rebuild)
    if cmd == "tune":
        from . import tune
        return tune.run(args)
    raise CvpError("bad_input", f"unknown command {cmd}")


def main(argv=None) -> int:
    claim_stdout()
    signal.signal(signal.SIGTERM, _handle_signal)
    signal.signal(signal.SIGINT, _handle_signal)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code in (0, None):
            return 0
        emit("error", code="bad_input", message="invalid command line (see stderr for usage)")
        return EXIT_BAD_INPUT
    try:
        result = dispatch(args)
        emit("result", command=args.command, **result)
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must end with one error line
        code, err, msg = classify_exception(e)
        if code == EXIT_OTHER:
            traceback.print_exc(file=sys.stderr)
        else:
            log(f"{err}: {msg}")
        extra = e.details if isinstance(e, CvpError) else {}
        emit("error", code=err, message=msg, command=getattr(args, "command", None), **extra)
        return code


if __name__ == "__main__":
    sys.exit(main())
