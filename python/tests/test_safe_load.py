"""Model files that run code when opened: weights-only first, code only where CVP_ALLOW_MODEL_CODE=1."""
from __future__ import annotations

import subprocess
import sys

NO_CODE = {"CVP_ALLOW_MODEL_CODE": "0"}


def _malicious_checkpoint(path, marker):
    """An Ultralytics-looking checkpoint whose pickle writes `marker` when it is loaded."""
    payload = "open(%r, 'w').write('ran')" % str(marker)
    script = (
        "import torch\n"
        "class Payload:\n"
        "    def __reduce__(self):\n"
        "        return (exec, (%r, {}))\n"
        "torch.save({'model': Payload(), 'epoch': 1}, %r)\n"
    ) % (payload, str(path))
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_pickle_that_needs_code_is_refused_without_running(cli, tmp_path):
    pt, marker = tmp_path / "evil.pt", tmp_path / "ran.txt"
    _malicious_checkpoint(pt, marker)
    r = cli("convert", "--format", "ultralytics", "--input", pt, "--out", tmp_path / "out", env=NO_CODE)
    assert r.rc == 2 and r.final["code"] == "unsafe_model", r.final
    assert "exec" in r.final["message"] and "CVP_ALLOW_MODEL_CODE" in r.final["message"]
    assert not marker.exists()  # the weights-only loader refused it before anything ran


def test_with_code_allowed_the_full_loader_runs_it(cli, tmp_path):
    # What the sandbox is for: inside it (the platform sets the switch there) the payload does run.
    pt, marker = tmp_path / "evil.pt", tmp_path / "ran.txt"
    _malicious_checkpoint(pt, marker)
    r = cli("convert", "--format", "ultralytics", "--input", pt, "--out", tmp_path / "out",
            env={"CVP_ALLOW_MODEL_CODE": "1"})
    assert r.rc == 2 and r.final["code"] == "invalid_model"
    assert marker.read_text() == "ran"
    assert [p for p in r.progress("load") if p["mode"] == "code"]


def test_a_genuine_checkpoint_opens_weights_only(cli, yolov8n_preset, tmp_path):
    pt = yolov8n_preset["source"]["path"]
    r = cli("convert", "--format", "ultralytics", "--input", pt, "--out", tmp_path, "--input-shape", "1,3,64,64",
            env=NO_CODE, check=0).result
    modes = {entry["mode"] for entry in r["validation"]["source_loading"]}
    assert modes == {"weights_only"}


def test_torchscript_needs_code_loading(cli, tiny_torchscript, tmp_path):
    r = cli("convert", "--format", "torchscript", "--input", tiny_torchscript, "--out", tmp_path, env=NO_CODE)
    assert r.rc == 2 and r.final["code"] == "unsafe_model"
    r = cli("convert", "--format", "torchscript", "--input", tiny_torchscript, "--out", tmp_path,
            "--input-shape", "1,3,32,32", "--task", "classify", check=0)
    assert r.progress("load")[0]["mode"] == "code"
