#!/usr/bin/env bash
# CI: the modules with rules of their own are covered by their own test files (issue #22):
# claims, locks and transport each reach 95% branch coverage from that one file. locks
# speaks each database's dialect, so its file runs on SQLite, PostgreSQL and MariaDB and
# the three runs are combined. Run after .ci/databases.sh (which starts the servers).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
MARIADB_URL="${MARIADB_URL:-mysql://root@127.0.0.1:3306/test}"
PY=.venv/bin/python
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT

own() {  # own MODULE TESTFILE DATABASE_URL...
    local module=$1 file=$2
    shift 2
    for url in "$@"; do
        DATABASE_URL="$url" COVERAGE_FILE="$DATA/$module" "$PY" -m coverage run -p \
            --branch --source=canvas_oauth -m pytest -p no:cacheprovider -q "$file"
    done
    COVERAGE_FILE="$DATA/$module" "$PY" -m coverage combine -q "$DATA"/"$module".*
    echo "== canvas_oauth/$module.py, from $file alone"
    COVERAGE_FILE="$DATA/$module" "$PY" -m coverage report --fail-under=95 \
        --include="canvas_oauth/$module.py"
}

own claims tests/tokens/test_claims.py ""
own transport tests/canvas/test_transport.py ""
own locks tests/tokens/test_locks.py "" "$PG_URL" "$MARIADB_URL"
