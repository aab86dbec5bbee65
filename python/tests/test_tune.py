import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PY_ROOT, parse_wire

TINY = ["--model", "yolov8n", "--task", "detect", "--epochs", "1", "--imgsz", "32", "--batch", "4"]
SMALL_SPACE = json.dumps({"lr0": {"low": 1e-4, "high": 1e-2, "log": True}, "momentum": [0.7, 0.98],
                          "fliplr": [0.0, 1.0], "mosaic": [0.0, 1.0], "close_mosaic": {"low": 0, "high": 2, "int": True}})


def max_concurrency(records):
    events = []
    for r in records:
        events += [(r["start_ts"], 1), (r["end_ts"], -1)]
    cur = peak = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        cur += d
        peak = max(peak, cur)
    return peak


@pytest.mark.parametrize("strategy, trials", [("ga", 4), ("tpe", 2), ("cmaes", 2), ("random", 2)])
def test_single_objective_strategies(cli, yolo_data, tmp_path, strategy, trials):
    wrap_log = tmp_path / "wrapper.log"
    wrapper = tmp_path / "wrap.sh"
    # the lease hook: a prefix command that must see each trial's command and run it
    wrapper.write_text('#!/bin/sh\necho "trial=$CVP_TRIAL_NUMBER $*" >> "$WRAP_LOG"\nexec "$@"\n')
    wrapper.chmod(0o755)
    tdir = tmp_path / "t"
    tdir.mkdir()
    r = cli("tune", "--study", tdir / "study.db", "--strategy", strategy, "--trials", trials, "--parallel", 2,
            "--data", yolo_data, "--out", tdir / "out", "--seed", 1, *TINY,
            *(("--space", SMALL_SPACE) if strategy != "ga" else ()),
            env={"CVP_TRIAL_WRAPPER": str(wrapper), "WRAP_LOG": str(wrap_log)}, timeout=900)
    res = r.result
    recs = res["trials"]
    assert res["completed"] == trials and len(recs) == trials, recs
    for rec in recs:
        assert rec["status"] == "complete" and rec["params"] and rec["duration_s"] > 0
        assert rec["started_at"] < rec["finished_at"] and "metrics/mAP50-95(B)" in rec["metrics"]
    # two at a time, never three
    assert max_concurrency(recs) == 2
    assert res["best"]["number"] in {rec["number"] for rec in recs}
    assert len(r.progress("trial")) == trials and len(r.progress("trial_start")) == trials
    assert r.progress("trial_epoch"), "per-epoch progress of trials is relayed"
    calls = wrap_log.read_text().splitlines()
    assert sorted(int(c.split()[0].split("=")[1]) for c in calls) == list(range(trials))
    assert all(" -m cvp_ml train " in c for c in calls)
    if strategy != "ga":
        assert set(recs[0]["params"]) == {"lr0", "momentum", "fliplr", "mosaic", "close_mosaic"}
    else:
        # default space = Ultralytics' ranges. With population 2, the 4th trial is asked after two
        # trials finished, so it belongs to generation >= 1: an offspring whose genes come from the
        # finished generation-0 trials (tournament + crossover) except for a few mutated ones.
        assert len(recs[0]["params"]) >= 20
        gen0 = [t for t in recs if t["generation"] == 0]
        children = [t for t in recs if t["generation"] >= 1]
        assert children and len(gen0) >= 2, [(t["number"], t["generation"]) for t in recs]
        for child in children:
            earlier = [t["params"] for t in gen0 if t["end_ts"] <= child["start_ts"]]
            assert len(earlier) >= 2
            inherited = sum(1 for k, v in child["params"].items() if any(p[k] == v for p in earlier))
            assert inherited >= len(child["params"]) - 4, (inherited, child)


def test_nsga2_accuracy_vs_latency_with_external_command(cli, yolo_data, tmp_path):
    lat = tmp_path / "lat.py"
    # stands in for bench's measurement command: latency derived from the model file
    lat.write_text("import json, os, sys\nprint('warming up')\n"
                   "print(json.dumps({'p50_ms': os.path.getsize(sys.argv[1]) / 1e6, 'engine': 'fake'}))\n")
    r = cli("tune", "--study", tmp_path / "s.db", "--strategy", "nsga2", "--trials", 2, "--parallel", 2,
            "--data", yolo_data, "--out", tmp_path / "out", "--seed", 2, *TINY, "--space", SMALL_SPACE,
            "--latency-cmd", f"{sys.executable} {lat} {{onnx}}", timeout=900)
    res = r.result
    assert res["directions"] == ["maximize", "minimize"]
    for rec in res["trials"]:
        assert rec["status"] == "complete" and rec["latency_source"] == "latency-cmd"
        assert rec["latency_ms"] == pytest.approx(os.path.getsize(rec["onnx"]) / 1e6)
    front = res["pareto_front"]
    assert 1 <= len(front) <= 2 and all("latency_ms" in p and "accuracy" in p for p in front)
    assert max_concurrency(res["trials"]) == 2


def test_latency_fallback_measures_with_onnxruntime(yolov8n_preset):
    from cvp_ml.tune import measure_latency

    m = measure_latency(yolov8n_preset["onnx"], 64, None)
    assert m["p50_ms"] > 0 and "fallback" in m["source"]


def test_kill_and_resume_skips_finished_trials(base_env, yolo_data, tmp_path):
    args = [sys.executable, "-m", "cvp_ml", "tune", "--study", str(tmp_path / "s.db"), "--strategy", "tpe",
            "--trials", "3", "--parallel", "2", "--data", str(yolo_data), "--out", str(tmp_path / "out"),
            "--seed", "3", *TINY, "--space", SMALL_SPACE]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=base_env, cwd=PY_ROOT)
    done = []
    for line in p.stdout:
        msg = json.loads(line)
        if msg.get("stage") == "trial":
            done.append(msg)
        if msg.get("stage") == "trial_start" and done:
            break  # a trial finished and the next one is running: kill the coordinator now
    p.kill()  # SIGKILL: no cleanup in the coordinator; children die through PDEATHSIG
    p.wait(30)
    assert done and all(d["status"] == "complete" for d in done)
    time.sleep(1)
    r = subprocess.run(args, capture_output=True, text=True, env=base_env, cwd=PY_ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    msgs = parse_wire(r.stdout)
    res = msgs[-1]
    assert res["finished_before_start"] == len(done)
    started = [m["trial"] for m in msgs if m.get("stage") == "trial_start"]
    assert not {d["number"] for d in done} & set(started)  # finished trials were not run again
    assert len(started) == 3 - len(done)
    by_num = {t["number"]: t for t in res["trials"]}
    for d in done:
        assert by_num[d["number"]]["started_at"] == d["started_at"]  # records kept as they were
    assert [t["status"] for t in res["trials"]].count("complete") == 3
    interrupted = [t for t in res["trials"] if t["status"] == "interrupted"]
    assert 1 <= len(interrupted) <= 2
    for it in interrupted:  # re-queued with the same parameters
        retried = [t for t in res["trials"] if t.get("retry_of") == it["number"]]
        assert len(retried) == 1 and retried[0]["params"] == it["params"]
    # rerunning a finished study runs nothing
    again = subprocess.run(args, capture_output=True, text=True, env=base_env, cwd=PY_ROOT, timeout=300)
    msgs = parse_wire(again.stdout)
    assert not [m for m in msgs if m.get("stage") == "trial_start"] and msgs[-1]["completed"] == 3


def test_tune_input_errors(cli, yolo_data, tmp_path):
    r = cli("tune", "--study", tmp_path / "s.db", "--strategy", "tpe", "--trials", 1, "--data", yolo_data,
            "--out", tmp_path, *TINY, "--space", json.dumps({"data": [0, 1]}))
    assert r.rc == 2 and "not a tunable" in r.final["message"]
    r = cli("tune", "--study", tmp_path / "s.db", "--strategy", "tpe", "--trials", 1, "--data", tmp_path / "none",
            "--out", tmp_path, *TINY)
    assert r.rc == 2 and r.final["code"] == "data_error"


def test_failed_trials_are_recorded_not_fatal(cli, yolo_data, tmp_path):
    # a wrapper that refuses to run the trial (e.g. no lease): each trial fails without a result
    r = cli("tune", "--study", tmp_path / "s.db", "--strategy", "random", "--trials", 2, "--parallel", 2,
            "--data", yolo_data, "--out", tmp_path / "out", *TINY, env={"CVP_TRIAL_WRAPPER": "false"})
    res = r.result
    assert res["completed"] == 0 and res["failed"] == 2 and res["best"] is None
    assert all(t["status"] == "failed" and t["exit_code"] == 1 and "without a result" in t["error"]
               for t in res["trials"])


def test_trial_without_a_metric_is_failed_with_its_reason_not_scored_zero(cli, yolo_data, tmp_path):
    # Stand-in trials through the wrapper hook: each "training" ends with a result line whose
    # primary metric is missing (null, as NaN is written) or absent. The coordinator is real.
    stub = tmp_path / "no_metric.sh"
    stub.write_text(
        "#!/bin/sh\n"
        "if [ \"$CVP_TRIAL_NUMBER\" = 0 ]; then acc=null; else acc='\"n/a\"'; fi\n"
        "printf '%s\\n' \"{\\\"type\\\":\\\"result\\\",\\\"command\\\":\\\"train\\\",\\\"accuracy\\\":$acc,"
        "\\\"primary_metric\\\":\\\"metrics/mAP50-95(B)\\\",\\\"metrics\\\":{\\\"metrics/mAP50-95(B)\\\":null,"
        "\\\"metrics/precision(B)\\\":0.5},\\\"checkpoint\\\":null}\"\n")
    stub.chmod(0o755)
    r = cli("tune", "--study", tmp_path / "s.db", "--strategy", "tpe", "--trials", 2, "--parallel", 1,
            "--data", yolo_data, "--out", tmp_path / "out", *TINY, env={"CVP_TRIAL_WRAPPER": str(stub)})
    res = r.result
    assert res["completed"] == 0 and res["failed"] == 2 and res["best"] is None
    for t in res["trials"]:
        assert t["status"] == "failed" and t["error_code"] == "no_metric", t
        assert "accuracy" not in t and t["exit_code"] == 0
        assert "metrics/mAP50-95(B)" in t["error"] and "metrics/precision(B)" in t["error"]
    # the study agrees: nothing was told a value
    import optuna

    study = optuna.load_study(study_name="cvp-tune", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"] and all(t.values is None for t in study.trials)
