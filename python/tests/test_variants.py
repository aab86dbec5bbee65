import onnx
import pytest


@pytest.mark.parametrize("kind", ["fp16", "int8-static", "int8-dynamic"])
def test_classifier_variants_agree(cli, tiny_onnx, tmp_path, kind):
    out = tmp_path / f"{kind}.onnx"
    r = cli("variant", "--model", tiny_onnx, "--kind", kind, "--out", out, "--seed", 1, check=0).result
    a = r["agreement"]
    assert r["task"] == "classify" and a["samples"] == 4
    assert a["cosine_similarity"] > 0.98, a
    assert a["top1_agreement"] >= 0.75, a
    ops = r["metadata"]["op_types"]
    m = onnx.load(str(out))
    if kind == "fp16":
        assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in m.graph.initializer)
        assert r["metadata"]["inputs"][0]["dtype"] == "float32"  # keep_io_types
        assert 0 < a["max_abs_diff"] < 0.05
    elif kind == "int8-static":
        assert ops.get("QuantizeLinear", 0) > 0 and ops.get("DequantizeLinear", 0) > 0  # QDQ format
        assert "seeded synthetic" in r["calibration"]
        from cvp_ml.variants import int8_weight_range
        assert r["reduce_range"] == int8_weight_range()[0] and r["weight_range_reason"]
        assert a["max_abs_diff"] > 0  # it really is quantized
    else:
        assert any(t.startswith(("MatMulInteger", "DynamicQuantize", "ConvInteger")) for t in ops), ops
    assert r["size_bytes"] == out.stat().st_size
    from conftest import PY_ROOT
    assert not list(PY_ROOT.glob("sym_shape_infer_temp*"))  # ORT's temp file stays in our temp dir


def test_int8_static_calibrates_on_images(cli, tiny_onnx, cls_data, tmp_path):
    r = cli("variant", "--model", tiny_onnx, "--kind", "int8-static", "--out", tmp_path / "q.onnx",
            "--calib-dir", cls_data / "train", check=0).result
    assert r["calibration"].startswith("6 images")
    assert r["agreement"]["cosine_similarity"] > 0.98


def test_yolo_int8_static_excludes_head_and_fp16_loads(cli, yolov8n_preset, tmp_path):
    src = yolov8n_preset["onnx"]
    r = cli("variant", "--model", src, "--kind", "int8-static", "--out", tmp_path / "q.onnx", "--calib-count", 4,
            check=0).result
    assert r["task"] == "detect" and r["excluded_nodes"] > 10
    assert "score_max_abs_diff" in r["agreement"] and r["agreement"]["score_max_abs_diff"] < 0.05
    m = onnx.load(str(tmp_path / "q.onnx"))
    # no QuantizeLinear feeds the excluded decoding nodes (final Concat keeps float inputs)
    final_concat = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name]
    assert final_concat and final_concat[0].op_type != "DequantizeLinear"
    r = cli("variant", "--model", src, "--kind", "fp16", "--out", tmp_path / "h.onnx", check=0).result
    assert r["agreement"]["cosine_similarity"] > 0.99


def test_variant_bad_calib_dir(cli, tiny_onnx, tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("variant", "--model", tiny_onnx, "--kind", "int8-static", "--out", tmp_path / "q.onnx",
            "--calib-dir", tmp_path / "empty")
    assert r.rc == 2 and "no images" in r.final["message"]
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize("flags,reduce", [
    ("fpu sse2 avx avx2 fma", True),                   # AVX2 without VNNI (this project's machine)
    ("fpu sse2 avx avx2 avx512f avx512_vnni", False),  # VNNI: full range
    ("fpu sse2 avx avx2 avx_vnni", False),
    ("fp asimd", False),                               # not x86 AVX2
    ("", False),                                       # flags unknown
])
def test_int8_weight_range_follows_cpu_flags(flags, reduce):
    from cvp_ml.variants import int8_weight_range
    info = f"processor : 0\nflags\t\t: {flags}\n" if flags else "processor : 0\n"
    got, why = int8_weight_range(info)
    assert got is reduce and why


@pytest.fixture(scope="module")
def text_recognizer(tmp_path_factory):
    """native/bench's CRNN (conv backbone, bidirectional LSTM, 1 MB softmax output), seeded weights."""
    import subprocess
    import sys

    from conftest import PY_ROOT

    out = tmp_path_factory.mktemp("crnn")
    subprocess.run([sys.executable, str(PY_ROOT.parent / "native/bench/make_text_recognizer.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    return out / "model.onnx"


def test_fp16_variant_that_onnxruntime_cannot_open_is_refused_with_why(cli, text_recognizer, tmp_path):
    # onnxruntime 1.32's NCHWc pass crashes (SIGSEGV) on this CRNN's FP16 graph at level all. The
    # variant command must survive that and say so: before, the whole process died with the
    # session and the benchmark recorded "exit null" with an empty reason.
    out = tmp_path / "crnn16.onnx"
    r = cli("variant", "--model", text_recognizer, "--kind", "fp16", "--out", out,
            "--input-shape", "1,3,48,320")
    if r.rc == 0:  # an onnxruntime that opens it: then the variant must be usable
        assert r.final["agreement"]["cosine_similarity"] > 0.99
        return
    assert r.rc == 1 and r.final["type"] == "error", (r.rc, r.final, r.stderr[-2000:])
    assert r.final["code"] == "variant_unloadable"
    msg = r.final["message"]
    assert "fp16 variant does not load in onnxruntime" in msg
    assert "crashed (SIGSEGV)" in msg and "loads at graph level extended" in msg, msg
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


def test_load_failure_reports_a_refusal_and_passes_a_good_model(tiny_onnx, tmp_path):
    from cvp_ml import onnx_utils as ou

    assert ou.load_failure(tiny_onnx) is None
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    why = ou.load_failure(junk)
    assert why and "crashed" not in why and len(why) <= 600
