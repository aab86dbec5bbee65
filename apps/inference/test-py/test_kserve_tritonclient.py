"""Drives the running inference service with Triton's own HTTP client: Triton clients must work unchanged.

Started by run.sh, which deploys the fixture models and passes:
  CVP_TEST_INFER_URL  host:port of the inference service
  CVP_TEST_MODELS     comma-separated served names (multi, mlp; multi_native, mlp_native with the core)
  CVP_TEST_FIXTURES   folder of the fixture .onnx files
Outputs are compared with onnxruntime's on the same inputs, for JSON and binary tensors.
"""
import os

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

URL = os.environ.get("CVP_TEST_INFER_URL")
MODELS = [m for m in os.environ.get("CVP_TEST_MODELS", "").split(",") if m]
FIXTURES = os.environ.get("CVP_TEST_FIXTURES", "")

pytestmark = pytest.mark.skipif(not URL, reason="CVP_TEST_INFER_URL unset: run apps/inference/test-py/run.sh")

MULTI = [m for m in MODELS if m.startswith("multi")]
MLP = [m for m in MODELS if m.startswith("mlp")]


@pytest.fixture(scope="module")
def client():
    c = httpclient.InferenceServerClient(url=URL, network_timeout=30.0, connection_timeout=10.0)
    yield c
    c.close()


@pytest.fixture(scope="module")
def reference():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = ort.InferenceSession(os.path.join(FIXTURES, name), providers=["CPUExecutionProvider"])
        return cache[name]

    return get


def test_server_live_ready_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "cvp-inference"
    assert "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("model", MODELS)
def test_model_ready_and_metadata(client, model):
    assert client.is_model_ready(model)
    meta = client.get_model_metadata(model)
    assert meta["name"] == model
    if model.startswith("multi"):
        assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [("x", "FP32", [-1, 4]), ("k", "INT64", [-1, 4])]
        assert [o["datatype"] for o in meta["outputs"]] == ["FP32", "INT64", "BOOL", "FP16"]
    else:
        assert meta["inputs"] == [{"name": "a", "datatype": "FP32", "shape": [-1, 256]}]


def test_unknown_model_is_not_ready(client):
    assert not client.is_model_ready("no-such-model")
    with pytest.raises(InferenceServerException):
        client.get_model_metadata("no-such-model")


def _multi_inputs(binary):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    k = rng.integers(-(2**40), 2**40, size=(3, 4), dtype=np.int64)
    ix = httpclient.InferInput("x", list(x.shape), "FP32")
    ix.set_data_from_numpy(x, binary_data=binary)
    ik = httpclient.InferInput("k", list(k.shape), "INT64")
    ik.set_data_from_numpy(k, binary_data=binary)
    return x, k, [ix, ik]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("model", MULTI)
def test_multi_dtype_outputs_equal_onnxruntime(client, reference, model, binary):
    x, k, inputs = _multi_inputs(binary)
    names = ["y", "kk", "pos", "h"]
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
    res = client.infer(model, inputs, outputs=outputs, request_id="r-1")
    assert res.get_response()["id"] == "r-1"
    want = dict(zip(names, reference("multi_dtype.onnx").run(names, {"x": x, "k": k})))
    for n in names:
        got = res.as_numpy(n)
        assert got.shape == want[n].shape, n
        assert got.dtype == want[n].dtype, n
        if n == "y":
            # JSON carries float32 values as decimal text: equal to float32 precision
            np.testing.assert_allclose(got, want[n], rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, want[n], err_msg=n)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("model", MLP)
def test_mlp_outputs_equal_onnxruntime(client, reference, model, binary):
    a = np.random.default_rng(11).standard_normal((8, 256)).astype(np.float32)
    inp = httpclient.InferInput("a", list(a.shape), "FP32")
    inp.set_data_from_numpy(a, binary_data=binary)
    res = client.infer(model, [inp], outputs=[httpclient.InferRequestedOutput("b", binary_data=binary)])
    want = reference("mlp.onnx").run(["b"], {"a": a})[0]
    got = res.as_numpy("b")
    assert got.shape == (8, 256)
    # same ONNX Runtime kernels; JSON carries float32 as decimal text (round-trips exactly)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", MULTI)
def test_all_outputs_when_none_requested(client, model):
    _, _, inputs = _multi_inputs(True)
    res = client.infer(model, inputs)
    names = sorted(o["name"] for o in res.get_response()["outputs"])
    assert names == ["h", "kk", "pos", "y"]


@pytest.mark.parametrize("model", MULTI)
def test_bad_shape_is_refused_with_an_error(client, model):
    x = np.zeros((1, 3), np.float32)
    ix = httpclient.InferInput("x", [1, 3], "FP32")
    ix.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException):
        client.infer(model, [ix])


@pytest.mark.parametrize("model", MODELS)
def test_inference_statistics(client, model):
    stats = client.get_inference_statistics(model)
    entry = stats["model_stats"][0]
    assert entry["name"] == model
    assert entry["inference_stats"]["success"]["count"] >= 1
