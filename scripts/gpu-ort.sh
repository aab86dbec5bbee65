#!/usr/bin/env bash
# The GPU build of ONNX Runtime for both engines (onnxruntime-node and the native core), from PyPI.
#
#   scripts/gpu-ort.sh stage       download the hash-pinned wheels (scripts/lib/gpu-ort.lock) into the
#                                  cache, stage one self-contained lib dir, link the C probe against it
#                                  and run it; prints the staged dir. Cached: a rerun takes < 1 s.
#   scripts/gpu-ort.sh activate    stage, then point onnxruntime-node at the staged library (its own
#                                  installer puts CUDA providers in the same folder); the native core
#                                  links that path, so it follows on its next start
#   scripts/gpu-ort.sh deactivate  restore onnxruntime-node's bundled CPU library
#   scripts/gpu-ort.sh probe       print the probe's JSON for the staged library
#   scripts/gpu-ort.sh status      print which library onnxruntime-node loads (gpu or cpu-bundled)
#   scripts/gpu-ort.sh dir         print the staged dir (exit 3 when not staged; never downloads)
#   scripts/gpu-ort.sh export DIR  copy the staged libraries, CUDA ones included, as real files (images)
#
# Downloads: onnxruntime-gpu (247 MB) and nvidia-curand (56 MB), once per machine, kept under
# ${CVP_CACHE_DIR:-~/.cache/cvp}/gpu. cuBLAS, cuDNN and the CUDA runtime come from the CUDA 13 wheels
# that torch already installs in the python environment; CVP_GPU_CUDA_WHEELS=1 downloads them from
# deploy/cuda-libs.lock instead (1.2 GB; images, hosts without the venv); CVP_CUDA_LIB_DIRS
# (colon-separated) adds others, e.g. a system CUDA or TensorRT 10 (`tensorrt_libs` is picked up
# when importable).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/scripts/lib/gpu-ort.lock"
PROBE_SRC="$ROOT/scripts/lib/ort-gpu-probe.c"
CACHE="${CVP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cvp}/gpu"
# onnxruntime-node's library folder (CVP_ORT_NODE_DIR: another copy of it, for tests)
X64="${CVP_ORT_NODE_DIR:-$ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64}"
say() { echo "[gpu-ort] $*" >&2; }
die() {
  echo "[gpu-ort] error: $*" >&2
  exit 1
}

ort_version=$(sed -n 's/^onnxruntime-gpu==\([0-9.]*\) .*/\1/p' "$LOCK")
node_version() { node -p "require('$ROOT/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || echo none; }

# torch's CUDA 13 wheels (cuBLAS, cuDNN, CUDA runtime, cuFFT, NVRTC) and TensorRT's pip libs, if any.
cuda_lib_dirs() {
  local py="${CVP_PYTHON:-$ROOT/python/.venv/bin/python}" found="" wheels=""
  if [[ ${CVP_GPU_CUDA_WHEELS:-0} == 1 ]]; then wheels="$(cuda_wheels_dir)/lib:"; fi
  if [[ -x $py ]]; then
    found=$("$py" - <<'PY' 2>/dev/null || true
import os
dirs = []
try:
    import nvidia
    for base in nvidia.__path__:
        for sub in ("cu13/lib", "cudnn/lib"):
            if os.path.isdir(os.path.join(base, sub)):
                dirs.append(os.path.join(base, sub))
except ImportError:
    pass
try:
    import tensorrt_libs
    dirs.append(os.path.dirname(tensorrt_libs.__file__))
except ImportError:
    pass
print(":".join(dirs))
PY
    )
  fi
  local all="${CVP_CUDA_LIB_DIRS:+$CVP_CUDA_LIB_DIRS:}$wheels$found"
  printf '%s' "${all%:}"
}

# CVP_GPU_CUDA_WHEELS=1: the CUDA libraries from deploy/cuda-libs.lock instead of torch's, for
# hosts and images without the python environment. Extracted once into one folder.
cuda_wheels_dir() {
  local lock="$ROOT/deploy/cuda-libs.lock" dest
  dest="$CACHE/cuda-libs-$(sha256sum "$lock" | cut -c1-12)"
  if [[ ! -d $dest/lib ]]; then
    mkdir -p "$CACHE/wheels"
    say "downloading the CUDA 13 libraries in $lock (hash-checked)"
    "$(pip_python)" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
      --python-version 3.11 --implementation cp --abi cp311 --abi none \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
      -r "$lock" -d "$CACHE/wheels" >&2
    local tmp="$dest.tmp.$$" w name
    rm -rf "$tmp" && mkdir -p "$tmp/lib"
    while read -r name; do
      w=$(ls "$CACHE"/wheels/"${name//-/_}"-*.whl | head -n1)
      unzip -q -o -j "$w" 'nvidia/*/lib/lib*.so*' -d "$tmp/lib" >&2
    done < <(sed -n 's/^\([a-z0-9-]*\)==.*/\1/p' "$lock")
    rm -rf "$dest" && mv "$tmp" "$dest"
  fi
  echo "$dest"
}

headers_dir() {
  local inc="$ROOT/native/.deps/ort/usr/include/onnxruntime"
  if [[ ! -f $inc/onnxruntime_c_api.h ]]; then
    bash "$ROOT/native/scripts/fetch-ort-headers.sh" >&2 || die "ONNX Runtime C headers unavailable (native/scripts/fetch-ort-headers.sh failed)"
  fi
  echo "$inc"
}

pip_python() {
  for py in "${CVP_PIP_PYTHON:-}" python3 "$ROOT/python/.venv/bin/python"; do
    [[ -n $py ]] && "$py" -m pip --version >/dev/null 2>&1 && {
      echo "$py"
      return
    }
  done
  die "no python with pip to download the wheels (set CVP_PIP_PYTHON)"
}

# The staged dir's name changes with the pins, the probe and the CUDA library dirs.
staged_dest() {
  local key
  key=$( (cat "$LOCK" "$PROBE_SRC"; echo "$1") | sha256sum | cut -c1-12)
  echo "$CACHE/ort-$ort_version-$key"
}

stage() {
  local nv
  nv=$(node_version)
  [[ $nv == "$ort_version" || $nv == none ]] ||
    die "onnxruntime-node is $nv but $LOCK pins onnxruntime-gpu $ort_version: provider libraries must match the core library's exact version"
  local dirs dest
  dirs=$(cuda_lib_dirs)
  dest=$(staged_dest "$dirs")
  if [[ -f $dest/manifest.json ]]; then
    echo "$dest"
    return
  fi
  mkdir -p "$CACHE/wheels"
  exec 9>"$CACHE/.lock"
  flock -w 900 9 || die "another stage holds $CACHE/.lock"
  if [[ -f $dest/manifest.json ]]; then
    echo "$dest"
    return
  fi

  say "downloading the pinned wheels (hash-checked; cached in $CACHE/wheels)"
  # The wheels' C libraries do not depend on the Python version: cp311 is fixed so the hashes hold.
  "$(pip_python)" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    -r "$LOCK" -d "$CACHE/wheels" >&2
  local ort_whl curand_whl
  ort_whl=$(ls "$CACHE"/wheels/onnxruntime_gpu-"$ort_version"-cp311-*.whl)
  curand_whl=$(ls "$CACHE"/wheels/nvidia_curand-*.whl)

  local tmp="$dest.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp/lib" "$tmp/bin"
  trap 'rm -rf "$tmp"' EXIT
  say "extracting ONNX Runtime $ort_version (C API library + CUDA/TensorRT providers)"
  unzip -q -o -j "$ort_whl" 'onnxruntime/capi/libonnxruntime*' -d "$tmp/lib"
  unzip -q -o -j "$curand_whl" 'nvidia/cu13/lib/libcurand.so.10' -d "$tmp/lib"
  ln -s "libonnxruntime.so.$ort_version" "$tmp/lib/libonnxruntime.so.1"
  ln -s "libonnxruntime.so.1" "$tmp/lib/libonnxruntime.so"
  # One folder holds everything the providers load: they carry no search path of their own, so they
  # get $ORIGIN, and the CUDA libraries they need are linked in beside them.
  command -v patchelf >/dev/null || die "patchelf missing (apt-get install patchelf; the bootstrap installs it)"
  patchelf --set-rpath '$ORIGIN' "$tmp/lib/libonnxruntime_providers_cuda.so" "$tmp/lib/libonnxruntime_providers_tensorrt.so"
  local d f n=0
  IFS=: read -r -a dir_list <<<"$dirs"
  for d in "${dir_list[@]}"; do
    [[ -d $d ]] || continue
    for f in "$d"/lib*.so*; do
      [[ -e $f && ! -e $tmp/lib/$(basename "$f") ]] || continue
      ln -s "$f" "$tmp/lib/$(basename "$f")"
      n=$((n + 1))
    done
  done
  say "linked $n CUDA libraries from: ${dirs:-none found (the CUDA provider will report what is missing)}"

  say "linking the C probe against $tmp/lib/libonnxruntime.so.1"
  ${CC:-cc} -std=c11 -O1 -Wall -Wextra -Werror -I "$(headers_dir)" "$PROBE_SRC" -o "$tmp/bin/ort-gpu-probe" \
    -L "$tmp/lib" -l:libonnxruntime.so.1 -ldl -Wl,-rpath,'$ORIGIN/../lib'
  "$tmp/bin/ort-gpu-probe" >"$tmp/probe.json" || die "the probe failed: $(cat "$tmp/probe.json")"

  python3 - "$tmp" "$ort_whl" "$curand_whl" "$dirs" <<'PY'
import hashlib, json, os, sys
tmp, ort_whl, curand_whl, dirs = sys.argv[1:5]
def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
lib = os.path.join(tmp, "lib")
files = {n: {"bytes": os.path.getsize(os.path.join(lib, n)), "sha256": digest(os.path.join(lib, n))}
         for n in sorted(os.listdir(lib)) if n.startswith(("libonnxruntime", "libcurand")) and not os.path.islink(os.path.join(lib, n))}
manifest = {
    "onnxruntime": os.path.basename(ort_whl).split("-")[1],
    "wheels": {os.path.basename(w): {"bytes": os.path.getsize(w), "sha256": digest(w)} for w in (ort_whl, curand_whl)},
    "files": files,
    "cudaLibDirs": [d for d in dirs.split(":") if d],
    "probe": json.load(open(os.path.join(tmp, "probe.json"))),
}
json.dump(manifest, open(os.path.join(tmp, "manifest.json"), "w"), indent=2)
PY
  rm -rf "$dest"
  mv "$tmp" "$dest"
  trap - EXIT
  say "staged $dest"
  echo "$dest"
}

activate() {
  local dest
  dest=$(stage)
  [[ -d $X64 ]] || die "onnxruntime-node is not installed ($X64): run npm ci first"
  if [[ -f $X64/.cvp-gpu ]] && [[ $(head -n1 "$X64/.cvp-gpu") == "$dest" ]]; then
    say "active: onnxruntime-node loads $dest/lib/libonnxruntime.so.1"
    return
  fi
  deactivate_quiet
  [[ -f $X64/libonnxruntime.so.1 && ! -L $X64/libonnxruntime.so.1 ]] && mv "$X64/libonnxruntime.so.1" "$X64/libonnxruntime.so.1.cpu-bundled"
  # Every entry beside the core library: ONNX Runtime looks for provider libraries next to the path
  # it was loaded from, and the providers' $ORIGIN then finds the CUDA libraries there too.
  local names=() f
  for f in "$dest"/lib/*; do
    ln -sfn "$f" "$X64/$(basename "$f")"
    names+=("$(basename "$f")")
  done
  { echo "$dest"; printf '%s\n' "${names[@]}"; } >"$X64/.cvp-gpu"
  say "active: onnxruntime-node (and the native core, which links $X64/libonnxruntime.so.1) load the GPU build from $dest"
}

# A copy of the staged lib dir with real files (the CUDA libraries it links to are copied in), for
# images: the folder then works wherever it is put.
export_to() {
  local dest out="$1" f
  dest=$(stage)
  mkdir -p "$out"
  for f in "$dest"/lib/*; do
    if [[ -L $f && $(readlink "$f") != */* ]]; then
      ln -sfn "$(readlink "$f")" "$out/$(basename "$f")"
    else
      cp -L "$f" "$out/"
    fi
  done
  say "exported $(ls "$out" | wc -l) files to $out"
}

deactivate_quiet() {
  [[ -f $X64/.cvp-gpu ]] || return 0
  local name
  tail -n +2 "$X64/.cvp-gpu" | while read -r name; do
    [[ -n $name && -L $X64/$name ]] && rm -f "$X64/$name"
  done
  [[ -f $X64/libonnxruntime.so.1.cpu-bundled ]] && mv "$X64/libonnxruntime.so.1.cpu-bundled" "$X64/libonnxruntime.so.1"
  rm -f "$X64/.cvp-gpu"
}

case "${1:-}" in
  stage) stage ;;
  activate) activate ;;
  deactivate)
    deactivate_quiet
    say "onnxruntime-node uses its bundled CPU library"
    ;;
  probe) "$(stage)/bin/ort-gpu-probe" ;;
  export) export_to "${2:?usage: $0 export DIR}" ;;
  dir)
    # Never downloads: exit 3 when nothing is staged yet.
    d=$(staged_dest "$(cuda_lib_dirs)")
    [[ -f $d/manifest.json ]] || exit 3
    echo "$d"
    ;;
  status)
    if [[ -f $X64/.cvp-gpu ]]; then echo "gpu $(head -n1 "$X64/.cvp-gpu")"; else echo "cpu-bundled"; fi
    ;;
  *)
    echo "usage: $0 stage|activate|deactivate|probe|status|dir|export DIR" >&2
    exit 2
    ;;
esac
