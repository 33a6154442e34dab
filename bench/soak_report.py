"""The soak's figures, from what the run logged; and its section of bench/RESULTS.md.

Pure functions of plain data, so tests can feed them a made-up run.

A request "has a refresh of its own" when its user's stored token had expired and was
not yet replaced (nor deleted) when it started, or when a refresh call of its user was
at Canvas while it ran. Every other request should be as fast as on a quiet day.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timezone

from bench.common import percentile

GOAL_P99_MS = 200.0


def _latency(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
    }


def _resolved_at(run: dict, user: int) -> float:
    """When user's expired token stopped needing a refresh: replaced, deleted, or never."""
    state = run["end_state"][user]
    expiry = run["expiries"][user]
    if state["row"]:
        updated = state["updated"]
        return updated if updated is not None and updated >= expiry else math.inf
    dead = [c["end"] for c in run["refresh_log"] if c["user"] == user and c["outcome"] == "dead"]
    return min(dead) if dead else math.inf


def summarize(run: dict) -> dict:
    """Turn one run's logs into the soak's figures.

    ``run`` holds: ``t0`` and ``seconds`` (the measured window, wall clock), ``expiries``
    (per user index, when the stored token expires), ``pks`` (user index -> pk),
    ``rows`` (the load generator's), ``refresh_log`` and ``owner`` (the fake's), and
    ``end_state`` (per user index: ``row`` still stored, its ``updated`` time,
    ``refresh_matches`` Canvas's, and ``alive`` at Canvas).
    """
    t0, seconds = run["t0"], run["seconds"]
    end = t0 + seconds
    rows = [r for r in run["rows"] if t0 <= r[1] < end]
    users = range(len(run["expiries"]))
    calls_of: dict[int, list[dict]] = {u: [] for u in users}
    for call in run["refresh_log"]:
        if call["user"] in calls_of:
            calls_of[call["user"]].append(call)
    resolved = {u: _resolved_at(run, u) for u in users}

    statuses: Counter[str] = Counter()
    per_second = [0] * int(seconds)
    own, other = [], []
    cross_user = unknown = 0
    due: set[int] = set()
    for user, started, latency_ms, status, pk, token, error in rows:
        statuses[str(status) if status else f"no answer ({error})"] += 1
        finished = started + latency_ms / 1000
        if status and finished < end:
            per_second[int(finished - t0)] += 1
        expiry = run["expiries"][user]
        if started >= expiry:
            due.add(user)
        overlaps = any(started <= c["end"] and finished >= c["start"] for c in calls_of[user])
        (own if expiry <= started < resolved[user] or overlaps else other).append(latency_ms)
        if status == 200:
            owner = run["owner"].get(token)
            if owner is None:
                unknown += 1
            elif owner != user or pk != str(run["pks"][user]):
                cross_user += 1

    outcomes = Counter(c["outcome"] for c in run["refresh_log"])
    ok_per_user = Counter(c["user"] for c in run["refresh_log"] if c["outcome"] == "ok")
    overlapping = 0
    for calls in calls_of.values():
        busy_until = -math.inf  # a call that starts before the earlier ones ended overlaps
        for call in sorted(calls, key=lambda c: c["start"]):
            overlapping += call["start"] < busy_until
            busy_until = max(busy_until, call["end"])
    state = run["end_state"]
    lost = [u for u in users if not state[u]["row"] and state[u]["alive"]]
    # A dead token nobody asked for since keeps its row: the app cannot know yet.
    mismatched = [
        u
        for u in users
        if state[u]["row"] and state[u]["alive"] and not state[u]["refresh_matches"]
    ]
    never = [u for u in due if state[u]["row"] and resolved[u] == math.inf]
    total_calls = sum(outcomes.values())
    return {
        "requests": len(rows),
        "statuses": dict(sorted(statuses.items())),
        "responses_per_second": {
            "min": min(per_second, default=0),
            "median": sorted(per_second)[len(per_second) // 2] if per_second else 0,
            "max": max(per_second, default=0),
        },
        "seconds_without_responses": sum(1 for n in per_second if n == 0),
        "latency_own_refresh": _latency(own),
        "latency_no_refresh": _latency(other),
        "expiries_due": len(due),
        "refresh_calls": total_calls,
        "refresh_outcomes": dict(sorted(outcomes.items())),
        "refresh_calls_per_expiry": round(total_calls / len(due), 2) if due else None,
        "users_refreshed_more_than_once": sum(1 for n in ok_per_user.values() if n > 1),
        "overlapping_refresh_calls": overlapping,
        "due_never_refreshed": len(never),
        "lost_tokens": len(lost),
        "refresh_token_mismatches": len(mismatched),
        "cross_user_tokens": cross_user,
        "unknown_tokens": unknown,
    }


def goals(s: dict) -> dict[str, bool]:
    """The goal lines of issue #12, each met or not."""
    p99 = s["latency_no_refresh"]["p99_ms"]
    return {
        "no second without responses": s["seconds_without_responses"] == 0,
        f"p99 of requests with no refresh of their own < {GOAL_P99_MS:.0f} ms": p99 is not None
        and p99 < GOAL_P99_MS,
        "zero lost tokens": s["lost_tokens"] == 0 and s["refresh_token_mismatches"] == 0,
        "zero cross-user tokens": s["cross_user_tokens"] == 0 and s["unknown_tokens"] == 0,
        "one refresh per expiry": s["users_refreshed_more_than_once"] == 0
        and s["overlapping_refresh_calls"] == 0,
        "zero 500s": s["statuses"].get("500", 0) == 0,
    }


def _lat(d: dict) -> str:
    if not d["count"]:
        return "none"
    return (
        f"{d['count']:,} requests: p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, max {d['max_ms']} ms"
    )


def render(s: dict, meta: dict) -> str:
    """One run's slot: the table, the goal lines, and how it ran."""
    rps = s["responses_per_second"]
    outcomes = ", ".join(f"{k} {v}" for k, v in s["refresh_outcomes"].items()) or "none"
    statuses = ", ".join(f"{k}: {v:,}" for k, v in s["statuses"].items())
    lines = [
        f"**{meta['database']}**, {meta['server']}; {meta['seconds']} s measured, "
        f"{meta['clients']} clients; canvas_oauth at {meta['commit']}; {meta['date']}"
        + (" (**--quick smoke run**)" if meta.get("quick") else ""),
        "",
        "| measure | result |",
        "|---|---|",
        f"| requests | {s['requests']:,} ({s['requests'] / meta['seconds']:.0f}/s; responses "
        f"per second min {rps['min']}, median {rps['median']}, max {rps['max']}) |",
        f"| statuses | {statuses} |",
        f"| seconds without responses | {s['seconds_without_responses']} of {meta['seconds']} |",
        f"| latency, requests with a refresh of their own | {_lat(s['latency_own_refresh'])} |",
        f"| latency, requests with no refresh of their own | {_lat(s['latency_no_refresh'])} |",
        f"| refresh calls per expiry | {s['refresh_calls_per_expiry']} ({s['refresh_calls']} "
        f"calls for {s['expiries_due']} expired tokens that were asked for: {outcomes}) |",
        f"| users refreshed twice / overlapping refresh calls | "
        f"{s['users_refreshed_more_than_once']} / {s['overlapping_refresh_calls']} |",
        f"| expired, asked for, never refreshed by the end | {s['due_never_refreshed']} |",
        f"| lost tokens (deleted, yet alive at Canvas) / refresh token not Canvas's | "
        f"{s['lost_tokens']} / {s['refresh_token_mismatches']} |",
        f"| cross-user tokens / tokens Canvas never issued | {s['cross_user_tokens']} / "
        f"{s['unknown_tokens']} |",
        "",
        "Goals: "
        + "; ".join(f"{name}: **{'met' if ok else 'missed'}**" for name, ok in goals(s).items())
        + ".",
        "",
        f"Machine: {meta.get('machine', 'not recorded')}. Load average before / after: "
        f"{meta['loadavg_before']} / {meta['loadavg_after']}.",
    ]
    return "\n".join(lines)


SECTION_START, SECTION_END = "<!-- soak -->", "<!-- /soak -->"


def slot_marks(label: str, db: str) -> tuple[str, str]:
    return f"<!-- soak:{label}:{db} -->", f"<!-- /soak:{label}:{db} -->"


def put_slot(results_md: str, label: str, db: str, body: str, skeleton: str) -> str:
    """Return RESULTS.md with the slot of (``label``, ``db``) holding ``body``.

    The soak's section (``skeleton``) is appended first when the file has none.
    """
    if SECTION_START not in results_md:
        results_md = results_md.rstrip("\n") + "\n\n" + skeleton.strip("\n") + "\n"
    start, end = slot_marks(label, db)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(results_md):
        raise ValueError(f"bench/RESULTS.md has no slot {start}")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", results_md, count=1)


def soak_section(results_md: str) -> str:
    """Return the soak's section of RESULTS.md (empty if none), for `make bench` to keep."""
    start = results_md.find(SECTION_START)
    stop = results_md.find(SECTION_END)
    if start < 0 or stop < start:
        return ""
    return results_md[start : stop + len(SECTION_END)] + "\n"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
