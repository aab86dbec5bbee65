import json
import math

import pytest

from cvp_ml import cli as cvp_cli
from cvp_ml.wire import Cancelled, CvpError, _clean


@pytest.mark.parametrize("exc, code, err", [
    (MemoryError(), 3, "out_of_memory"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), 3, "out_of_memory"),
    (type("OutOfMemoryError", (RuntimeError,), {})("boom"), 3, "out_of_memory"),
    (Cancelled("SIGTERM"), 4, "cancelled"),
    (KeyboardInterrupt(), 4, "cancelled"),
    (CvpError("data_error", "bad labels"), 2, "data_error"),
    (CvpError("variant_unloadable", "x", exit_code=1), 1, "variant_unloadable"),
    (ValueError("other"), 1, "internal"),
])
def test_exit_code_mapping(exc, code, err):
    got_code, got_err, msg = cvp_cli.classify_exception(exc)
    assert (got_code, got_err) == (code, err)
    assert isinstance(msg, str)


def test_clean_makes_json_safe():
    import numpy as np

    out = _clean({"a": float("nan"), "b": np.float32(1.5), "c": (1, np.int64(2)), "d": np.arange(3)})
    assert out == {"a": None, "b": 1.5, "c": [1, 2], "d": [0, 1, 2]}
    json.dumps(out, allow_nan=False)


def test_bad_command_line_is_exit_2(cli):
    r = cli("convert", "--format", "onnx")  # missing --input/--out
    assert r.rc == 2 and r.final["type"] == "error" and r.final["code"] == "bad_input"
    r = cli("variant", "--model", "x.onnx", "--kind", "int4", "--out", "y.onnx")
    assert r.rc == 2 and r.final["code"] in ("bad_input", "not_found")


def test_train_rejects_unknown_hyperparameters(cli, yolo_data, tmp_path):
    r = cli("train", "--model", "yolov8n", "--data", yolo_data, "--epochs", 1, "--imgsz", 32, "--out", tmp_path,
            "--hyp", json.dumps({"project": "/etc"}))
    assert r.rc == 2 and "unknown hyperparameters" in r.final["message"]
