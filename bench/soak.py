"""The soak of issue #12: gunicorn under load while Canvas is slow and failing.

    python -m bench.soak [--db postgres sqlite] [--seconds 90] [--quick] [--record before]

For each database: a fake Canvas on loopback fails 10% of refresh calls (a third each:
500, a garbage body, an answer later than CANVAS_OAUTH_TIMEOUT) and has revoked 1% of
the refresh tokens; 300 users hold tokens that expire one after another across the
measured window; gunicorn (PostgreSQL: 2 workers x 4 threads; SQLite: 1 x 4) serves a
view that calls get_oauth_token; bench/soak_load.py drives it with a fixed number of
clients for a fixed time. The figures come from bench/soak_report.py. ``--record``
writes them into their slot of bench/RESULTS.md; without it they are only printed.
The databases are created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench import common, serve, soak_report
from bench.soak_canvas import SoakCanvas

USERS = 300
DEAD_SHARE = 0.01
SERVERS = {"postgres": (2, 4), "sqlite": (1, 4)}
RESULTS = common.ROOT / "bench" / "RESULTS.md"
SKELETON = common.ROOT / "bench" / "soak_section.md"


def database_url(db: str, workdir: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{workdir / 'soak.sqlite3'}"
    return common.PG_URL.rsplit("/", 1)[0] + "/canvas_oauth_soak"


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    import psycopg

    admin_url = url.rsplit("/", 1)[0].replace("postgres://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "canvas_oauth_soak" WITH (FORCE)')


def prepare(fake: SoakCanvas, domain: str, seed: int) -> tuple[list, list[str], set[int]]:
    """Create the users, their tokens (Canvas's and ours) and sessions; revoke 1%."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from canvas_oauth.models import CanvasOAuth2Token

    User = get_user_model()
    pks = common.make_users(USERS, prefix="soak")
    users = {u.pk: u for u in User.objects.filter(pk__in=pks)}
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    with transaction.atomic():
        for index, pk in enumerate(pks):
            grant = fake.add_soak_user(index)
            CanvasOAuth2Token.objects.create(
                user_id=pk,
                domain=domain,
                access_token=grant["access_token"],
                refresh_token=grant["refresh_token"],
                expires=later,  # until the run schedules the expiries
                canvas_user_id=grant["user"]["id"],
            )
        cookies = [common.session_cookie(users[pk]) for pk in pks]
    dead = set(random.Random(seed).sample(range(USERS), max(1, round(USERS * DEAD_SHARE))))
    for index in dead:
        fake.declare_dead(index)
    return pks, cookies, dead


def schedule_expiries(pks: list, t0: float, seconds: float, seed: int) -> list[float]:
    """Spread the tokens' expiries evenly over the window, in a random order of users."""
    from django.db import transaction

    from canvas_oauth.models import CanvasOAuth2Token

    order = list(range(len(pks)))
    random.Random(seed + 1).shuffle(order)
    expiries = [0.0] * len(pks)
    for slot, index in enumerate(order):
        expiries[index] = t0 + seconds * (slot + 0.5) / len(pks)
    with transaction.atomic():
        for index, pk in enumerate(pks):
            CanvasOAuth2Token.objects.filter(user_id=pk).update(
                expires=datetime.fromtimestamp(expiries[index], timezone.utc)
            )
    return expiries


def end_state(fake: SoakCanvas, pks: list) -> list[dict]:
    from canvas_oauth.models import CanvasOAuth2Token

    rows = {t.user_id: t for t in CanvasOAuth2Token.objects.filter(user_id__in=pks)}
    state = []
    for index, pk in enumerate(pks):
        row = rows.get(pk)
        canvas_refresh = fake.refresh_token_of(index)
        state.append(
            {
                "row": row is not None,
                "updated": row.updated_on.timestamp() if row else None,
                "refresh_matches": row is not None and row.refresh_token == canvas_refresh,
                "alive": canvas_refresh is not None,
            }
        )
    return state


def run_one(db: str, options: argparse.Namespace, workdir: Path) -> tuple[dict, dict]:
    from canvas_oauth.testing import LiveFakeCanvas

    url = database_url(db, workdir)
    common.setup_django(url)
    from django.conf import settings
    from django.db import connection

    from canvas_oauth import conf

    fake = SoakCanvas(
        timeout=options.canvas_timeout,
        client_id=settings.CANVAS_OAUTH_CLIENT_ID,
        client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
    )
    fake.latency["token"] = options.canvas_latency
    live = LiveFakeCanvas(fake).start()
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = live.url
    domain = conf.domain_key(live.url)
    workers, threads = SERVERS[db]
    log_path = common.OUT / f"soak_{db}_gunicorn.log"
    server = None
    try:
        pks, cookies, dead = prepare(fake, domain, options.seed)
        database = common.db_version()
        connection.close()
        port = serve.free_port()
        with open(log_path, "w") as log:
            server = serve.start_gunicorn(
                port,
                workers,
                threads,
                {
                    "BENCH_DATABASE_URL": url,
                    "BENCH_CANVAS_DOMAIN": live.url,
                    "BENCH_CANVAS_TIMEOUT": str(options.canvas_timeout),
                },
                log,
            )
        base = f"http://127.0.0.1:{port}"
        serve.wait_until_up(base + "/soak/", cookies[0])
        start_at = time.time() + 1.5  # the load generator's start-up
        t0 = start_at + options.warmup
        expiries = schedule_expiries(pks, t0, options.seconds, options.seed)
        connection.close()
        fake.inject_faults(options.seed)
        plan = {
            "base": base,
            "path": "/soak/",
            "cookies": cookies,
            "start_at": start_at,
            "seconds": options.warmup + options.seconds,
            "clients": options.clients,
            "seed": options.seed,
            "timeout": 30,
        }
        plan_path, rows_path = workdir / f"{db}_plan.json", workdir / f"{db}_rows.json"
        plan_path.write_text(json.dumps(plan))
        load_before = [round(x, 2) for x in os.getloadavg()]
        subprocess.run(
            [sys.executable, "-m", "bench.soak_load", str(plan_path), str(rows_path)],
            cwd=common.ROOT,
            env=dict(os.environ, PYTHONPATH=str(common.ROOT)),
            check=True,
            timeout=options.warmup + options.seconds + 120,
        )
        load_after = [round(x, 2) for x in os.getloadavg()]
        serve.stop(server)
        server = None
        fake.behave()
        run = {
            "t0": t0,
            "seconds": options.seconds,
            "expiries": expiries,
            "pks": pks,
            "rows": json.loads(rows_path.read_text()),
            "refresh_log": list(fake.refresh_log),
            "owner": dict(fake.owner),
            "end_state": end_state(fake, pks),
        }
    finally:
        if server is not None:
            serve.stop(server)
        live.stop()
        connection.close()
    summary = soak_report.summarize(run)
    from bench.run_all import machine

    m = machine()
    meta = {
        "machine": f"{m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python "
        f"{m['python']}, Django {m['django']}, {m['gunicorn']}",
        "database": database,
        "server": f"gunicorn gthread, {workers} worker{'s' if workers > 1 else ''} x "
        f"{threads} threads",
        "seconds": options.seconds,
        "clients": options.clients,
        "commit": commit(),
        "date": soak_report.now(),
        "quick": options.quick,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "dead_at_canvas": len(dead),
        "gunicorn_log_lines": len(log_path.read_text().splitlines()),
    }
    return summary, meta


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=common.ROOT
        ).stdout.strip()

    dirty = git("status", "--porcelain", "canvas_oauth")
    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--quick", action="store_true", help="a 15 s smoke run")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--canvas-latency", type=float, default=0.15)
    parser.add_argument("--canvas-timeout", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--record", choices=("before", "after"))
    parser.add_argument("--only-db", help=argparse.SUPPRESS)  # one database per process
    options = parser.parse_args()
    if options.quick:
        if options.record:
            parser.error("--quick figures are a smoke test; they are not recorded")
        options.seconds = 15
    if options.only_db is None:
        # Django is set up once per process: each database gets a process of its own.
        failed = 0
        for db in options.db:
            print(f"== soak on {db}: {options.seconds} s", flush=True)
            failed |= subprocess.call(
                [sys.executable, "-m", "bench.soak", *sys.argv[1:], "--only-db", db],
                cwd=common.ROOT,
            )
        return failed
    db = options.only_db
    common.OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="canvas_oauth_soak_"))
    try:
        summary, meta = run_one(db, options, workdir)
    finally:
        drop_database(database_url(db, workdir))
        shutil.rmtree(workdir, ignore_errors=True)
    common.emit({"summary": summary, "meta": meta}, f"soak_{db}")
    body = soak_report.render(summary, meta)
    print(body, flush=True)
    if options.record:
        text = RESULTS.read_text() if RESULTS.exists() else ""
        RESULTS.write_text(
            soak_report.put_slot(text, options.record, db, body, SKELETON.read_text())
        )
        print(f"recorded in bench/RESULTS.md ({options.record}, {db})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
