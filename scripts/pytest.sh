#!/usr/bin/env bash
# Run the test suite with the project's environment, in an Airflow home of its own
# (var/test/airflow) so tests that reset the metadata DB never touch the demo's.
#
#   scripts/pytest.sh [PYTEST ARGS...]      e.g. scripts/pytest.sh -m "not integration"
#
# pytest's exit code 5 ("no tests collected") is turned into a failure: a suite that ran
# nothing must not pass.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LOADSTACK_AIRFLOW_HOME="${LOADSTACK_TEST_AIRFLOW_HOME:-$ROOT/var/test/airflow}"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
mkdir -p "$AIRFLOW_HOME"

[[ -x .venv/bin/pytest ]] || { echo "[test] no .venv/bin/pytest: run scripts/bootstrap.sh first" >&2; exit 1; }

# The two layers (only loadstack.airflow imports Airflow) and no import cycles: pyproject.toml.
echo "[test] lint-imports (import-linter contracts in pyproject.toml)"
.venv/bin/lint-imports --no-cache

# Test paths given on the command line replace the default `tests` (pytest would run both).
targets=(tests)
for arg in "$@"; do
    if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then
        targets=()
        break
    fi
done

set +e
# Two workers (pytest-xdist), a test file each at a time, the slowest files first (tests/conftest.py,
# SLOWEST_FIRST; --no-loadscope-reorder keeps that order): integration tests mostly wait on servers, Terraform
# and ramps holding their band, so two files share CI's 2 cores well. Each worker's tests/conftest.py makes its
# own Airflow home, metadata DB and LOADSTACK_HOME; servers take free ports. LOADSTACK_TEST_WORKERS=0: in-process.
# --durations: the slowest tests in every run's log, to keep `make test` well under 30 minutes.
workers="${LOADSTACK_TEST_WORKERS:-2}"
# A short base for pytest's temporary directories: MariaDB's and Redis's unix sockets live under them and
# may not exceed 108 characters, and each worker adds "popen-gwN/". Kept when tests fail, to look into.
basetemp="$(mktemp -d /tmp/lst.XXXXXX)"
.venv/bin/pytest "${targets[@]}" -q -p no:cacheprovider -n "$workers" --dist loadfile --no-loadscope-reorder --basetemp "$basetemp" \
    --durations=25 --durations-min=5 "$@"
rc=$?
set -e
if [[ $rc -eq 0 ]]; then
    rm -rf "$basetemp"
else
    echo "[test] temporary files of this run: $basetemp" >&2
fi
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests (exit code 5); treating that as a failure" >&2
    exit 1
fi
exit "$rc"
