#!/usr/bin/env bash
# CI: run the whole suite on PostgreSQL and on MariaDB (SQLite is `make test`).
# Either server being unreachable is a failure, never a skip. Assumes .venv exists.
set -uo pipefail
cd "$(dirname "$0")/.."

PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
MARIADB_URL="${MARIADB_URL:-mysql://root@127.0.0.1:3306/test}"
PY=.venv/bin/python

# Wait up to $1 tries of 0.5 s for the reachability check "$2 …" to pass.
wait_for() {
    local tries=$1
    shift
    for _ in $(seq "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

pg_up() {
    "$PY" - "$PG_URL" <<'EOF'
import sys
from urllib.parse import urlsplit

import psycopg

url = urlsplit(sys.argv[1])
psycopg.connect(
    host=url.hostname, port=url.port or 5432, user=url.username or "postgres",
    password=url.password or None, dbname=url.path.lstrip("/") or "postgres", connect_timeout=3,
).close()
EOF
}

mariadb_up() {
    "$PY" - "$MARIADB_URL" <<'EOF'
import sys
from urllib.parse import urlsplit

import pymysql

url = urlsplit(sys.argv[1])
pymysql.connect(
    host=url.hostname, port=url.port or 3306, user=url.username or "root",
    password=url.password or "", connect_timeout=3,
).close()
EOF
}

start_postgres() {
    command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] || return 0
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
}

start_mariadb() {
    [ -x /usr/sbin/mariadbd ] || return 0
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
}

failed=()

check_and_run() {
    local name=$1 url=$2 up=$3 start=$4
    if ! wait_for 1 "$up"; then
        echo "== $name is not reachable; trying to start it"
        "$start"
        if ! wait_for 60 "$up"; then
            echo "FAIL: $name is not reachable at $url" >&2
            failed+=("$name (unreachable)")
            return
        fi
    fi
    echo "== Test suite on $name ($url)"
    if ! DATABASE_URL="$url" "$PY" -m pytest -p no:cacheprovider -q; then
        failed+=("$name")
    fi
}

check_and_run PostgreSQL "$PG_URL" pg_up start_postgres
check_and_run MariaDB "$MARIADB_URL" mariadb_up start_mariadb

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAIL: ${failed[*]}" >&2
    exit 1
fi
echo "OK: the suite passed on PostgreSQL and MariaDB"
