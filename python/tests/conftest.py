"""Shared fixtures: run the real CLI in child processes with outbound network blocked."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PY_ROOT = HERE.parent


@dataclass
class Run:
    rc: int
    lines: list = field(default_factory=list)
    stderr: str = ""

    @property
    def final(self) -> dict:
        return self.lines[-1]

    @property
    def result(self) -> dict:
        assert self.rc == 0, f"exit {self.rc}: {self.final}\n{self.stderr[-3000:]}"
        assert self.final["type"] == "result", self.final
        return self.final

    def progress(self, stage=None):
        return [l for l in self.lines if l["type"] == "progress" and (stage is None or l.get("stage") == stage)]


def parse_wire(stdout: str) -> list[dict]:
    """Every stdout line must be JSON with a type; exactly one final result or error, last."""
    lines = [json.loads(l) for l in stdout.splitlines() if l.strip()]
    assert lines, "no wire-format output"
    assert all(l.get("type") in ("progress", "result", "error") for l in lines), lines
    finals = [l for l in lines if l["type"] in ("result", "error")]
    assert len(finals) == 1 and lines[-1] is finals[0], f"expected one final line, got {finals}"
    return lines


@pytest.fixture(scope="session")
def net_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("net") / "attempts.log"


@pytest.fixture(scope="session")
def base_env(tmp_path_factory, net_log) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "netblock"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CVP_NET_LOG"] = str(net_log)
    env.setdefault("CVP_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    # The suite opens only files it made itself; test_safe_load.py drops this to check the refusal.
    env["CVP_ALLOW_MODEL_CODE"] = "1"
    return env


@pytest.fixture(scope="session")
def cli(base_env):
    def _run(*args, timeout=300, env=None, check=None) -> Run:
        p = subprocess.run([sys.executable, "-m", "cvp_ml", *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, env={**base_env, **(env or {})}, cwd=PY_ROOT)
        r = Run(p.returncode, parse_wire(p.stdout), p.stderr)
        if check is not None:
            assert r.rc == check, f"exit {r.rc} != {check}: {r.final}\n{p.stderr[-3000:]}"
        return r
    return _run


@pytest.fixture(scope="session")
def yolo_data(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("yolo_ds")
    cli("synth-dataset", "--kind", "yolo", "--out", out, "--images", 8, "--classes", 2, "--imgsz", 64, "--seed", 3, check=0)
    return out


@pytest.fixture(scope="session")
def cls_data(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cls_ds")
    cli("synth-dataset", "--kind", "imagefolder", "--out", out, "--images", 8, "--classes", 2, "--imgsz", 32,
        "--seed", 4, check=0)
    return out


@pytest.fixture(scope="session")
def yolov8n_preset(cli, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("preset_yolov8n")
    return cli("preset", "--name", "yolov8n", "--out", out, "--imgsz", 64, check=0).result


@pytest.fixture(scope="session")
def tiny_torchscript(tmp_path_factory) -> Path:
    """A small CNN classifier saved as TorchScript (weights seeded, non-trivial outputs)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10),
    ).eval()
    path = tmp_path_factory.mktemp("ts") / "tiny.torchscript.pt"
    torch.jit.trace(net, torch.zeros(1, 3, 32, 32)).save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(cli, tiny_torchscript, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_onnx")
    cli("convert", "--format", "torchscript", "--input", tiny_torchscript, "--out", out,
        "--input-shape", "1,3,32,32", "--task", "classify", check=0)
    return out / "model.onnx"
