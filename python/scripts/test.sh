#!/usr/bin/env bash
# Runs the python suite with coverage over cvp_ml and writes coverage/python/summary.json
# ({"lines":{"total":N,"covered":M,"pct":P}}) at the repo root. Non-zero exit on any failure,
# including pytest's exit code 5 ("no tests collected"). Extra args go to pytest.
set -uo pipefail
PY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$PY_DIR/.." && pwd)"
VENV_PY="$PY_DIR/.venv/bin/python"
OUT="$ROOT/coverage/python"
if [ ! -x "$VENV_PY" ]; then
  echo "[test.sh] no venv: run python/scripts/setup-venv.sh first" >&2
  exit 1
fi
mkdir -p "$OUT"
rm -f "$OUT"/.coverage* "$OUT/summary.json"
cd "$PY_DIR"
# Child processes (CLI runs, tuning trials) record coverage too: coverage's subprocess patch
# reads COVERAGE_PROCESS_START-style config from pyproject.toml via COVERAGE_RCFILE.
export COVERAGE_RCFILE="$PY_DIR/pyproject.toml"
export COVERAGE_FILE="$OUT/.coverage"
export CVP_DATA_DIR="${CVP_DATA_DIR:-$ROOT/var/test-python}"
"$VENV_PY" -m pytest --cov=cvp_ml --cov-config="$PY_DIR/pyproject.toml" --cov-report=term \
  --cov-report="json:$OUT/coverage.json" "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "[test.sh] pytest collected no tests: failing" >&2
  rc=5
fi
if [ -f "$OUT/coverage.json" ]; then
  "$VENV_PY" - "$OUT/coverage.json" "$OUT/summary.json" <<'PYEOF'
import json, sys, os
t = json.load(open(sys.argv[1]))["totals"]
s = {"lines": {"total": t["num_statements"], "covered": t["covered_lines"], "pct": round(t["percent_covered"], 2)}}
tmp = sys.argv[2] + ".tmp"
json.dump(s, open(tmp, "w"))
os.replace(tmp, sys.argv[2])
print("[test.sh] coverage", json.dumps(s))
PYEOF
else
  echo "[test.sh] no coverage data produced" >&2
  [ $rc -eq 0 ] && rc=1
fi
exit $rc
