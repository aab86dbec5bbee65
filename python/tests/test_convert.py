import shutil
import subprocess
import sys
import zipfile

import numpy as np
import onnxruntime as ort
import pytest

from cvp_ml.convert import tf_available


def _loads_with_batch(onnx_path, shape):
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    return sess.run(None, {sess.get_inputs()[0].name: x})


def test_torchscript_to_onnx(cli, tiny_torchscript, tmp_path):
    r = cli("convert", "--format", "torchscript", "--input", tiny_torchscript, "--out", tmp_path,
            "--input-shape", "1,3,32,32", "--task", "classify", check=0).result
    assert r["validation"]["checker"] == "ok" and r["validation"]["shape_inference"] == "ok"
    cmp = r["comparison"]
    assert cmp["max_abs_diff"] < 1e-4 and cmp["cosine_similarity"] > 0.9999 and cmp["top1_agreement"] == 1.0
    md = r["metadata"]
    assert md["opset"] == 17 and md["inputs"][0]["shape"][0] == "batch"
    assert md["parameters"] == 3 * 8 * 9 + 8 + 8 * 16 * 9 + 16 + 16 * 10 + 10
    out = _loads_with_batch(r["onnx"], (2, 3, 32, 32))  # dynamic batch axis works
    assert out[0].shape == (2, 10)


def test_onnx_passthrough(cli, tiny_onnx, tmp_path):
    r = cli("convert", "--format", "onnx", "--input", tiny_onnx, "--out", tmp_path, check=0).result
    assert "skipped" in r["comparison"]
    assert r["metadata"]["sha256"] == r["source"]["sha256"]


def test_ultralytics_checkpoint_to_onnx(cli, yolov8n_preset, tmp_path):
    pt = yolov8n_preset["source"]["path"]
    r = cli("convert", "--format", "ultralytics", "--input", pt, "--out", tmp_path, "--input-shape", "1,3,64,64",
            check=0).result
    assert r["task"] == "detect"
    assert r["comparison"]["max_abs_diff"] < 1e-2 and r["comparison"]["cosine_similarity"] > 0.999
    assert r["metadata"]["outputs"][0]["shape"][1] == 84  # 4 box + 80 classes
    assert _loads_with_batch(r["onnx"], (2, 3, 64, 64))[0].shape[0] == 2


def test_bad_sources_are_exit_2(cli, tmp_path, tiny_onnx):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    r = cli("convert", "--format", "torchscript", "--input", junk, "--out", tmp_path / "a")
    assert r.rc == 2 and r.final["code"] == "invalid_model"
    r = cli("convert", "--format", "ultralytics", "--input", junk, "--out", tmp_path / "b")
    assert r.rc == 2 and r.final["code"] == "invalid_model"
    r = cli("convert", "--format", "keras", "--input", junk, "--out", tmp_path / "c")
    assert r.rc == 2
    r = cli("convert", "--format", "torchscript", "--input", junk, "--out", tmp_path / "d", "--input-shape", "1,3,x")
    assert r.rc == 2 and r.final["code"] == "bad_input"
    r = cli("convert", "--format", "onnx", "--input", tmp_path / "nope.onnx", "--out", tmp_path / "e")
    assert r.rc == 2 and r.final["code"] == "not_found"


def test_torchscript_wrong_input_shape(cli, tiny_torchscript, tmp_path):
    r = cli("convert", "--format", "torchscript", "--input", tiny_torchscript, "--out", tmp_path,
            "--input-shape", "1,5,32,32")  # model expects 3 channels
    assert r.rc == 2 and r.final["code"] == "bad_input"
    assert not (tmp_path / "model.onnx").exists()


def test_savedmodel_zip_slip_refused(cli, tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    r = cli("convert", "--format", "tensorflow-savedmodel", "--input", z, "--out", tmp_path / "o")
    assert r.rc == 2 and r.final["code"] == "bad_input"
    assert not (tmp_path.parent / "evil.txt").exists()
    # a zip without saved_model.pb is refused before TensorFlow is even needed
    z2 = tmp_path / "empty.zip"
    with zipfile.ZipFile(z2, "w") as zf:
        zf.writestr("readme.txt", "x")
    r = cli("convert", "--format", "tensorflow-savedmodel", "--input", z2, "--out", tmp_path / "o2")
    assert r.rc == 2 and "saved_model.pb" in r.final["message"]
    assert not list((tmp_path / "o2").glob("cvp-tf-*"))  # temp extraction removed


TF_OK, TF_WHY = tf_available()


@pytest.mark.skipif(not TF_OK, reason=f"tensorflow/tf2onnx not importable: {TF_WHY}")
def test_tensorflow_savedmodel_zip_to_onnx(cli, tmp_path):
    sm = tmp_path / "sm"
    script = (
        "import sys, tensorflow as tf\n"
        "class M(tf.Module):\n"
        "    def __init__(self):\n"
        "        self.w = tf.Variable(tf.random.stateless_normal([3, 4, 3, 8], seed=[1, 2]))\n"
        "    @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32, name='images')])\n"
        "    def __call__(self, x):\n"
        "        y = tf.nn.relu(tf.nn.conv2d(x, self.w[:3, :3], 1, 'SAME'))\n"
        "        return {'logits': tf.reduce_mean(y, axis=[1, 2])}\n"
        "m = M()\n"
        "tf.saved_model.save(m, sys.argv[1], signatures={'serving_default': m.__call__})\n")
    subprocess.run([sys.executable, "-c", script, str(sm)], check=True, capture_output=True, timeout=300)
    z = tmp_path / "sm.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sm.rglob("*"):
            zf.write(p, "export/" + p.relative_to(sm).as_posix())
    r = cli("convert", "--format", "tensorflow-savedmodel", "--input", z, "--out", tmp_path / "o", "--task", "classify",
            timeout=400, check=0).result
    assert r["comparison"]["max_abs_diff"] < 1e-4 and r["comparison"]["samples"] == 2
    assert r["metadata"]["inputs"][0]["shape"][1:] == [16, 16, 3]
    assert r["metadata"]["outputs"][0]["shape"][-1] == 8
    # the temporary extraction folder is gone
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["model.onnx"]


def test_tensorflow_missing_is_a_clear_error(cli, tmp_path):
    # simulate an install without TF: a shadowing package whose import fails
    shadow = tmp_path / "shadow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('tensorflow removed for this test')\n")
    sm = tmp_path / "sm"
    sm.mkdir()
    (sm / "saved_model.pb").write_bytes(b"")
    import os
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", ""),
                                         str(__import__("conftest").HERE / "netblock")])}
    r = cli("convert", "--format", "tensorflow-savedmodel", "--input", sm, "--out", tmp_path / "o", env=env)
    assert r.rc == 1 and r.final["code"] == "converter_unavailable"
    assert "requirements-tf.txt" in r.final["message"] and "removed for this test" in r.final["message"]
