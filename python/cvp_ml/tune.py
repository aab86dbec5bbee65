"""tune: a coordinator that owns an Optuna study and runs trials as `cvp_ml train` children.

One process asks and tells (SQLite in WAL would still lock with several writers); workers only
train. At most --parallel children run at once (the TypeScript side passes the GPU tokens it
holds). CVP_TRIAL_WRAPPER, when set, is a command prefix for every trial (e.g. a lease holder);
CVP_TRIAL_SANDBOX, when set, a second one (the platform's sandbox launcher, "{trial_dir}" replaced).
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .wire import Cancelled, CvpError, log, progress

STUDY_NAME = "cvp-tune"

# Ultralytics' own tuner ranges (ultralytics/engine/tuner.py, 8.4.x); lr0 searched on a log scale.
DETECT_SPACE: dict[str, dict[str, Any]] = {
    "lr0": {"low": 1e-5, "high": 1e-1, "log": True},
    "lrf": {"low": 0.01, "high": 1.0},
    "momentum": {"low": 0.7, "high": 0.98},
    "weight_decay": {"low": 0.0, "high": 0.001},
    "warmup_epochs": {"low": 0.0, "high": 5.0},
    "warmup_momentum": {"low": 0.0, "high": 0.95},
    "box": {"low": 1.0, "high": 20.0},
    "cls": {"low": 0.1, "high": 4.0},
    "dfl": {"low": 0.4, "high": 12.0},
    "hsv_h": {"low": 0.0, "high": 0.1},
    "hsv_s": {"low": 0.0, "high": 0.9},
    "hsv_v": {"low": 0.0, "high": 0.9},
    "degrees": {"low": 0.0, "high": 45.0},
    "translate": {"low": 0.0, "high": 0.9},
    "scale": {"low": 0.0, "high": 0.95},
    "shear": {"low": 0.0, "high": 10.0},
    "perspective": {"low": 0.0, "high": 0.001},
    "flipud": {"low": 0.0, "high": 1.0},
    "fliplr": {"low": 0.0, "high": 1.0},
    "bgr": {"low": 0.0, "high": 1.0},
    "mosaic": {"low": 0.0, "high": 1.0},
    "mixup": {"low": 0.0, "high": 1.0},
    "close_mosaic": {"low": 0, "high": 10, "int": True},
}
# Classification training ignores the detection losses and mosaic-style augmentation.
CLASSIFY_KEYS = ("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum",
                 "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "fliplr")


def default_space(task: str) -> dict[str, dict[str, Any]]:
    if task == "classify":
        return {k: DETECT_SPACE[k] for k in CLASSIFY_KEYS}
    return dict(DETECT_SPACE)


def build_distributions(space: dict[str, Any]):
    """Space JSON -> Optuna distributions. Accepts [low, high], {low, high, log?, int?, step?}
    or {choices: [...]}."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from .train import HYP_KEYS

    dists = {}
    for name, spec in space.items():
        if name not in HYP_KEYS:
            raise CvpError("bad_input", f"search space key {name!r} is not a tunable hyperparameter")
        if isinstance(spec, (list, tuple)) and len(spec) in (2, 3) and all(isinstance(v, (int, float)) for v in spec):
            spec = {"low": spec[0], "high": spec[1]}
        if not isinstance(spec, dict):
            raise CvpError("bad_input", f"search space entry {name!r} must be [low, high] or an object")
        if "choices" in spec:
            if not spec["choices"]:
                raise CvpError("bad_input", f"search space entry {name!r} has no choices")
            dists[name] = CategoricalDistribution(list(spec["choices"]))
            continue
        try:
            low, high = spec["low"], spec["high"]
            if spec.get("int"):
                dists[name] = IntDistribution(int(low), int(high), log=bool(spec.get("log")))
            else:
                dists[name] = FloatDistribution(float(low), float(high), log=bool(spec.get("log")),
                                                step=spec.get("step"))
        except (KeyError, ValueError, TypeError) as e:
            raise CvpError("bad_input", f"search space entry {name!r} invalid: {e}") from None
    if not dists:
        raise CvpError("bad_input", "search space is empty")
    return dists


def make_sampler(strategy: str, seed: int, population: int):
    import optuna

    if strategy == "ga":
        # Genetic algorithm = NSGA-II with one objective: binary tournament parent selection,
        # uniform crossover (prob 0.9), polynomial mutation (prob 1/n_params) and elitist survival
        # of the best `population` among parents + offspring.
        from optuna.samplers.nsgaii import PolynomialMutation, UniformCrossover
        return optuna.samplers.NSGAIISampler(population_size=population, crossover=UniformCrossover(0.5),
                                             crossover_prob=0.9, mutation=PolynomialMutation(), seed=seed)
    if strategy == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(1, population)))
    if strategy == "cmaes":
        # categorical params fall back to independent sampling; warn_independent off to keep logs short
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=1, warn_independent_sampling=False)
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise CvpError("bad_input", f"unknown strategy {strategy!r}")


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def _pdeathsig():
    """Child dies with SIGTERM if the coordinator dies (even by SIGKILL): no orphan trainings."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def measure_latency(onnx_path: str, imgsz: int, latency_cmd: str | None) -> dict[str, Any]:
    if latency_cmd:
        tokens = shlex.split(latency_cmd)
        if any("{onnx}" in t for t in tokens):
            tokens = [t.replace("{onnx}", onnx_path) for t in tokens]
        else:
            tokens.append(onnx_path)
        r = subprocess.run(tokens, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"latency command exited {r.returncode}: {r.stderr.strip()[-300:]}")
        for line in reversed(r.stdout.strip().splitlines()):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("p50_ms"), (int, float)):
                return {"p50_ms": float(obj["p50_ms"]), "source": "latency-cmd", "raw": obj}
        raise RuntimeError("latency command printed no JSON with p50_ms")
    import numpy as np

    from . import onnx_utils as ou

    sess = ou.session(onnx_path, threads=1)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).random([1, 3, imgsz, imgsz], dtype=np.float32)
    for _ in range(3):
        sess.run(None, {inp.name: x})
    times = []
    for _ in range(20):
        t = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": float(np.median(times)), "source": "onnxruntime-python fallback (no --latency-cmd given; "
            "CPU EP, 1 thread, batch 1, 20 iterations)"}


class _Trial:
    def __init__(self, trial, cmd: list[str], out: Path):
        self.trial = trial
        self.number = trial.number
        self.out = out
        self.start = time.time()
        self.result: dict | None = None
        self.error: dict | None = None
        self.log_path = out / "train.log"
        out.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        env = {**os.environ, "CVP_TRIAL_NUMBER": str(trial.number)}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                     env=env, preexec_fn=_pdeathsig, text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue  # a wrapper may print its own lines
            t = msg.get("type")
            if t == "result":
                self.result = msg
            elif t == "error":
                self.error = msg
            elif t == "progress" and msg.get("stage") == "epoch":
                progress("trial_epoch", trial=self.number, epoch=msg.get("epoch"), epochs=msg.get("epochs"),
                         losses=msg.get("losses"), metrics=msg.get("metrics"), eta_s=msg.get("eta_s"))

    def done(self) -> bool:
        return self.proc.poll() is not None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        self._log.close()


def _record(study, number: int) -> dict | None:
    t = study.get_trials(deepcopy=False)[number]
    return t.user_attrs.get("record")


def run(args) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.trials < 1 or args.parallel < 1:
        raise CvpError("bad_input", "--trials and --parallel must be >= 1")
    from .train import check_data

    check_data(args.data, args.task)  # fail fast with exit 2 instead of N failed trials
    space = default_space(args.task)
    if args.space:
        try:
            space = json.loads(args.space)
        except json.JSONDecodeError as e:
            raise CvpError("bad_input", f"--space is not JSON: {e}") from None
        if not isinstance(space, dict):
            raise CvpError("bad_input", "--space must be a JSON object")
    dists = build_distributions(space)
    multi = args.strategy == "nsga2"
    directions = ["maximize", "minimize"] if multi else ["maximize"]
    population = args.population or min(8, max(2, args.trials // 2))
    study_path = Path(args.study).resolve()
    study_path.parent.mkdir(parents=True, exist_ok=True)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{study_path}", engine_kwargs={"connect_args": {"timeout": 60}})
    sampler = make_sampler(args.strategy, args.seed, population)
    existed = bool(optuna.study.get_all_study_names(storage)) if study_path.exists() else False
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True,
                                directions=directions, sampler=sampler)
    config = {"strategy": args.strategy, "task": args.task, "directions": directions}
    prev = study.user_attrs.get("config")
    if prev and (prev["strategy"], prev["directions"]) != (config["strategy"], config["directions"]):
        raise CvpError("bad_input", f"study {str(study_path)!r} was created with strategy {prev['strategy']}; "
                       f"use a new study file for {args.strategy}")
    if not prev:
        study.set_user_attr("config", config)

    TS = optuna.trial.TrialState
    # A coordinator killed mid-study leaves RUNNING trials behind: mark them interrupted and
    # queue their parameters again, so finished trials are skipped and unfinished ones rerun.
    for t in study.get_trials(deepcopy=False, states=(TS.RUNNING,)):
        _interrupt(study, t.number, t.params, t.user_attrs.get("record"), "coordinator stopped before the trial finished")

    def finished() -> list:
        return [t for t in study.get_trials(deepcopy=False, states=(TS.COMPLETE, TS.FAIL))
                if not t.user_attrs.get("interrupted")]

    skipped = len(finished())
    progress("tune_start", strategy=args.strategy, trials=args.trials, parallel=args.parallel, study=str(study_path),
             resumed=existed, finished_before=skipped, population=population, space=space)
    wrapper = shlex.split(os.environ.get("CVP_TRIAL_WRAPPER", ""))
    # The platform's sandbox launcher for trials; "{trial_dir}" names the trial's own (only writable) folder.
    sandbox = shlex.split(os.environ.get("CVP_TRIAL_SANDBOX", ""))
    running: dict[int, _Trial] = {}
    try:
        while True:
            while len(running) < args.parallel and len(finished()) + len(running) < args.trials:
                trial = study.ask(dists)
                hyp = dict(trial.params)
                tdir = out / f"trial_{trial.number:04d}"
                cmd = wrapper + [t.replace("{trial_dir}", str(tdir)) for t in sandbox] + [
                    sys.executable, "-m", "cvp_ml", "train", "--model", args.model, "--data", args.data,
                    "--task", args.task, "--epochs", str(args.epochs), "--imgsz", str(args.imgsz),
                    "--batch", str(args.batch), "--device", args.device, "--seed", str(args.seed),
                    "--out", str(tdir), "--hyp", json.dumps(hyp)]
                if not multi:
                    cmd.append("--no-export")  # latency is only needed for nsga2
                running[trial.number] = _Trial(trial, cmd, tdir)
                progress("trial_start", trial=trial.number, params=hyp, started_at=_iso(running[trial.number].start),
                         running=len(running))
            if not running:
                break
            time.sleep(0.2)
            for num in [n for n, r in running.items() if r.done()
                        or (args.trial_timeout and time.time() - r.start > args.trial_timeout)]:
                r = running.pop(num)
                timed_out = not r.done()
                r.stop()
                _finish(study, r, args, multi, timed_out)
    except BaseException:
        # Cancelled (SIGTERM) or a crash: stop children, leave their trials queued for a resume.
        for num, r in list(running.items()):
            r.stop()
            _interrupt(study, num, r.trial.params, None, "coordinator cancelled")
        raise
    return _summary(study, args, multi, study_path, skipped, population)


def _interrupt(study, number: int, params: dict, record: dict | None, why: str) -> None:
    import optuna

    study._storage.set_trial_user_attr(study._storage.get_trial_id_from_study_id_trial_number(
        study._study_id, number), "interrupted", True)
    rec = dict(record or {"number": number, "params": params})
    rec.update({"status": "interrupted", "error": why})
    study._storage.set_trial_user_attr(study._storage.get_trial_id_from_study_id_trial_number(
        study._study_id, number), "record", rec)
    try:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    except Exception:
        pass
    study.enqueue_trial(params, user_attrs={"retry_of": number}, skip_if_exists=False)
    progress("trial_interrupted", trial=number, params=params, requeued=True)


def _finite(v) -> float | None:
    """A metric as a float, or None when it is missing, not a number, NaN or infinite."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _finish(study, r: _Trial, args, multi: bool, timed_out: bool) -> None:
    import optuna

    end = time.time()
    rec: dict[str, Any] = {"number": r.number, "params": dict(r.trial.params), "started_at": _iso(r.start),
                           "finished_at": _iso(end), "start_ts": r.start, "end_ts": end,
                           "duration_s": round(end - r.start, 3), "exit_code": r.proc.returncode,
                           "log": str(r.log_path), "retry_of": r.trial.user_attrs.get("retry_of")}
    values = None
    if timed_out:
        rec.update(status="failed", error=f"trial exceeded --trial-timeout {args.trial_timeout}s")
    elif r.result is None:
        err = r.error or {}
        rec.update(status="failed", error=err.get("message") or f"trial exited {r.proc.returncode} without a result",
                   error_code=err.get("code"))
    elif _finite(r.result.get("accuracy")) is None:
        # Scoring it 0.0 would rank it as a real (bad) configuration and steer the sampler away
        # from parameters that were never measured; it is a failed trial with its reason.
        res = r.result
        metric = res.get("primary_metric") or "its primary metric"
        present = sorted(k for k, v in (res.get("metrics") or {}).items() if _finite(v) is not None)
        rec.update(status="failed", error_code="no_metric", metrics=res.get("metrics"),
                   checkpoint=res.get("checkpoint"), onnx=res.get("onnx"),
                   error=f"training finished without a value for {metric} (got {res.get('accuracy')!r}; "
                         f"finite metrics: {present or 'none'}); not scored")
    else:
        res = r.result
        acc = _finite(res["accuracy"])
        rec.update(status="complete", metrics=res.get("metrics"), accuracy=acc, fitness=res.get("fitness"),
                   checkpoint=res.get("checkpoint"), onnx=res.get("onnx"))
        values = [acc]
        if multi:
            try:
                lat = measure_latency(res["onnx"], args.imgsz, args.latency_cmd)
                rec.update(latency_ms=lat["p50_ms"], latency_source=lat["source"])
                values = [acc, lat["p50_ms"]]
            except Exception as e:
                rec.update(status="failed", error=f"latency measurement failed: {e}")
                values = None
    tid = r.trial._trial_id
    # GA/NSGA-II generation (Optuna keeps it as "<Sampler>:generation"), shown in the history
    sa = study._storage.get_trial_system_attrs(tid)
    gen = next((v for k, v in sa.items() if k.endswith(":generation")), None)
    if gen is not None:
        rec["generation"] = gen
    study._storage.set_trial_user_attr(tid, "record", rec)
    if values is None:
        study.tell(r.number, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(r.number, values)
    progress("trial", **rec)


def _summary(study, args, multi: bool, study_path: Path, skipped: int, population: int) -> dict[str, Any]:
    import optuna

    TS = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    records = []
    for t in trials:
        rec = t.user_attrs.get("record") or {"number": t.number, "params": t.params, "status": t.state.name.lower()}
        records.append(rec)
    complete = [t for t in trials if t.state == TS.COMPLETE]
    result: dict[str, Any] = {
        "study": str(study_path), "study_name": STUDY_NAME, "strategy": args.strategy,
        "directions": ["maximize", "minimize"] if multi else ["maximize"],
        "objectives": ["accuracy", "latency_p50_ms"] if multi else ["accuracy"],
        "trials_requested": args.trials, "completed": len(complete),
        "failed": sum(1 for r in records if r.get("status") == "failed"),
        "finished_before_start": skipped, "parallel": args.parallel, "population": population,
        "trials": records, "best": None,
    }
    if complete:
        if multi:
            front = study.best_trials
            result["pareto_front"] = [{"number": t.number, "params": t.params, "accuracy": t.values[0],
                                       "latency_ms": t.values[1]} for t in sorted(front, key=lambda t: t.values[1])]
            best = max(front, key=lambda t: (t.values[0], -t.values[1], -t.number))
            result["best"] = {"number": best.number, "params": best.params, "accuracy": best.values[0],
                              "latency_ms": best.values[1], "rule": "highest accuracy on the Pareto front"}
        else:
            best = study.best_trial
            result["best"] = {"number": best.number, "params": best.params, "accuracy": best.value}
    elif multi:
        result["pareto_front"] = []
    return result
