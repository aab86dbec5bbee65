import os
import sys

from .cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# os._exit: torch/TF/ORT background threads sometimes stall interpreter shutdown after a
# cancelled run; the protocol lines are already written with os.write.
os._exit(code)
