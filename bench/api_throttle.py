"""Throttling: two processes, one token, 2,000 API calls against Canvas's request throttle.

    PYTHONPATH=. .venv/bin/python -m bench.api_throttle [--calls 2000] [--threads 16]
        [--second-threads 4] [--latency 0.1] [--cost 0.1] [--arms canvas_session,...]

A fake Canvas is served on loopback over real HTTP (``LiveFakeCanvas``) by this process,
with Canvas's bucket (hwm 600, leak 10 units/s, 50 units up front per request in flight),
every API call taking ``--latency`` seconds and costing ``--cost`` units. For each arm two
worker processes (spawned) share one user's access token: one with ``--threads`` threads,
the other with ``--second-threads``; they start together and make ``--calls`` calls of
``GET /api/v1/users/self`` between them. The arms:

- ``canvas_session``: ``CanvasSession.for_user(user)`` in every thread (Django set up with
  the bench settings in each worker, the token read from the same database).
- ``naive_requests``: a ``requests.Session`` per thread; on a 429 (or 403), sleep 1 s and
  retry, up to ``--retries`` times.
- ``canvasapi``: ``canvasapi.Canvas(base_url, token).get_current_user()``, canvasapi's own
  requester; a 429 raises ``canvasapi.exceptions.RateLimitExceeded`` to the caller.

Reported per arm: the throttled answers Canvas sent (counted by the fake), those that
reached callers, calls that succeeded, wall time, and the achieved rate as a share of the
bucket's sustainable rate (see ``sustainable_rate``).

``--processes 1,2,4,8`` adds the scaling rows (issue #18): for each N, N processes of
``--threads-per-process`` threads make ``--calls-per-process`` calls each with
``CanvasSession`` on the one token. ``--before PATH`` runs every ``CanvasSession`` row a
second time with the code at PATH (a checkout of main: ``git worktree add /tmp/bench-main
main``) against a fake that refuses with 403, as the Canvas that code was written for did.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import threading
import time
import warnings

from bench import common

ARMS = ("canvas_session", "naive_requests", "canvasapi")
ARM_LABELS = {
    "canvas_session": "CanvasSession",
    "naive_requests": "requests + naive retry",
    "canvasapi": "canvasapi (own requester)",
}
PATH = "users/self"


def sustainable_rate(
    *, hwm: float, outflow: float, up_front: float, cost: float, latency: float
) -> dict:
    """Return the most calls a second one token can make for long without a refusal.

    Two bounds: the leak (each finished call leaves ``cost`` units; the bucket drains
    ``outflow`` a second, so ``outflow / cost`` calls a second keep it level), and
    concurrency (a request is refused when the bucket, its ``up_front`` reservation in,
    holds ``hwm`` or more; reservations leak too, so with nothing else in the bucket the
    n-th is let in while ``n * up_front`` less the little leaked since is below ``hwm``:
    ``floor(hwm / up_front)`` in flight, each for at least ``latency`` seconds). The
    sustainable rate is the lower of the two.
    """
    leak_bound = outflow / cost if cost > 0 else math.inf
    max_in_flight = max(1, math.floor(hwm / up_front)) if up_front > 0 else math.inf
    concurrency_bound = max_in_flight / latency if latency > 0 else math.inf
    return {
        "leak_bound_per_s": round(leak_bound, 1),
        "max_in_flight": max_in_flight,
        "concurrency_bound_per_s": round(concurrency_bound, 1),
        "sustainable_per_s": round(min(leak_bound, concurrency_bound), 1),
        "bound_by": "leak" if leak_bound <= concurrency_bound else "concurrency",
    }


def split_calls(calls: int, threads: list[int]) -> list[int]:
    """Split ``calls`` in proportion to each process's threads; the first takes the rest."""
    total = sum(threads)
    shares = [calls * t // total for t in threads]
    shares[0] += calls - sum(shares)
    return shares


def in_flight_canvas(**options):
    """Return a ``FakeCanvas`` that also tracks the API calls in flight (admitted, unanswered).

    Seen from the server, so it counts both processes' calls: mean (over time) and maximum.
    """
    from canvas_oauth.testing import FakeCanvas

    class InFlightCanvas(FakeCanvas):
        def reset_flight(self) -> None:
            self._flight_lock = threading.Lock()
            self.in_flight = self.max_in_flight = 0
            self._area = 0.0
            self._first = self._last = None

        def _step(self, delta: int) -> None:
            now = time.monotonic()
            with self._flight_lock:
                if self._last is None:
                    self._first = now
                else:
                    self._area += self.in_flight * (now - self._last)
                self._last = now
                self.in_flight += delta
                self.max_in_flight = max(self.max_in_flight, self.in_flight)

        def flight(self) -> dict:
            span = (self._last - self._first) if self._last is not None else 0.0
            return {
                "mean": round(self._area / span, 2) if span > 0 else 0.0,
                "max": self.max_in_flight,
            }

        def dispatch(self, method, path, query, form, headers):
            response = super().dispatch(method, path, query, form, headers)
            finish = response.on_complete
            refused = response.status in (403, 429)
            if path.startswith("/api/") and not refused and finish is not None:
                self._step(+1)

                def done() -> None:
                    finish()
                    self._step(-1)

                response.on_complete = done
            return response

    fake = InFlightCanvas(**options)
    fake.reset_flight()
    return fake


# -- the workers (spawned processes) ---------------------------------------------------------


def _caller(arm: str, base_url: str, token: str, retries: int):
    """Return (call, close) for one thread of ``arm``; call() -> "ok" | "throttled" | "error:…"."""
    if arm == "canvas_session":
        from django.contrib.auth import get_user_model

        from canvas_oauth.api import CanvasSession
        from canvas_oauth.exceptions import CanvasThrottledError

        session = CanvasSession.for_user(get_user_model().objects.get(username="api"))

        def call() -> str:
            try:
                response = session.get(PATH)
            except CanvasThrottledError:
                return "throttled"
            return "ok" if response.status_code == 200 else f"error:{response.status_code}"

        return call, session.close

    if arm == "naive_requests":
        import requests

        plain = requests.Session()
        plain.headers["Authorization"] = f"Bearer {token}"
        url = f"{base_url}/api/v1/{PATH}"

        def call() -> str:
            for attempt in range(retries + 1):
                response = plain.get(url, timeout=30)
                if response.status_code not in (403, 429):
                    break
                if attempt < retries:
                    time.sleep(1.0)
            if response.status_code in (403, 429):
                return "throttled"
            return "ok" if response.status_code == 200 else f"error:{response.status_code}"

        return call, plain.close

    import canvasapi
    from canvasapi.exceptions import Forbidden, RateLimitExceeded

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # canvasapi warns about the http:// of loopback
        canvas = canvasapi.Canvas(base_url, token)

    def call() -> str:
        try:
            canvas.get_current_user()
        except (Forbidden, RateLimitExceeded):  # older Canvas's 403, hosted Canvas's 429
            return "throttled"
        return "ok"

    return call, lambda: None


def worker(arm: str, threads: int, quota: int, base_url: str, token: str, retries: int,
           db_url: str, barrier, results, code: str | None = None) -> None:  # fmt: skip
    """One process of an arm: ``threads`` threads make ``quota`` calls between them.

    ``code``: a checkout whose ``canvas_oauth`` this process uses instead (the "before").
    """
    if code:
        import sys

        assert "canvas_oauth" not in sys.modules
        sys.path.insert(0, code)
    if arm == "canvas_session":
        common.setup_django(db_url, fresh=False, BENCH_CANVAS_DOMAIN=base_url)
    lock = threading.Lock()
    left = [quota]
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    callers = []
    for _ in range(threads):
        callers.append(_caller(arm, base_url, token, retries))

    def work(call) -> None:
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            t0 = time.perf_counter()
            try:
                outcome = call()
            except Exception as exc:  # counted, not fatal: the run goes on
                outcome = f"error:{type(exc).__name__}"
            elapsed = time.perf_counter() - t0
            with lock:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                latencies.append(elapsed)

    pool = [threading.Thread(target=work, args=(call,)) for call, _ in callers]
    barrier.wait(timeout=120)
    started = time.time()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    ended = time.time()
    for _, close in callers:
        close()
    results.put(
        {
            "threads": threads,
            "calls": quota,
            "started": started,
            "ended": ended,
            "outcomes": outcomes,
            "latency_ms_p50": round(common.percentile(latencies, 50) * 1000, 1),
            "latency_ms_p99": round(common.percentile(latencies, 99) * 1000, 1),
            "latencies": [round(x, 4) for x in latencies],
        }
    )


# -- the orchestrator ------------------------------------------------------------------------


def run_arm(
    arm: str, fake, base_url: str, token: str, options, db_url: str, rate: dict,
    threads: list[int] | None = None, calls: int | None = None, code: str | None = None,
    pacing_cache: str | None = None,
) -> dict:  # fmt: skip
    ctx = multiprocessing.get_context("spawn")
    # Read by the workers' settings when they start: the shared pace, in keys of this arm's.
    os.environ["BENCH_PACING_CACHE"] = pacing_cache or ""
    os.environ["CANVAS_OAUTH_TEST_CACHE_PREFIX"] = f"bench-pace-{os.getpid()}-{time.time()}"
    fake.throttle.reset()  # every arm starts on an empty bucket
    # The code before answered only the 403 of older Canvas; today's hosted Canvas says 429.
    fake.throttle.status = 403 if code else 429
    fake.calls.clear()
    fake.reset_flight()
    if threads is None:
        threads = [n for n in (options.threads, options.second_threads) if n > 0]
    quotas = split_calls(options.calls if calls is None else calls, threads)
    barrier = ctx.Barrier(len(threads) + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=worker,
            args=(arm, n, q, base_url, token, options.retries, db_url, barrier, results, code),
        )
        for n, q in zip(threads, quotas, strict=True)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)
    parts = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    parts.sort(key=lambda p: -p["threads"])
    wall = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    outcomes: dict[str, int] = {}
    for p in parts:
        for k, v in p["outcomes"].items():
            outcomes[k] = outcomes.get(k, 0) + v
    ok = outcomes.get("ok", 0)
    achieved = ok / wall if wall > 0 else 0.0
    latencies = [x for p in parts for x in p.pop("latencies")]
    return {
        "arm": arm,
        "label": ARM_LABELS[arm] + (" (before)" if code else ""),
        "code": "before" if code else ("after, shared pace" if pacing_cache else "after"),
        "latency_ms_p50_all": round(common.percentile(latencies, 50) * 1000, 1),
        "latency_ms_p99_all": round(common.percentile(latencies, 99) * 1000, 1),
        "processes": parts,
        "calls": sum(quotas),
        "ok": ok,
        "throttled_403_sent_by_canvas": fake.calls["throttled"],
        "requests_canvas_saw": fake.calls["users_self"],
        "throttled_403_reached_callers": outcomes.get("throttled", 0),
        "other_errors": {k: v for k, v in outcomes.items() if k not in ("ok", "throttled")},
        "in_flight": fake.flight(),
        "wall_s": round(wall, 2),
        "achieved_per_s": round(achieved, 1),
        "share_of_sustainable": round(achieved / rate["sustainable_per_s"], 3),
    }


def run(options) -> dict:
    from canvas_oauth.testing import LiveFakeCanvas

    db_url = common.url_for("sqlite", "_api_throttle")
    common.setup_django(db_url)
    from django.conf import settings

    from canvas_oauth import conf

    fake = in_flight_canvas(
        client_id=settings.CANVAS_OAUTH_CLIENT_ID, client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET
    )
    fake.throttle.request_cost = options.cost
    fake.latency["api"] = options.latency
    live = LiveFakeCanvas(fake).start()
    _, grant = common.user_with_fake_token(fake, live.url, "api")
    t = fake.throttle
    rate = sustainable_rate(
        hwm=t.hwm, outflow=t.outflow, up_front=t.up_front_cost, cost=t.request_cost,
        latency=options.latency,
    )  # fmt: skip
    arms, scaling = [], []
    token = grant["access_token"]
    codes = [None, options.before] if options.before else [None]
    try:
        for arm in options.arms:
            for code in codes if arm == "canvas_session" else [None]:
                arms.append(run_arm(arm, fake, live.url, token, options, db_url, rate, code=code))
                print(table_row(arms[-1]), flush=True)
        for n in options.processes:
            threads = [options.threads_per_process] * n
            bound = min(rate["sustainable_per_s"], sum(threads) / options.latency)
            for code in codes:
                row = run_arm(
                    "canvas_session", fake, live.url, token, options, db_url, rate,
                    threads=threads, calls=options.calls_per_process * n, code=code,
                )  # fmt: skip
                row["n_processes"] = n
                row["sustainable_per_s"] = bound
                row["share_of_sustainable"] = round(row["achieved_per_s"] / bound, 3)
                scaling.append(row)
                print(scaling_row(row), flush=True)
        for n in options.shared_processes:
            threads = [options.threads_per_process] * n
            bound = min(rate["sustainable_per_s"], sum(threads) / options.latency)
            row = run_arm(
                "canvas_session", fake, live.url, token, options, db_url, rate,
                threads=threads, calls=options.calls_per_process * n, pacing_cache="redis",
            )  # fmt: skip
            row["n_processes"] = n
            row["sustainable_per_s"] = bound
            row["share_of_sustainable"] = round(row["achieved_per_s"] / bound, 3)
            scaling.append(row)
            print(scaling_row(row), flush=True)
    finally:
        live.stop()
    return {
        "bucket": {
            "hwm": t.hwm,
            "maximum": t.maximum,
            "outflow_per_s": t.outflow,
            "up_front_cost": t.up_front_cost,
            "request_cost": t.request_cost,
        },
        "api_latency_ms": options.latency * 1000,
        "calls": options.calls,
        "threads": [options.threads, options.second_threads],
        "naive_retries": options.retries,
        "retry_budget_s": float(conf.settings.api_retry_budget),
        "rate": rate,
        "arms": arms,
        "threads_per_process": options.threads_per_process,
        "calls_per_process": options.calls_per_process,
        "scaling": scaling,
    }


HEADER = (
    "| client | throttled answers Canvas sent | to callers | calls ok | wall s | achieved /s | "
    "of sustainable | in flight mean / max | p50 / p99 call ms |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


FOOTNOTE = (
    "† Some of its callers got a throttled answer: the rate counts only the calls that got "
    "through, so it does not compare with a client whose every call succeeded."
)


def table_row(a: dict) -> str:
    p50 = max(p["latency_ms_p50"] for p in a["processes"])
    p99 = max(p["latency_ms_p99"] for p in a["processes"])
    return (
        f"| {a['label']} | {a['throttled_403_sent_by_canvas']:,} | "
        f"{a['throttled_403_reached_callers']:,} | {a['ok']:,} / {a['calls']:,} | "
        f"{a['wall_s']} | {a['achieved_per_s']} | {a['share_of_sustainable']:.0%}"
        f"{' †' if a['throttled_403_reached_callers'] else ''} | "
        f"{a['in_flight']['mean']} / {a['in_flight']['max']} | {p50} / {p99} |"
    )


SCALING_HEADER = (
    "| processes x threads | code | calls ok | throttled answers Canvas sent | "
    "throttled errors to callers | achieved /s | of sustainable | p50 / p99 call ms |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|"
)


def scaling_row(a: dict) -> str:
    threads = a["processes"][0]["threads"]
    return (
        f"| {a['n_processes']} x {threads} | {a['code']} | {a['ok']:,} / {a['calls']:,} | "
        f"{a['throttled_403_sent_by_canvas']:,} | {a['throttled_403_reached_callers']:,} | "
        f"{a['achieved_per_s']} | {a['share_of_sustainable']:.0%} of {a['sustainable_per_s']:g} | "
        f"{a['latency_ms_p50_all']} / {a['latency_ms_p99_all']} |"
    )


def at_least_one(value: str) -> int:
    """Parse a count of calls, threads or processes: a worker with none would report nothing."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=at_least_one, default=2000)
    parser.add_argument("--threads", type=at_least_one, default=16)
    parser.add_argument("--second-threads", type=at_least_one, default=4)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per API call")
    parser.add_argument("--cost", type=float, default=0.1, help="X-Request-Cost of a call")
    parser.add_argument("--retries", type=int, default=3, help="the naive client's retries")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--processes", default="1,2,4,8", help="scaling rows; '' for none")
    parser.add_argument("--threads-per-process", type=at_least_one, default=4)
    parser.add_argument("--calls-per-process", type=at_least_one, default=100)
    parser.add_argument("--before", default="", help="a checkout to run as 'before'")
    parser.add_argument(
        "--shared-processes", default="8", help="rows with the pace shared in Redis; '' for none"
    )
    options = parser.parse_args()
    options.arms = [a for a in options.arms.split(",") if a]
    try:
        options.processes = [at_least_one(n) for n in options.processes.split(",") if n]
        options.shared_processes = [
            at_least_one(n) for n in options.shared_processes.split(",") if n
        ]
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(f"--processes and --shared-processes: {exc}")
    unknown = set(options.arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arms: {', '.join(sorted(unknown))}")
    print(HEADER, flush=True)
    result = run(options)
    common.emit(result, "api_throttle")
    print(HEADER)
    for arm in result["arms"]:
        print(table_row(arm))
    print(FOOTNOTE)
    if result["scaling"]:
        print(SCALING_HEADER)
        for row in result["scaling"]:
            print(scaling_row(row))
    r = result["rate"]
    print(
        f"sustainable: {r['sustainable_per_s']}/s (leak {r['leak_bound_per_s']}/s, "
        f"concurrency {r['max_in_flight']} in flight = {r['concurrency_bound_per_s']}/s)"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(common.ROOT))
    main()
