"""Scale: 100,000 stored tokens.

    python -m bench.scale [--db postgres] [--rows 100000] [--rotate-limit 240]

* the hot path (bench.hot_path.measure) on a 10-row table and on the 100k-row table;
* the admin changelist's queries (and time) at 10 and at 100k rows;
* canvas_oauth_rotate_keys in a subprocess at 10 and at 100k rows: wall time, peak RSS,
  batches (one progress line per batch). Peak RSS is the subprocess's VmHWM: Linux carries
  getrusage's ru_maxrss over fork and exec, so in a child of this (large) process it
  reports the parent's size; it is shown too, for the record.

Rows are bulk-created with values encrypted up front under an "old" key; the rotation
runs with CANVAS_OAUTH_ENCRYPTION_KEYS = [new, old] and checks that the new key alone
then decrypts every sampled row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

from bench import common

ROTATE = r"""
import io, json, os, resource, sys, time
sys.path.insert(0, os.environ["BENCH_ROOT"])
from bench import common
common.setup_django(os.environ["BENCH_DATABASE_URL"], fresh=False)
from django.core.management import call_command
from cryptography.fernet import Fernet
from canvas_oauth import crypto
from canvas_oauth.models import CanvasOAuth2Token
def status_mib(key):
    return int([l for l in open("/proc/self/status") if l.startswith(key)][0].split()[1]) / 1024
def rss_mib():
    return status_mib("VmRSS")
out, err = io.StringIO(), io.StringIO()
rss_before = rss_mib()
start = time.perf_counter()
call_command("canvas_oauth_rotate_keys", batch_size=int(os.environ["BENCH_BATCH"]),
             stdout=out, stderr=err)
elapsed = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the check below
hwm = status_mib("VmHWM")
rss_after = rss_mib()
new = Fernet(os.environ["BENCH_KEYS"].split(",")[0])
sample = CanvasOAuth2Token.objects.order_by("?").values_list("access_token", "refresh_token")[:50]
ok = all(new.decrypt(v[len(crypto.PREFIX):].encode()) for row in sample for v in row)
lines = out.getvalue().splitlines()
print(json.dumps({"seconds": round(elapsed, 1), "peak_rss_mib": round(hwm, 1),
                  "getrusage_maxrss_mib": round(peak_kib / 1024, 1),
                  "rss_before_mib": round(rss_before, 1), "rss_after_mib": round(rss_after, 1),
                  "progress_lines": sum(l.startswith("Re-encrypted") for l in lines),
                  "last_line": lines[-1] if lines else "", "stderr": err.getvalue()[-300:],
                  "new_key_decrypts_sample": ok}))
"""


def admin_changelist() -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "admin@example.edu", "pw"
    )
    client = Client()
    client.force_login(admin)
    url = "/admin/canvas_oauth/canvasoauth2token/"
    assert client.get(url).status_code == 200
    # Counted with an execute wrapper: the request_started signal empties the query log
    # that CaptureQueriesContext reads, so it can miss a test client's queries.
    queries: list[dict] = []

    def record(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append({"sql": sql, "time": time.perf_counter() - start})

    with connection.execute_wrapper(record):
        response = client.get(url)
    assert response.status_code == 200
    times = []
    for _ in range(5):
        start = time.perf_counter_ns()
        client.get(url)
        times.append((time.perf_counter_ns() - start) / 1e6)
    slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
    return {
        "queries": len(queries),
        "median_ms": round(common.median(times), 1),
        "slowest_queries": [
            {"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:160]} for q in slowest
        ],
    }


def rotate(url: str, keys: str, batch: int, limit: float) -> dict:
    env = dict(
        os.environ,
        BENCH_ROOT=str(common.ROOT),
        BENCH_DATABASE_URL=url,
        BENCH_KEYS=keys,
        BENCH_BATCH=str(batch),
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", ROTATE],
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out_after_s": limit}
    except subprocess.CalledProcessError as exc:
        return {"failed": exc.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(db: str, rows: int, iterations: int, limit: float, batch: int) -> dict:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = common.url_for(db, "_scale")
    common.setup_django(url, BENCH_KEYS=old)
    from django.db import connection

    from bench import hot_path

    result: dict = {"rows_large": rows, "rotation_batch_size": batch}
    small = common.make_users(10, prefix="small")
    common.make_tokens(small)
    common.analyze()
    result["hot_path_10_rows"] = hot_path.measure(small, iterations)
    result["admin_10_rows"] = admin_changelist()
    connection.close()
    result["rotate_10_rows"] = rotate(url, f"{new},{old}", batch, limit)

    start = time.perf_counter()
    big = common.make_users(rows - 10, prefix="big")
    common.make_tokens(big)
    common.analyze()
    result["bulk_create_seconds"] = round(time.perf_counter() - start, 1)
    sample = random.Random(6).sample(big, 1000)
    result["hot_path_large"] = hot_path.measure(sample, iterations)
    result["admin_large"] = admin_changelist()
    connection.close()
    result["rotate_large"] = rotate(url, f"{new},{old}", batch, limit)
    result["database"] = common.db_version()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rotate-limit", type=float, default=240)
    parser.add_argument("--batch-size", type=int, default=500)
    o = parser.parse_args()
    result = run(o.db, o.rows, o.iterations, o.rotate_limit, o.batch_size)
    common.emit(result, f"scale_{o.db}")


if __name__ == "__main__":
    main()
