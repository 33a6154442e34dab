"""Throughput under Gunicorn on PostgreSQL: a view with get_oauth_token against the same
view without it, and the same view plus one raw SELECT of the token row (the floor).

    python -m bench.throughput [--workers 2] [--threads 4] [--connections 8] \
        [--seconds 8] [--rounds 3]

Both views run behind the same middleware and load the logged-in user from a database
session (the session cookie is created up front); the only difference is the
get_oauth_token call on a fresh token. Rounds alternate between the views so that
drift in the machine hits both alike; the figures are the medians over the rounds.
The load tool is wrk when installed, else bench/loadgen.py (slower; the result says
which).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import urllib.request

from bench import common, serve

VIEWS = ("plain", "select", "token")


def session_cookie() -> str:
    """Create a user with a fresh token and a logged-in session; return the Cookie header."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("loaded", password="pw")
    common.make_tokens([user.pk])
    return common.session_cookie(user)


def parse_wrk(output: str) -> dict:
    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": rps,
        "latency_ms_p50": round(ms(p50), 2),
        "latency_ms_p99": round(ms(p99), 2),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


def load(url: str, cookie: str, connections: int, seconds: float) -> dict:
    wrk = shutil.which("wrk")
    if wrk:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{int(seconds)}s",
                "--latency",
                "-H",
                f"Cookie: {cookie}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = parse_wrk(out)
        if result["non_2xx"] or result["socket_errors"]:
            raise RuntimeError(f"{url}: errors under load: {result}")
        return result
    from bench import loadgen

    result = loadgen.run(url, {"Cookie": cookie}, connections, seconds)
    if result["errors"]:
        raise RuntimeError(f"{url}: errors under load: {result}")
    return result


def run(workers: int, threads: int, connections: int, seconds: float, rounds: int) -> dict:
    url = common.url_for("postgres", "_throughput")
    common.setup_django(url)
    cookie = session_cookie()
    db = common.db_version()
    from django.db import connection

    connection.close()
    port = serve.free_port()
    server = serve.start_gunicorn(port, workers, threads, {"BENCH_DATABASE_URL": url})
    base = f"http://127.0.0.1:{port}"
    try:
        serve.wait_until_up(base + "/token/", cookie)
        for view in VIEWS:  # every view must answer 200, or its figures mean nothing
            request = urllib.request.Request(f"{base}/{view}/", headers={"Cookie": cookie})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200, (view, response.status)
        for view in VIEWS:  # warm every worker's connection and caches
            load(f"{base}/{view}/", cookie, connections, 2)
        results: dict[str, list[dict]] = {v: [] for v in VIEWS}
        for i in range(rounds):
            for view in VIEWS if i % 2 == 0 else tuple(reversed(VIEWS)):
                results[view].append(load(f"{base}/{view}/", cookie, connections, seconds))
    finally:
        serve.stop(server)

    def med(view: str, key: str) -> float:
        return round(common.median([r[key] for r in results[view]]), 2)

    summary = {
        v: {
            "requests_per_s": med(v, "requests_per_s"),
            "latency_ms_p50": med(v, "latency_ms_p50"),
            "latency_ms_p99": med(v, "latency_ms_p99"),
        }
        for v in VIEWS
    }
    return {
        "database": db,
        "load_tool": "wrk "
        + ("(-t1)" if shutil.which("wrk") else "MISSING: used bench/loadgen.py"),
        "server": f"gunicorn gthread, {workers} workers x {threads} threads, CONN_MAX_AGE=600",
        "connections": connections,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "summary": summary,
        "throughput_ratio_token_to_plain": round(
            summary["token"]["requests_per_s"] / summary["plain"]["requests_per_s"], 3
        ),
        "throughput_ratio_token_to_select": round(
            summary["token"]["requests_per_s"] / summary["select"]["requests_per_s"], 3
        ),
        "p99_ratio_token_to_plain": round(
            summary["token"]["latency_ms_p99"] / summary["plain"]["latency_ms_p99"], 3
        ),
        "per_round": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    o = parser.parse_args()
    if not shutil.which("wrk"):
        print(
            "bench: wrk is not installed (apt-get install -y wrk); "
            "falling back to bench/loadgen.py, which is slower",
            file=sys.stderr,
        )
    common.emit(run(o.workers, o.threads, o.connections, o.seconds, o.rounds), "throughput")


if __name__ == "__main__":
    main()
