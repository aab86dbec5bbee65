#!/usr/bin/env bash
# Idempotent: creates python/.venv and installs the pinned requirements, then cvp_ml in editable mode.
# A stamp (sha256 of the requirement files + pyproject.toml) makes a rerun a quick no-op.
# Env: CVP_PYTHON (interpreter, default python3.11 or python3), CVP_SKIP_TF=1 (skip requirements-tf.txt).
set -euo pipefail
PY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$PY_DIR/.venv"
STAMP="$VENV/.cvp-requirements.sha256"
say() { echo "[setup-venv] $*"; }

PY="${CVP_PYTHON:-}"
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
  say "error: need Python 3.11 (found: $("$PY" --version 2>&1 || echo none)). On Debian 12: apt-get install python3 python3-venv"
  exit 1
fi

REQ_FILES=(requirements.txt requirements-dev.txt constraints.txt pyproject.toml)
[ "${CVP_SKIP_TF:-0}" = "1" ] || REQ_FILES+=(requirements-tf.txt)
HASH="$(cd "$PY_DIR" && cat "${REQ_FILES[@]}" | sha256sum | cut -d' ' -f1)"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
   && "$VENV/bin/python" -c 'import cvp_ml' 2>/dev/null; then
  say "up to date ($VENV, stamp ${HASH:0:12})"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
REQS=(-r "$PY_DIR/requirements.txt" -r "$PY_DIR/requirements-dev.txt")
[ "${CVP_SKIP_TF:-0}" = "1" ] && say "CVP_SKIP_TF=1: skipping requirements-tf.txt (tensorflow-savedmodel conversion disabled)" \
  || REQS+=(-r "$PY_DIR/requirements-tf.txt")
say "installing pinned requirements (first run downloads torch with its CUDA libraries: several GB)"
"${PIP[@]}" install --progress-bar off "${REQS[@]}" -c "$PY_DIR/constraints.txt"
say "installing cvp_ml (editable)"
"${PIP[@]}" install --progress-bar off --no-deps --no-build-isolation -e "$PY_DIR" \
  || "${PIP[@]}" install --progress-bar off --no-deps -e "$PY_DIR"
say "checking dependency consistency (pip check)"
"${PIP[@]}" check
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  say "warning: fonts-dejavu-core is not installed; Ultralytics may try to download Arial.ttf (apt-get install fonts-dejavu-core)"
fi
echo "$HASH" > "$STAMP"
say "done ($VENV, stamp ${HASH:0:12})"
