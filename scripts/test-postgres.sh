#!/usr/bin/env bash
# Runs every jest test that touches the gateway's database a second time, against a real
# PostgreSQL server: CVP_TEST_DB=postgres makes the jest global setup start one (Debian's
# postgresql package; scripts/lib/postgres-server.js) and gives each test gateway a fresh database.
# Selected: spec files that use the test-database helpers (startGatewayTestApp, testDatabaseEnv,
# CVP_TEST_PG_URL), grouped by jest project; tests that never open the database run once, in the
# SQLite pass, and so do postgres-*.spec files, which run against a PostgreSQL server of their own
# in every pass. Coverage is measured by the SQLite pass only.
#   scripts/test-postgres.sh                 every selected file
#   scripts/test-postgres.sh apps/gateway    only that project's
set -uo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true CI=${CI:-true}

roots=("$@")
((${#roots[@]})) || roots=(apps libs e2e)
mapfile -t files < <(find "${roots[@]}" -path '*/node_modules' -prune -o -type f -name '*spec.ts' ! -name 'postgres-*' -print 2>/dev/null |
  xargs -r grep -lE 'startGatewayTestApp\(|testDatabaseEnv\(|CVP_TEST_PG_URL' | sort)
if ((${#files[@]} == 0)); then
  echo "no test touches the gateway database under: ${roots[*]}" >&2
  exit 1
fi

# The jest project of a file: the nearest folder above it with a jest.config.js.
declare -A by_project=()
for f in "${files[@]}"; do
  d=$(dirname "$f")
  while [[ $d != . && ! -f $d/jest.config.js ]]; do d=$(dirname "$d"); done
  [[ -f $d/jest.config.js ]] || { echo "no jest project above $f" >&2; exit 1; }
  by_project[$d]+="$f "
done

failed=()
for p in $(printf '%s\n' "${!by_project[@]}" | sort); do
  read -ra list <<<"${by_project[$p]}"
  printf '\n\033[1;34m-- %s against PostgreSQL: %d file(s) --\033[0m\n' "$p" "${#list[@]}"
  t0=$SECONDS
  CVP_TEST_DB=postgres npx --no-install jest -c "$p/jest.config.js" --coverage=false --runTestsByPath "${list[@]}" ||
    failed+=("$p")
  printf '%s against PostgreSQL: %ss\n' "$p" $((SECONDS - t0))
done
if ((${#failed[@]})); then
  printf '\033[1;31mfailed against PostgreSQL: %s\033[0m\n' "${failed[*]}"
  exit 1
fi
