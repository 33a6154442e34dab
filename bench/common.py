"""Shared helpers: database set-up, fixtures in bulk, statistics, JSON results.

Every bench script runs in its own process (Django settings are per process) with
``BENCH_DATABASE_URL`` naming the database; ``prepare`` drops and re-creates it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/canvas_oauth_bench")
SQLITE_URL = f"sqlite:///{OUT / 'bench.sqlite3'}"
DOMAIN = "canvas.example.edu"
# What a tool that reads courses and rosters asks for (bench/settings.py requires them, and
# every stored row carries them, so the scope check of get_oauth_token has work to do).
SCOPES = (
    "url:GET|/api/v1/users/:id",
    "url:GET|/api/v1/courses",
    "url:GET|/api/v1/courses/:id",
    "url:GET|/api/v1/courses/:course_id/enrollments",
    "url:POST|/api/v1/courses/:course_id/enrollments",
    "url:GET|/api/v1/courses/:course_id/sections",
)


def url_for(db: str, suffix: str = "") -> str:
    """The database URL of ``db`` ("sqlite" or "postgres"), one database per ``suffix``."""
    if db == "sqlite":
        return f"sqlite:///{OUT / f'bench{suffix}.sqlite3'}"
    return PG_URL + suffix


def recreate_database(url: str) -> None:
    """Drop and create the database ``url`` names (a file for SQLite)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = Path(parts.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + extra).unlink(missing_ok=True)
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(
        admin_url.replace("postgres://", "postgresql://", 1), autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, *, fresh: bool = True, **env: str) -> None:
    """Point the bench settings at ``url``, optionally re-create it, and migrate."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["BENCH_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.update(env)
    if fresh:
        recreate_database(url)
    import django

    django.setup()
    if fresh:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def db_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            return "SQLite " + cursor.fetchone()[0]
        cursor.execute("show server_version")
        return "PostgreSQL " + cursor.fetchone()[0]


def make_users(count: int, prefix: str = "u", batch: int = 5000) -> list[int]:
    """Create ``count`` users fast (unusable passwords, no hashing); return their pks."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = [User(username=f"{prefix}{i}", password="!") for i in range(count)]
    User.objects.bulk_create(users, batch_size=batch)
    return list(
        User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True)
    )


def make_tokens(
    user_pks: list[int],
    *,
    expires_in: timedelta = timedelta(hours=1),
    domain: str = DOMAIN,
    batch: int = 5000,
) -> None:
    """Store one token per user, encrypted up front (``Ciphertext`` skips re-encryption).

    The rows look like real ones: Canvas-length tokens, an expiry, the granted scopes.
    """
    from django.utils import timezone

    from canvas_oauth import crypto
    from canvas_oauth.fields import Ciphertext
    from canvas_oauth.models import CanvasOAuth2Token

    expires = timezone.now() + expires_in
    for start in range(0, len(user_pks), batch):
        rows = [
            CanvasOAuth2Token(
                user_id=pk,
                domain=domain,
                access_token=Ciphertext(crypto.encrypt(f"1~{pk:08d}" + "a" * 56)),
                refresh_token=Ciphertext(crypto.encrypt(f"1~{pk:08d}" + "r" * 56)),
                expires=expires,
                canvas_user_id=pk,
                canvas_user_name=f"User {pk}",
                scopes=" ".join(SCOPES),
            )
            for pk in user_pks[start : start + batch]
        ]
        CanvasOAuth2Token.objects.bulk_create(rows)


def session_cookie(user) -> str:
    """Log ``user`` in with a new database session; return the Cookie header for it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def analyze() -> None:
    """Refresh planner statistics, as autovacuum would have by the time anyone measures."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(result: dict, name: str) -> None:
    """Write ``result`` to bench/out/<name>.json and print it."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str), flush=True)


def user_with_fake_token(fake, origin: str, username: str, hours: float = 2.0):
    """Create ``username`` and store a token ``fake`` issued, valid ``hours``; return both.

    ``origin`` is where the fake is served (its domain key is what the token row names).
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from canvas_oauth import conf
    from canvas_oauth.models import CanvasOAuth2Token

    grant = fake.issue_token()
    user = get_user_model().objects.create_user(username, password="pw")
    CanvasOAuth2Token.objects.create(
        user=user,
        domain=conf.domain_key(origin),
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires=timezone.now() + timedelta(hours=hours),
    )
    return user, grant


def run_meta(command: str) -> dict:
    """Where and when a part runs: for a section it writes into RESULTS.md itself."""
    import platform
    import subprocess
    from datetime import datetime, timezone

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "canvas_oauth")
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "git": git("rev-parse", "--short", "HEAD") + (" (uncommitted changes)" if dirty else ""),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "command": command,
    }


def splice_results(name: str, section: str) -> None:
    """Put ``section`` between the ``<!-- name -->`` markers of bench/RESULTS.md.

    Without such a section yet, it goes before the soak's section, or at the end.
    """
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    old = results_section(text, name)
    if old:
        text = text.replace(old.rstrip("\n"), section.rstrip("\n"), 1)
    else:
        at = text.find("<!-- soak -->")
        at = len(text) if at < 0 else at
        text = text[:at].rstrip("\n") + "\n\n" + section + "\n" + text[at:]
    path.write_text(text)


def record(result: dict, name: str, render, meta: dict, *, to_results: bool) -> None:
    """Emit ``result`` as ``name``; with ``to_results``, splice ``render(result, meta)``,
    a section between ``<!-- name -->`` markers, into bench/RESULTS.md."""
    emit(result, name)
    if to_results:
        splice_results(name, render(result, meta))


def results_section(text: str, name: str) -> str:
    """Return the ``<!-- name -->`` section of RESULTS.md's ``text``, markers included."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    i, j = text.find(start), text.find(end)
    return text[i : j + len(end)] + "\n" if 0 <= i < j else ""
