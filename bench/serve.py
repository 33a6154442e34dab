"""Gunicorn on a loopback port, serving the bench project, for the benches that load it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import IO

from bench import common


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    port: int, workers: int, threads: int, env: dict[str, str], log: IO | None = None
) -> subprocess.Popen:
    """Start gthread workers on 127.0.0.1:``port`` in a session of their own."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bench.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PYTHONPATH=str(common.ROOT), **env
    )
    return subprocess.Popen(
        command, env=env, cwd=common.ROOT, start_new_session=True, stderr=log, stdout=log
    )


def wait_until_up(url: str, cookie: str, tries: int = 100) -> None:
    """Wait until ``url`` answers 200 to a request with ``cookie``."""
    for _ in range(tries):
        try:
            request = urllib.request.Request(url, headers={"Cookie": cookie})
            with urllib.request.urlopen(request, timeout=2) as response:
                assert response.status == 200, response.status
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not come up")


def stop(server: subprocess.Popen) -> None:
    """Stop the gunicorn master and its workers (their own process group)."""
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)
