"""A small closed-loop HTTP load generator (threads + http.client, keep-alive).

Used only when ``wrk`` is not installed; wrk is preferred (it is C, and costs the
server less CPU on a small machine).
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

from bench import common


def run(url: str, headers: dict[str, str], connections: int, seconds: float) -> dict:
    parts = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.perf_counter() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.perf_counter() < deadline:
            start = time.perf_counter_ns()
            try:
                conn.request("GET", parts.path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[i] += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except OSError:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[i].append((time.perf_counter_ns() - start) / 1e6)
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [v for per in latencies for v in per]
    return {
        "requests": len(flat),
        "errors": sum(errors),
        "requests_per_s": round(len(flat) / elapsed, 1),
        "latency_ms_p50": round(common.percentile(flat, 50), 2),
        "latency_ms_p99": round(common.percentile(flat, 99), 2),
    }
