"""Fan-out: 200 course reads on one token, serially and from a pool of threads on one session.

    PYTHONPATH=. .venv/bin/python -m bench.api_fanout [--courses 200] [--threads 8]
        [--latency 0.1] [--record]

A fake Canvas is served on loopback over real HTTP (``LiveFakeCanvas``) with Canvas's
bucket; each API call takes ``--latency`` seconds. One user is enrolled in ``--courses``
courses, and each arm reads every one of them with ``GET /api/v1/courses/:id``:

- ``session_serial``: one ``CanvasSession.for_user(user)``, one call after another;
- ``session_pool``: the same session shared by a ``ThreadPoolExecutor`` of ``--threads``
  threads (the bulk-jobs how-to's ``run_batch``, as written in the docs);
- ``canvasapi_serial``: ``canvasapi.Canvas(base_url, token).get_course(id)``, canvasapi's
  own requester, one after another.

Each arm starts on an empty bucket and a token of its own. Reported: wall time, the
throttled answers Canvas sent (refusals), calls that failed, and the speed-up over
canvasapi. ``--record`` writes the section of bench/RESULTS.md between ``<!-- api_fanout -->``
markers.
"""
# ruff: noqa: RUF001 -- the report writes ratios with a multiplication sign

from __future__ import annotations

import argparse
import os
import time

from bench import common

ARMS = ("session_serial", "session_pool", "canvasapi_serial")
LABELS = {
    "session_serial": "`CanvasSession`, serial",
    "session_pool": "`CanvasSession` shared by a pool of {threads} threads",
    "canvasapi_serial": "canvasapi (own requester), serial",
}
GOAL_SPEEDUP = 6.0


def bulk_helpers() -> dict:
    """The bulk-jobs how-to's code, run from the docs page as the tests run it."""
    from tests.docs_examples import run_block

    namespace: dict = {}
    run_block("howto/bulk-jobs.md", "def run_batch(", namespace)
    return namespace


def run_arm(arm: str, fake, base_url: str, user, ids: list[int], threads: int) -> dict:
    import canvasapi

    from canvas_oauth.api import CanvasSession
    from canvas_oauth.models import CanvasOAuth2Token

    fake.throttle.reset()
    fake.calls.clear()
    grant = fake.issue_token()
    CanvasOAuth2Token.objects.filter(user=user).update(access_token=grant["access_token"])
    helpers = bulk_helpers()
    failed: dict = {}
    started = time.perf_counter()
    if arm == "canvasapi_serial":
        canvas = canvasapi.Canvas(base_url, grant["access_token"])
        for course_id in ids:
            try:
                canvas.get_course(course_id)
            except canvasapi.exceptions.CanvasException as exc:
                failed[course_id] = exc
    else:
        with CanvasSession.for_user(user) as session:
            if arm == "session_serial":
                for course_id in ids:
                    try:
                        helpers["read_course"](session, course_id)
                    except Exception as exc:  # counted: the run goes on
                        failed[course_id] = exc
            else:
                _, failed = helpers["run_batch"](
                    session, ids, helpers["read_course"], threads=threads
                )
    wall = time.perf_counter() - started
    return {
        "arm": arm,
        "label": LABELS[arm].format(threads=threads),
        "reads": len(ids),
        "failed": len(failed),
        "refusals": fake.calls["throttled"],
        "wall_s": round(wall, 2),
    }


def run(options) -> dict:
    import warnings

    from canvas_oauth.testing import LiveFakeCanvas
    from canvas_oauth.testing.pytest_plugin import fake_from_settings

    common.setup_django(common.url_for("sqlite", "_api_fanout"))
    from django.test import override_settings

    fake = fake_from_settings()
    fake.latency["api"] = options.latency
    live = LiveFakeCanvas(fake).start()
    arms = []
    # canvasapi warns about the http:// origin of a loopback Canvas; the point is taken.
    warnings.filterwarnings("ignore", module="canvasapi")
    try:
        with override_settings(CANVAS_OAUTH_CANVAS_DOMAIN=live.url):
            user, _ = common.user_with_fake_token(fake, live.url, "fanout")
            ids = [c.id for c in fake.add_courses(n=options.courses)]
            for arm in options.arms:
                arms.append(run_arm(arm, fake, live.url, user, ids, options.threads))
                print(arms[-1], flush=True)
    finally:
        live.stop()
    by = {a["arm"]: a for a in arms}
    if "canvasapi_serial" in by:
        for a in arms:
            a["speedup_over_canvasapi"] = round(by["canvasapi_serial"]["wall_s"] / a["wall_s"], 2)
    return {
        "courses": options.courses,
        "threads": options.threads,
        "api_latency_ms": options.latency * 1000,
        "arms": arms,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def render(result: dict, meta: dict) -> str:
    """The RESULTS.md section of this run, markers included."""
    lines = [
        "<!-- api_fanout -->",
        "## Fan-out: course reads on one token (issue #21)",
        "",
        f"Run {meta['date']} on {meta['machine']}, canvas_oauth at {meta['git']}; load average "
        f"before / after {meta['loadavg_before']} / {result['loadavg']} (the machine is "
        "shared with other jobs).",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"{result['courses']} reads of `GET /api/v1/courses/:id`, one user's token, from the "
        "fake Canvas on loopback with Canvas's bucket (hwm 600, 50 units up front per call "
        f"in flight, leak 10 units/s); each call takes {result['api_latency_ms']:.0f} ms. "
        "Each arm starts on an empty bucket with a token of its own. The pool is the "
        "bulk-jobs how-to's `run_batch`, run from the docs page.",
        "",
        "| client | reads | failed | refusals (throttled by Canvas) | wall s | vs canvasapi |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for a in result["arms"]:
        lines.append(
            f"| {a['label']} | {a['reads']} | {a['failed']} | {a['refusals']} | {a['wall_s']} | "
            f"{a.get('speedup_over_canvasapi', '')}× |"
        )
    pool = next((a for a in result["arms"] if a["arm"] == "session_pool"), None)
    if pool and "speedup_over_canvasapi" in pool:
        ok = pool["speedup_over_canvasapi"] >= GOAL_SPEEDUP and pool["refusals"] == 0
        lines += [
            "",
            f"Goal: the pool on one session ≥ {GOAL_SPEEDUP:g}× faster than canvasapi, with 0 "
            f"refusals: {'**met**' if ok else '**missed**'} ({pool['speedup_over_canvasapi']}×, "
            f"{pool['refusals']} refusals, {pool['failed']} failed).",
        ]
    lines.append("<!-- /api_fanout -->")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per API call")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    options = parser.parse_args()
    options.arms = [a for a in options.arms.split(",") if a in ARMS]
    meta = common.run_meta("PYTHONPATH=. .venv/bin/python -m bench.api_fanout")
    common.record(run(options), "api_fanout", render, meta, to_results=options.record)


if __name__ == "__main__":
    main()
