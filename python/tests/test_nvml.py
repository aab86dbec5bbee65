"""cvp_ml/nvml.py: the real NVML binding on this host (no GPU: every answer carries the reason), and
the parsing of device and per-process figures against a stand-in NVML module, since no GPU is here."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from cvp_ml import nvml

NVML_PY = Path(nvml.__file__)


def _real_nvml_absent() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return False
    except Exception:  # noqa: BLE001
        return True


@pytest.mark.skipif(not _real_nvml_absent(), reason="this host has an NVIDIA driver: the no-device answer cannot occur")
def test_devices_without_driver_says_no_device_and_why():
    r = subprocess.run([sys.executable, str(NVML_PY), "devices"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["devices"] == []
    assert out["binding"].startswith("nvidia-ml-py ")
    assert out["error"].startswith("no device: NVML: ")
    assert "libnvidia-ml.so.1" in out["error"]


@pytest.mark.skipif(not _real_nvml_absent(), reason="this host has an NVIDIA driver: the no-device answer cannot occur")
def test_sampler_without_driver_returns_null_with_reason_and_stops_on_stdin_close():
    p = subprocess.Popen(
        [sys.executable, str(NVML_PY), "sample", "--pid", "1", "--interval-ms", "20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = p.communicate(timeout=60)
    res = json.loads(out)
    assert res["peakMb"] is None and res["error"].startswith("no device: NVML: ")


def test_sample_rejects_a_busy_loop_interval():
    with pytest.raises(SystemExit):
        nvml.main(["sample", "--pid", "1", "--interval-ms", "0"])


class _Err(Exception):
    pass


def _stand_in_nvml(procs_by_call: list[list[tuple[int, int | None]]], fail_init: bool = False):
    """A module with pynvml's names and one GPU: enough to exercise the parsing without a GPU."""
    m = types.ModuleType("pynvml")
    m.NVMLError = _Err
    m.NVMLError_LibraryNotFound = type("NVMLError_LibraryNotFound", (_Err,), {})
    calls = {"n": 0}

    def init():
        if fail_init:
            raise m.NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    def procs(_h):
        i = min(calls["n"], len(procs_by_call) - 1)
        calls["n"] += 1
        return [types.SimpleNamespace(pid=p, usedGpuMemory=b) for p, b in procs_by_call[i]]

    m.nvmlInit = init
    m.nvmlShutdown = lambda: None
    m.nvmlSystemGetDriverVersion = lambda: b"580.159.04"
    m.nvmlSystemGetCudaDriverVersion_v2 = lambda: 13000
    m.nvmlDeviceGetCount = lambda: 1
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetName = lambda h: "NVIDIA H200"
    m.nvmlDeviceGetUUID = lambda h: "GPU-0"
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=144 << 30, free=140 << 30, used=4 << 30)
    m.nvmlDeviceGetComputeRunningProcesses = procs
    m.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []
    return m


def test_devices_parses_name_memory_and_cuda_version_with_stand_in_nvml_no_gpu_here(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml([[]]))
    out = nvml.devices()
    assert out["ok"] is True and out["error"] is None
    assert out["driver"] == "580.159.04" and out["cudaDriver"] == "13.0"
    assert out["devices"] == [
        {"index": 0, "name": "NVIDIA H200", "uuid": "GPU-0", "totalMb": 147456.0, "freeMb": 143360.0, "usedMb": 4096.0}
    ]


def test_devices_reports_missing_driver_library_with_stand_in_nvml_no_gpu_here(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml([[]], fail_init=True))
    out = nvml.devices()
    assert out["ok"] is False and "NVML Shared Library Not Found" in out["error"]


def test_sampler_keeps_the_peak_of_the_watched_pid_with_stand_in_nvml_no_gpu_here(monkeypatch):
    seq = [[(42, 100 << 20)], [(42, 900 << 20), (7, 5 << 30)], [(42, 300 << 20)]]
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml(seq))
    monkeypatch.setattr(nvml.select, "select", lambda r, w, x, t: (time.sleep(t), ([], [], []))[1])
    res = nvml.sample([42], interval_ms=5, max_s=0.2)
    assert res["error"] is None
    assert res["peakMb"] == 900.0 and res["lastMb"] == 300.0 and res["samples"] >= 3


def test_sampler_says_when_nvml_never_lists_the_process_with_stand_in_nvml_no_gpu_here(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml([[(7, 5 << 30)]]))
    monkeypatch.setattr(nvml.select, "select", lambda r, w, x, t: (time.sleep(t), ([], [], []))[1])
    res = nvml.sample([42], interval_ms=5, max_s=0.05)
    assert res["peakMb"] is None and "never listed pid(s) [42]" in res["error"]


def test_sampler_says_when_nvml_gives_no_figure_with_stand_in_nvml_no_gpu_here(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml([[(42, None)]]))
    monkeypatch.setattr(nvml.select, "select", lambda r, w, x, t: (time.sleep(t), ([], [], []))[1])
    res = nvml.sample([42], interval_ms=5, max_s=0.05)
    assert res["peakMb"] is None and "no memory figure" in res["error"]


def test_sampler_streams_each_new_peak_with_stand_in_nvml_no_gpu_here(monkeypatch, capsys):
    seq = [[(42, 100 << 20)], [(42, 50 << 20)], [(42, 300 << 20)]]
    monkeypatch.setitem(sys.modules, "pynvml", _stand_in_nvml(seq))
    monkeypatch.setattr(nvml.select, "select", lambda r, w, x, t: (time.sleep(t), ([], [], []))[1])
    res = nvml.sample([42], interval_ms=5, max_s=0.1, stream=True)
    peaks = [json.loads(l)["peakMb"] for l in capsys.readouterr().out.splitlines()]
    assert peaks == [100.0, 300.0] and res["peakMb"] == 300.0

