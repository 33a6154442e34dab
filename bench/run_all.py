"""Run every benchmark and write bench/RESULTS.md (``make bench``).

Each part runs in its own process; each writes bench/out/<part>.json, which this script
turns into the report. ``--quick`` makes a short smoke run (smaller numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"


def sh(*args: str) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    import django

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": sh(sys.executable, "-m", "gunicorn", "--version"),
        "wrk": (sh("wrk", "--version") or "").splitlines()[0] if shutil.which("wrk") else "missing",
        "git": sh("git", "rev-parse", "--short", "HEAD")
        + (
            " (with uncommitted changes)"
            if sh("git", "status", "--porcelain", "canvas_oauth")
            else ""
        ),
    }


PARTS = {
    "hot_path_sqlite": ["-m", "bench.hot_path", "--db", "sqlite"],
    "hot_path_postgres": ["-m", "bench.hot_path", "--db", "postgres"],
    "herd_postgres": ["-m", "bench.herd", "--db", "postgres"],
    "throughput": ["-m", "bench.throughput"],
    "scale_postgres": ["-m", "bench.scale", "--db", "postgres"],
    "api_throttle": ["-m", "bench.api_throttle"],
    "api_pages": ["-m", "bench.api_pages"],
    # These two write their own sections of RESULTS.md (issue #21).
    "api_fanout": ["-m", "bench.api_fanout", "--record"],
    "hot_path_ab": ["-m", "bench.hot_path_ab", "--record"],
}
SELF_RECORDED = ("api_fanout", "hot_path_ab")
QUICK = {
    "hot_path_sqlite": ["--iterations", "300"],
    "hot_path_postgres": ["--iterations", "300"],
    "herd_postgres": ["--repeats", "1"],
    "throughput": ["--seconds", "2", "--rounds", "1"],
    "scale_postgres": ["--rows", "2000", "--iterations", "300"],
    "api_throttle": ["--calls", "400"],
    "api_pages": ["--rounds", "1"],
    "api_fanout": ["--courses", "40"],
    "hot_path_ab": ["--rounds", "1", "--iterations", "300"],
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=list(PARTS))
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    load_before = os.getloadavg()
    commands, failed = {}, []
    for name, args in PARTS.items():
        if options.only and name not in options.only:
            continue
        argv = [sys.executable, *args, *(QUICK[name] if options.quick else [])]
        commands[name] = " ".join(["PYTHONPATH=.", ".venv/bin/python", *argv[1:]])
        print(f"== {name}: {commands[name]}", flush=True)
        t0 = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        print(
            f"   {'ok' if done.returncode == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s",
            flush=True,
        )
        if done.returncode:
            failed.append(name)
    results = {}
    for name in PARTS:
        path = OUT / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    meta = {
        "machine": machine(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": round(time.monotonic() - started),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "commands": commands,
        "quick": options.quick,
    }
    (OUT / "meta.json").write_text(json.dumps(meta, indent=2))
    from bench import common, report, soak_report

    results_md = ROOT / "bench" / "RESULTS.md"
    previous = results_md.read_text() if results_md.exists() else ""
    # The API parts (issue #13) have a section of their own: written when they ran, kept
    # as it was when they did not.
    ran_api = [k for k in report.API_PARTS if k in commands]
    api = (
        report.render_api(meta, {k: results[k] for k in ran_api if k in results})
        if ran_api
        else report.api_section(previous)
    )
    if previous and commands and set(commands) <= {*report.API_PARTS, *SELF_RECORDED}:
        # Only API parts ran: every other section stays as the last full run left it.
        results_md.write_text(report.splice_api(previous, api))
        print(f"updated the API section of bench/RESULTS.md in {meta['total_seconds']} s")
        return 1 if failed else 0
    # The soak (`make soak`) keeps its own section; a bench run leaves it as it was.
    soak = soak_report.soak_section(previous) if previous else ""
    kept = [common.results_section(previous, name) for name in SELF_RECORDED]
    own = "".join("\n" + section for section in kept if section)
    results_md.write_text(
        report.render(meta, results)
        + ("\n" + api if api else "")
        + own
        + ("\n" + soak if soak else "")
    )
    print(f"wrote bench/RESULTS.md in {meta['total_seconds']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
