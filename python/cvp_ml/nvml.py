"""GPU devices and per-process GPU memory through NVML (nvidia-ml-py, NVIDIA's own binding).

Standalone on purpose (nothing from cvp_ml is imported): libs/measure runs it with the project's
python, and scripts/gpu-check.sh runs the same file on a bare GPU host whose python has only torch.

    python nvml.py devices
        -> {"ok", "binding", "driver", "cudaDriver", "devices": [{index, name, uuid, totalMb, freeMb,
           usedMb}], "error"}
    python nvml.py sample --pid P [--pid Q ...] [--interval-ms 50] [--max-s 3600] [--once] [--stream]
        samples the GPU memory that NVML attributes to those processes until stdin closes (or
        SIGTERM, or --max-s; --once: a single sample), then prints {"peakMb", "lastMb", "samples",
        "error", ...}; --stream also prints {"peakMb", "samples"} whenever the peak rises

On a host without an NVIDIA driver every answer carries the reason instead of numbers.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import sys
import time

MB = 1024 * 1024


def _binding():
    try:
        import pynvml  # nvidia-ml-py
    except ImportError as e:
        return None, f"nvidia-ml-py (module pynvml) is not installed: {e}"
    return pynvml, None


def _binding_version() -> str | None:
    try:
        from importlib.metadata import version

        return f"nvidia-ml-py {version('nvidia-ml-py')}"
    except Exception:  # noqa: BLE001 - the version is informative only
        return None


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _init(nv):
    """nvmlInit, or the reason it failed in NVML's own words ("NVML Shared Library Not Found", ...)."""
    try:
        nv.nvmlInit()
        return None
    except nv.NVMLError_LibraryNotFound as e:
        return f"NVML: {e} (libnvidia-ml.so.1 comes with the NVIDIA driver, absent on this host)"
    except nv.NVMLError as e:
        return f"NVML: {e}"
    except OSError as e:  # the driver library exists but cannot load
        return f"NVML: {e}"


def devices() -> dict:
    out: dict = {"ok": False, "binding": _binding_version(), "driver": None, "cudaDriver": None, "devices": []}
    nv, err = _binding()
    if err:
        return {**out, "error": err}
    err = _init(nv)
    if err:
        return {**out, "error": f"no device: {err}"}
    try:
        out["driver"] = _text(nv.nvmlSystemGetDriverVersion())
        v = nv.nvmlSystemGetCudaDriverVersion_v2()
        out["cudaDriver"] = f"{v // 1000}.{(v % 1000) // 10}"
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            out["devices"].append(
                {
                    "index": i,
                    "name": _text(nv.nvmlDeviceGetName(h)),
                    "uuid": _text(nv.nvmlDeviceGetUUID(h)),
                    "totalMb": round(mem.total / MB, 1),
                    "freeMb": round(mem.free / MB, 1),
                    "usedMb": round(mem.used / MB, 1),
                }
            )
    except nv.NVMLError as e:
        return {**out, "error": f"NVML: {e}"}
    finally:
        nv.nvmlShutdown()
    out["ok"] = bool(out["devices"])
    out["error"] = None if out["ok"] else "no device: NVML found no NVIDIA GPU"
    return out


def _process_memory(nv, pids: set[int]) -> tuple[float | None, int, str | None]:
    """MiB that NVML attributes to `pids` on all devices, how many processes NVML listed, and why
    there is no number when there is none."""
    total = 0
    listed = 0
    found = False
    unavailable = False
    for i in range(nv.nvmlDeviceGetCount()):
        h = nv.nvmlDeviceGetHandleByIndex(i)
        procs = list(nv.nvmlDeviceGetComputeRunningProcesses(h))
        try:
            procs += list(nv.nvmlDeviceGetGraphicsRunningProcesses(h))
        except nv.NVMLError:
            pass
        listed += len(procs)
        for p in procs:
            if p.pid in pids:
                found = True
                if p.usedGpuMemory is None:
                    unavailable = True
                else:
                    total += p.usedGpuMemory
    if unavailable and total == 0:
        return None, listed, "NVML lists the process but gives no memory figure for it (MIG or no permission)"
    if not found:
        return 0.0, listed, None
    return total / MB, listed, None


def sample(pids: list[int], interval_ms: int, max_s: float, once: bool = False, stream: bool = False) -> dict:
    out: dict = {"pids": pids, "intervalMs": interval_ms, "binding": _binding_version(), "samples": 0}
    nv, err = _binding()
    if err:
        return {**out, "peakMb": None, "lastMb": None, "error": err}
    err = _init(nv)
    if err:
        return {**out, "peakMb": None, "lastMb": None, "error": f"no device: {err}"}
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    peak = None
    last = None
    seen = False
    listed_max = 0
    reason = None
    deadline = time.monotonic() + max_s
    try:
        while not stop["now"] and time.monotonic() < deadline:
            mb, listed, why = _process_memory(nv, set(pids))
            out["samples"] += 1
            listed_max = max(listed_max, listed)
            if why:
                reason = why
            elif mb is not None:
                last = round(mb, 1)
                if mb > 0:
                    seen = True
                if stream and (peak is None or last > peak):
                    # the running peak, for readers that need it before the run ends
                    sys.stdout.write(json.dumps({"peakMb": last, "samples": out["samples"]}) + "\n")
                    sys.stdout.flush()
                peak = last if peak is None else max(peak, last)
            if once:
                break
            ready, _, _ = select.select([sys.stdin], [], [], interval_ms / 1000)
            if ready and not sys.stdin.buffer.read1(4096):
                break  # the parent closed stdin: the run is over
    finally:
        nv.nvmlShutdown()
    if peak is None and reason is None:
        reason = "no sample was taken"
    if not seen and reason is None:
        # Zero is a real answer only if NVML could have seen the process at all.
        reason = (
            f"NVML never listed pid(s) {pids} ({listed_max} other process(es) listed); "
            "in a container NVML reports host PIDs"
            if listed_max
            else None
        )
    return {**out, "peakMb": peak if reason is None else None, "lastMb": last, "error": reason}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("devices")
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, action="append", required=True)
    s.add_argument("--interval-ms", type=int, default=50)
    s.add_argument("--max-s", type=float, default=3600.0)
    s.add_argument("--once", action="store_true", help="one sample, without waiting on stdin")
    s.add_argument("--stream", action="store_true", help="also print each new peak as it is seen")
    a = ap.parse_args(argv)
    if a.cmd == "devices":
        res = devices()
    else:
        if a.interval_ms < 5 or a.max_s <= 0:
            ap.error("--interval-ms must be >= 5 and --max-s > 0")
        res = sample(a.pid, a.interval_ms, a.max_s, once=a.once, stream=a.stream)
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
