import faulthandler
import os
import sys

# A native crash (onnxruntime, torch) leaves the Python stack on stderr, which job errors quote.
faulthandler.enable()

from .cli import main  # noqa: E402

code = main()
sys.stdout.flush()
sys.stderr.flush()
try:  # os._exit below skips atexit, so save coverage data here when the test suite measures us
    import coverage

    cov = coverage.Coverage.current()
    if cov is not None:
        cov.stop()
        cov.save()
except Exception:
    pass
# os._exit: torch/TF/ORT background threads sometimes stall interpreter shutdown after a
# cancelled run; the wire lines are already written with os.write.
os._exit(code)
