"""The soak's load generator: a fixed number of client threads, for a fixed time, on loopback.

    python -m bench.soak_load PLAN.json OUT.json

PLAN names the server (a 127.0.0.1 URL), the users' session cookies, when to start, for
how long, how many clients and a seed. Each client keeps one connection alive and asks
for a random user's token, one request after another (a closed loop: a stalled server
gets no new requests, and the stall shows as seconds without responses). A request
still waiting when the time is up may finish, up to ``timeout`` seconds later; then the
clients stop. OUT gets one row per request: user index, start (wall clock), latency
in ms, status (0: no answer), the user pk and token digest the view answered, and the
error for requests that got no answer.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlsplit


def client(plan: dict, number: int, rows: list) -> None:
    parts = urlsplit(plan["base"])
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the soak only loads loopback servers")
    rng = random.Random(plan["seed"] * 1000 + number)
    cookies = plan["cookies"]
    stop_at = plan["start_at"] + plan["seconds"]
    connection = None
    while time.time() < stop_at:
        if connection is None:
            connection = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=plan["timeout"]
            )
        user = rng.randrange(len(cookies))
        started = time.time()
        clock = time.perf_counter()
        status, pk, token, error = 0, "", "", ""
        try:
            connection.request("GET", plan["path"], headers={"Cookie": cookies[user]})
            response = connection.getresponse()
            body = response.read()
            status = response.status
            if status == 200:
                pk, _, token = body.decode().partition(" ")
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            connection.close()
            connection = None
        latency = (time.perf_counter() - clock) * 1000
        rows.append([user, round(started, 4), round(latency, 2), status, pk, token, error])
    if connection is not None:
        connection.close()


def run(plan: dict) -> list:
    time.sleep(max(0.0, plan["start_at"] - time.time()))
    per_client: list[list] = [[] for _ in range(plan["clients"])]
    threads = [
        threading.Thread(target=client, args=(plan, i, per_client[i]), daemon=True)
        for i in range(plan["clients"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan["seconds"] + plan["timeout"] + 5)
    return [row for rows in per_client for row in rows]


def main() -> None:
    plan_path, out_path = sys.argv[1:3]
    with open(plan_path) as f:
        plan = json.load(f)
    rows = run(plan)
    with open(out_path, "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main()
