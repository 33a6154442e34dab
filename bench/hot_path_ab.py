"""The hot path before and after a change, in one run: ``bench.hot_path`` on both, alternating.

    PYTHONPATH=. .venv/bin/python -m bench.hot_path_ab [--before 660d6be] [--rounds 2]
        [--iterations 1500] [--record]

``canvas_oauth`` of the ``--before`` commit is unpacked (``git archive``) into a temporary
directory, where that arm runs (first on ``sys.path``); the bench's own code (and its
floor) is this checkout's for both. The two run one after the other, ``--rounds`` times, the order
alternating, each a fresh process on a fresh PostgreSQL database (``BENCH_PG_URL``), so
that drift in a shared machine's load hits both alike. The verdict uses the median of the
rounds' ratios to the floor (the six columns ``get_oauth_token`` reads, by a plain cursor).
``--record`` writes the section of bench/RESULTS.md between ``<!-- hot_path_ab -->``
markers.
"""
# ruff: noqa: RUF001 -- the report writes ratios with a multiplication sign

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO

from bench import common

BEFORE = "660d6be"  # main when issue #21's work began
GOAL = 1.3
PIECES = {
    "decrypt": "Fernet decryption of the access token",
    "decrypt_cached_hit": "the same, remembered (`crypto.decrypt_cached`, a hit)",
    "from_db": "`Model.from_db` of the six columns (`Model.__init__`)",
    "build_without_init": "the same row built without `Model.__init__` (`_build`)",
    "setting_read": "one setting read (`conf.settings.instance_resolver`, unset: default)",
    "domain_key": "one domain normalisation (`conf.domain_key`)",
    "resolve_domain": "the default domain, normalised (`instances.domain_for()`)",
}


def unpack(ref: str, into: str) -> None:
    """Put ``canvas_oauth/`` as of ``ref`` under ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "canvas_oauth"],
        cwd=common.ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def one(label: str, path: str, iterations: int) -> dict:
    name = f"hot_path_ab_{label}"
    # `python -m` puts its working directory first on sys.path: the code under test's.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (path, str(common.ROOT)) if p))
    argv = ["-m", "bench.hot_path", "--db", "postgres", "--iterations", str(iterations)]
    subprocess.run(
        [sys.executable, *argv, "--name", name],
        cwd=path or common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return json.loads((common.OUT / f"{name}.json").read_text())


def run(options) -> dict:
    with tempfile.TemporaryDirectory() as before_dir:
        unpack(options.before, before_dir)
        arms = {"before": before_dir, "after": ""}
        rounds: dict[str, list[dict]] = {"before": [], "after": []}
        for n in range(options.rounds):
            order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
            for label in order:
                rounds[label].append(one(label, arms[label], options.iterations))
                print(label, rounds[label][-1]["ratio_to_raw_select"], flush=True)
    summary = {}
    for label, runs in rounds.items():
        summary[label] = {
            "raw_select_us": [r["median_us"]["raw_select"] for r in runs],
            "get_oauth_token_us": [r["median_us"]["get_oauth_token"] for r in runs],
            "ratios": [r["ratio_to_raw_select"]["get_oauth_token"] for r in runs],
            "ratio_median": round(
                statistics.median(r["ratio_to_raw_select"]["get_oauth_token"] for r in runs), 2
            ),
            "components_median_us": runs[-1]["components_median_us"],
        }
    return {
        "before": options.before,
        "database": rounds["after"][0]["database"],
        "floor_columns": rounds["after"][0]["floor_columns"],
        "iterations": options.iterations,
        "rounds": options.rounds,
        "arms": summary,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def render(result: dict, meta: dict) -> str:
    """The RESULTS.md section of this run, markers included."""
    a, b = result["arms"]["after"], result["arms"]["before"]
    lines = [
        "<!-- hot_path_ab -->",
        "## Hot path before and after issue #21",
        "",
        f"Run {meta['date']} on {meta['machine']}, canvas_oauth at {meta['git']} against "
        f"{result['before']}; load average before / after {meta['loadavg_before']} / "
        f"{result['loadavg']} (the machine is shared with other jobs: read the ratios, which "
        "come from interleaved calls).",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"{result['database']}. `get_oauth_token` with a new request and a new user object per "
        "call, against the floor: the columns it reads "
        f"({', '.join(result['floor_columns'])}), by the same index, fetched with a plain "
        "cursor. The row is a realistic one: Canvas-length tokens, an expiry, six granted "
        "scopes (also required by the settings). Each arm is `bench.hot_path` "
        f"({result['iterations']:,} calls per method, interleaved call by call) in a fresh "
        f"process, {result['rounds']} rounds, the order alternating.",
        "",
        "| code | floor µs (each round) | get_oauth_token µs | ratio (each round) | median ratio |",
        "|---|---|---|---|---:|",
    ]
    for label, arm in (("before", b), ("after", a)):
        lines.append(
            f"| {label} | {', '.join(map(str, arm['raw_select_us']))} | "
            f"{', '.join(map(str, arm['get_oauth_token_us']))} | "
            f"{', '.join(f'{r}×' for r in arm['ratios'])} | {arm['ratio_median']}× |"
        )
    lines += [
        "",
        f"Goal: ≤ {GOAL}× the floor on PostgreSQL: "
        f"{'**met**' if a['ratio_median'] <= GOAL else '**missed**'} ({a['ratio_median']}×; "
        f"before: {b['ratio_median']}×).",
        "",
        "The candidates, each timed right after a round trip to the database (medians, µs):",
        "",
        "| piece | µs |",
        "|---|---:|",
    ]
    for key, label in PIECES.items():
        if key in a["components_median_us"]:
            lines.append(f"| {label} | {a['components_median_us'][key]} |")
    c = a["components_median_us"]
    if "decrypt_cached_hit" in c and "build_without_init" in c:
        lines += [
            "",
            "Kept: remembering decrypted access tokens (about "
            f"{c['decrypt'] - c['decrypt_cached_hit']:.0f} µs a call here, on a hit) and "
            "building the row without `Model.__init__` when no `pre_init`/`post_init` "
            f"receiver listens (about {c['from_db'] - c['build_without_init']:.0f} µs). Not "
            "kept: reading settings once per change, although an unset one costs about "
            f"{c['setting_read']:.0f} µs here: pytest-django restores a `del settings.X` "
            "without sending `setting_changed`, so a cache kept serving the deleted value "
            "(`tests/test_settings.py` failed with it); and one domain normalisation per call "
            f"instead of three (about {c['domain_key']:.0f} µs each, below what any run here "
            "can tell apart).",
        ]
    lines.append("<!-- /hot_path_ab -->")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md")
    options = parser.parse_args()
    meta = common.run_meta(
        "PYTHONPATH=. .venv/bin/python -m bench.hot_path_ab "
        f"--before {options.before} --rounds {options.rounds} --iterations {options.iterations}"
    )
    common.record(run(options), "hot_path_ab", render, meta, to_results=options.record)


if __name__ == "__main__":
    main()
