import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


def _conv_model(path, external=None):
    """Conv(3->4, 3x3) + Gemm on a symbolic batch; optional external data location for the weight."""
    w = numpy_helper.from_array(np.random.default_rng(0).random((4, 3, 3, 3), dtype=np.float32), "w")
    g = numpy_helper.from_array(np.random.default_rng(1).random((4 * 8 * 8, 5), dtype=np.float32), "g")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "g"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], [w, g])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if external is not None:
        data = w.raw_data
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=external)
        w.external_data.add(key="length", value=str(len(data)))
        model.graph.initializer[0].CopyFrom(w)
        onnx.save(model, str(path))
        return data
    onnx.save(model, str(path))
    return None


def test_metadata_of_a_known_graph(cli, tmp_path):
    p = tmp_path / "m.onnx"
    _conv_model(p)
    md = cli("inspect", "--model", p, check=0).result["metadata"]
    assert md["inputs"] == [{"name": "x", "shape": ["N", 3, 8, 8], "dtype": "float32"}]
    assert md["outputs"] == [{"name": "y", "shape": ["N", 5], "dtype": "float32"}]
    assert md["opset"] == 17
    assert md["parameters"] == 4 * 3 * 3 * 3 + 256 * 5
    # Conv: 4*8*8 outputs x 27 MACs; Gemm: 5 outputs x 256 MACs
    assert md["macs"] == 4 * 8 * 8 * 27 + 5 * 256
    assert md["flops"] == 2 * md["macs"]
    import hashlib
    assert md["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert md["size_bytes"] == p.stat().st_size


def test_external_data_inside_folder_is_accepted(cli, tmp_path):
    p = tmp_path / "m.onnx"
    data = _conv_model(p, external="weights/w.bin")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(data)
    md = cli("inspect", "--model", p, check=0).result["metadata"]
    assert md["external_data"] == ["weights/w.bin"]
    assert md["size_bytes"] == p.stat().st_size + len(data)


@pytest.mark.parametrize("loc", ["/etc/passwd", "../outside.bin", "sub/../../outside.bin", "link.bin"])
def test_external_data_escaping_is_refused(cli, tmp_path, loc):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    data = _conv_model(model_dir / "m.onnx", external=loc)
    (tmp_path / "outside.bin").write_bytes(data)
    if loc == "link.bin":
        os.symlink(tmp_path / "outside.bin", model_dir / "link.bin")
    r = cli("inspect", "--model", model_dir / "m.onnx")
    assert r.rc == 2, r.final
    assert r.final["code"] == "unsafe_external_data"
    # validation refuses before onnxruntime/checker would read the file
    r = cli("convert", "--format", "onnx", "--input", model_dir / "m.onnx", "--out", tmp_path / "o")
    assert r.rc == 2 and r.final["code"] == "unsafe_external_data"
    assert not (tmp_path / "o" / "m.onnx").exists() and not (tmp_path / "o" / "model.onnx").exists()


def test_hostile_files(cli, tmp_path, tiny_onnx):
    full = tiny_onnx.read_bytes()
    cases = {
        "empty.onnx": b"",
        "truncated.onnx": full[: len(full) // 3],
        "zip.onnx": b"PK\x03\x04" + os.urandom(200),
        "png.onnx": b"\x89PNG\r\n\x1a\n" + os.urandom(64),
        "garbage.onnx": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        "text.onnx": b"hello, this is not a model\n" * 10,
    }
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        r = cli("inspect", "--model", p)
        assert r.rc == 2, (name, r.final)
        assert r.final["type"] == "error" and r.final["code"] == "invalid_model", (name, r.final)
        assert r.final["message"], name
    assert "empty" in cli("inspect", "--model", tmp_path / "empty.onnx").final["message"]
    assert "zip" in cli("inspect", "--model", tmp_path / "zip.onnx").final["message"]
    r = cli("inspect", "--model", tmp_path / "missing.onnx")
    assert r.rc == 2 and r.final["code"] == "not_found"
