#!/usr/bin/env bash
# Idempotent: makes python/.venv, which sees the pinned requirements (shared environment, below)
# and this checkout's cvp_ml.
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

# The heavy part (torch with its CUDA libraries, several GB) lives in a shared environment keyed
# by the hash of the pins, under the user's cache dir: every clone on this machine (CI included)
# reuses it, and a fresh machine builds it once. python/.venv stays a small per-clone venv that
# sees the shared site-packages and this checkout's cvp_ml through a .pth file.
CACHE_ROOT="${CVP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cvp}"
SHARED="$CACHE_ROOT/py311-${HASH:0:16}"
SITE_REL="lib/python3.11/site-packages"
PTH="$VENV/$SITE_REL/_cvp_shared.pth"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] \
   && "$VENV/bin/python" -c 'import cvp_ml' 2>/dev/null; then
  say "up to date ($VENV, stamp ${HASH:0:12})"
  exit 0
fi

if [ ! -f "$SHARED/.complete" ]; then
  mkdir -p "$CACHE_ROOT"
  TMP="$SHARED.tmp.$$"
  rm -rf "$TMP"
  say "building the shared environment $SHARED (first run downloads torch with its CUDA libraries: several GB)"
  "$PY" -m venv "$TMP"
  PIP=("$TMP/bin/python" -m pip --disable-pip-version-check)
  REQS=(-r "$PY_DIR/requirements.txt" -r "$PY_DIR/requirements-dev.txt")
  if [ "${CVP_SKIP_TF:-0}" = "1" ]; then
    say "CVP_SKIP_TF=1: skipping requirements-tf.txt (tensorflow-savedmodel conversion disabled)"
  else
    REQS+=(-r "$PY_DIR/requirements-tf.txt")
  fi
  "${PIP[@]}" install --progress-bar off "${REQS[@]}" -c "$PY_DIR/constraints.txt"
  say "checking dependency consistency (pip check)"
  "${PIP[@]}" check
  touch "$TMP/.complete"
  rm -rf "$SHARED"
  mv "$TMP" "$SHARED"
else
  say "shared environment present ($SHARED)"
fi

rm -rf "$VENV"
say "creating $VENV with $("$PY" --version) on top of the shared environment"
"$PY" -m venv --without-pip "$VENV"
# addsitedir (not a bare path) so the shared site-packages' own .pth files (coverage's subprocess
# hook, setuptools) are processed too; the second line is this checkout's cvp_ml, like `pip -e`.
printf 'import site; site.addsitedir(%s)\n%s\n' "'$SHARED/$SITE_REL'" "$PY_DIR" > "$PTH"
"$VENV/bin/python" -c 'import cvp_ml, torch, ultralytics, onnxruntime, optuna' \
  || { say "error: the venv cannot import its packages"; exit 1; }
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  say "warning: fonts-dejavu-core is not installed; Ultralytics may try to download Arial.ttf (apt-get install fonts-dejavu-core)"
fi
echo "$HASH" > "$STAMP"
say "done ($VENV, stamp ${HASH:0:12})"
