import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml

from conftest import PY_ROOT, parse_wire


def test_detect_training_offline_with_network_blocked(cli, yolo_data, tmp_path):
    net_log = tmp_path / "net.log"
    t0 = time.time()
    r = cli("train", "--model", "yolov8n", "--data", yolo_data, "--task", "detect", "--epochs", 2, "--imgsz", 64,
            "--batch", 4, "--device", "cpu", "--seed", 0, "--out", tmp_path / "run",
            env={"CVP_NET_LOG": str(net_log)}, timeout=600)
    res = r.result
    assert time.time() - t0 < 600
    # sitecustomize in the child records (and refuses) every connect()/DNS lookup
    assert not net_log.exists() or net_log.read_text() == "", net_log.read_text()
    epochs = r.progress("epoch")
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["epochs"] == 2 for e in epochs)
    for e in epochs:
        assert {"box_loss", "cls_loss", "dfl_loss"} <= set(e["losses"])
        assert "metrics/mAP50-95(B)" in e["metrics"] and e["lr"] and e["eta_s"] >= 0
    assert epochs[-1]["eta_s"] == 0
    assert res["trained"] is True and Path(res["checkpoint"]).exists() and Path(res["last_checkpoint"]).exists()
    assert res["primary_metric"] == "metrics/mAP50-95(B)" and res["accuracy"] is not None
    sess = ort.InferenceSession(res["onnx"], providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((1, 3, 64, 64), np.float32)})[0]
    assert out.shape[:2] == (1, 6)  # 4 box + 2 classes of the synthetic data set
    assert res["validation"]["checker"] == "ok"
    assert res["onnx_metadata"]["metadata_props"]["names"]
    # A checkpoint training writes opens weights-only: tools outside the sandbox (demo, fixtures) need no code loading.
    conv = cli("convert", "--format", "ultralytics", "--input", res["checkpoint"], "--out", tmp_path / "conv",
               "--input-shape", "1,3,64,64", env={"CVP_ALLOW_MODEL_CODE": "0"}, check=0).result
    assert {e["mode"] for e in conv["validation"]["source_loading"]} == {"weights_only"}


def test_classify_training(cli, cls_data, tmp_path):
    r = cli("train", "--model", "yolov8n", "--data", cls_data, "--task", "classify", "--epochs", 1, "--imgsz", 32,
            "--batch", 4, "--out", tmp_path, "--no-export", timeout=600)
    res = r.result
    assert res["primary_metric"] == "metrics/accuracy_top1"
    assert 0.0 <= res["accuracy"] <= 1.0 and res["onnx"] is None
    assert r.progress("epoch")[0]["metrics"]["metrics/accuracy_top1"] is not None


def test_data_errors_exit_2(cli, yolo_data, tmp_path):
    r = cli("train", "--model", "yolov8n", "--data", tmp_path / "missing", "--out", tmp_path / "o")
    assert r.rc == 2 and r.final["code"] == "data_error"
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg = yaml.safe_load((yolo_data / "data.yaml").read_text())
    (bad / "data.yaml").write_text(yaml.safe_dump({**cfg, "download": "https://example.com/x.zip"}))
    r = cli("train", "--model", "yolov8n", "--data", bad, "--out", tmp_path / "o")
    assert r.rc == 2 and "download" in r.final["message"]
    (bad / "data.yaml").write_text(yaml.safe_dump({**cfg, "val": str(tmp_path / "nowhere")}))
    r = cli("train", "--model", "yolov8n", "--data", bad, "--out", tmp_path / "o")
    # bad/data.yaml reuses another folder's absolute split paths: refused before anything is read
    assert r.rc == 2 and "outside the data set folder" in r.final["message"]
    (bad / "data.yaml").write_text(": not yaml : [")
    r = cli("train", "--model", "yolov8n", "--data", bad, "--out", tmp_path / "o")
    assert r.rc == 2
    r = cli("train", "--model", "yolov8n", "--data", yolo_data, "--task", "classify", "--out", tmp_path / "o")
    assert r.rc == 2  # a detection data set is not a classification one
    r = cli("train", "--model", "nosuch.pt", "--data", yolo_data, "--out", tmp_path / "o")
    assert r.rc == 2 and r.final["code"] == "bad_input"


def test_sigterm_cancels_with_exit_4(base_env, yolo_data, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "cvp_ml", "train", "--model", "yolov8n", "--data", str(yolo_data),
                          "--epochs", "50", "--imgsz", "32", "--batch", "4", "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=base_env, cwd=PY_ROOT)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if json.loads(line).get("stage") == "epoch":
            break
    t = time.time()
    p.send_signal(signal.SIGTERM)
    rest, _ = p.communicate(timeout=120)
    assert p.returncode == 4
    assert time.time() - t < 120
    msgs = parse_wire("".join(lines) + rest)
    assert msgs[-1]["type"] == "error" and msgs[-1]["code"] == "cancelled"
    assert len([m for m in msgs if m.get("stage") == "epoch"]) < 50
