import numpy as np
import onnxruntime as ort
import pytest


def _check(result, imgsz, out_check):
    assert result["trained"] is False and "random weights" in result["note"]
    assert result["validation"]["checker"] == "ok"
    assert result["comparison"]["cosine_similarity"] > 0.999
    md = result["metadata"]
    assert md["opset"] == 17 and md["parameters"] > 1_000_000 and md["flops"] > 0
    assert md["inputs"][0]["shape"][0] == "batch"
    sess = ort.InferenceSession(result["onnx"], providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((2, 3, imgsz, imgsz), dtype=np.float32)
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert out.shape[0] == 2
    out_check(out)


def test_yolov8n_preset(yolov8n_preset):
    assert yolov8n_preset["source"]["format"] == "ultralytics"
    _check(yolov8n_preset, 64, lambda o: o.shape[1] == 84)
    # the exported graph carries Ultralytics' metadata (task, names, imgsz)
    assert yolov8n_preset["metadata"]["metadata_props"]["task"] == "detect"


@pytest.mark.parametrize("name, imgsz, params", [
    ("efficientnet_b0", 64, 5_288_548),
    ("resnet50", 64, 25_557_032),
])
def test_torchvision_presets(cli, tmp_path, name, imgsz, params):
    r = cli("preset", "--name", name, "--out", tmp_path, "--imgsz", imgsz, check=0).result
    assert r["source"]["format"] == "torchscript"
    # torchvision's published parameter counts; ONNX folds BatchNorm into Conv so it is smaller
    md = r["metadata"]
    assert 0.95 * params < md["parameters"] <= params
    _check(r, imgsz, lambda o: o.shape[1] == 1000)


@pytest.mark.slow
def test_yolov8s_preset(cli, tmp_path):
    r = cli("preset", "--name", "yolov8s", "--out", tmp_path, "--imgsz", 64, check=0).result
    _check(r, 64, lambda o: o.shape[1] == 84)
    assert 10_000_000 < r["metadata"]["parameters"] < 12_000_000


def test_unknown_preset_and_bad_imgsz(cli, tmp_path):
    r = cli("preset", "--name", "vgg16", "--out", tmp_path)
    assert r.rc == 2 and r.final["code"] == "bad_input"
    r = cli("preset", "--name", "yolov8n", "--out", tmp_path, "--imgsz", 50)
    assert r.rc == 2 and "multiple of 32" in r.final["message"]


def test_catalog_comes_from_the_generated_json():
    # presets.json is generated from libs/contracts/src/presets.ts (a jest test keeps it fresh);
    # every entry must name a builder this module has.
    import json
    from pathlib import Path

    from cvp_ml import presets

    doc = json.loads((Path(presets.__file__).with_name("presets.json")).read_text())
    assert presets.PRESETS == doc["presets"]
    assert set(presets.PRESETS) == {"yolov8n", "yolov8s", "resnet50", "efficientnet_b0"}
    assert {p["family"] for p in presets.PRESETS.values()} <= {"ultralytics", "torchvision"}
    assert "random weights" in presets.UNTRAINED_NOTE
