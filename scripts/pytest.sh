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
# --durations: the slowest tests in every run's log, to keep `make test` well under 30 minutes.
.venv/bin/pytest "${targets[@]}" -q -p no:cacheprovider --durations=25 --durations-min=5 "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "[test] ERROR: pytest collected no tests (exit code 5); treating that as a failure" >&2
    exit 1
fi
exit "$rc"
