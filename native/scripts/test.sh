#!/usr/bin/env bash
# Native test suite: coverage build, ctest (GoogleTest), then a line-coverage summary of
# native/src and native/node (the Node addon), written to coverage/native/{lcov.info,summary.json}. Non-zero exit on failure.
set -euo pipefail

native="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$native/.." && pwd)"
dir="$native/build-cov"
out="$repo/coverage/native"

"$native/scripts/build.sh" --coverage
find "$dir" -name '*.gcda' -delete  # counters from earlier runs would inflate the numbers

rc=0
(cd "$dir" && ctest --output-on-failure --timeout 300) || rc=$?

mkdir -p "$out"
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
lcov --quiet --capture --directory "$dir" --base-directory "$native" --output-file "$raw" >/dev/null 2>&1 || true
if lcov --quiet --extract "$raw" "$native/src/*" "$native/node/*" --output-file "$out/lcov.info" >/dev/null 2>&1 && [[ -s "$out/lcov.info" ]]; then
  # LF/LH records are per source file: sum them for the total
  read -r total covered < <(awk -F: '/^LF:/ {t += $2} /^LH:/ {c += $2} END {print t + 0, c + 0}' "$out/lcov.info")
else
  echo "[native/test] no coverage data collected" >&2
  : > "$out/lcov.info"
  total=0 covered=0
  rc=${rc:-1}; [[ $rc -eq 0 ]] && rc=1
fi
pct="$(awk -v t="$total" -v c="$covered" 'BEGIN { if (t > 0) printf "%.2f", 100 * c / t; else print 0 }')"
printf '{"lines":{"total":%d,"covered":%d,"pct":%s}}\n' "$total" "$covered" "$pct" > "$out/summary.json"
echo "[native/test] line coverage of native/src and native/node: $covered/$total ($pct%) -> $out/summary.json"
exit "$rc"
