#!/usr/bin/env python
"""Run the example site against a fake Canvas (or a real one): what ``make demo`` does.

It migrates the SQLite database, creates the user demo / demo-password, starts the fake
Canvas on http://127.0.0.1:8001 and the site on http://127.0.0.1:8000, and stops both on
Ctrl-C or SIGTERM.

With ``CANVAS_OAUTH_CLIENT_ID``, ``CANVAS_OAUTH_CLIENT_SECRET`` and
``CANVAS_OAUTH_CANVAS_DOMAIN`` all set, the site talks to that Canvas and no fake starts
(the developer key must allow the redirect URI http://127.0.0.1:8000/oauth/oauth-callback).
``DEMO_SITE_PORT`` and ``DEMO_CANVAS_PORT`` move the two servers; ``DEMO_DATABASE``
points the site at another SQLite file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canvas_oauth.testing import FakeCanvas

HERE = Path(__file__).resolve().parent
MANAGE = HERE / "manage.py"
HOST = "127.0.0.1"
DEFAULT_SITE_PORT = 8000
DEFAULT_CANVAS_PORT = 8001
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
CANVAS_VARS = ("CANVAS_OAUTH_CLIENT_ID", "CANVAS_OAUTH_CLIENT_SECRET", "CANVAS_OAUTH_CANVAS_DOMAIN")
# The fake Canvas's developer key; example/demo_site/settings.py has the same defaults.
FAKE_CLIENT_ID = "10000000000001"
FAKE_CLIENT_SECRET = "fake-canvas-secret-" + "x" * 45


# Three of the example page's small pages (demo_site.views.COURSES_PER_PAGE).
DEMO_COURSES = 12


def demo_fake(callback_url: str, client_id: str, client_secret: str) -> FakeCanvas:
    """Return the demo's fake Canvas: the site's key, its callback, Ada's courses."""
    from canvas_oauth.testing import FakeCanvas

    fake = FakeCanvas(
        client_id=client_id,
        client_secret=client_secret,
        client_name="canvas_oauth demo",
        redirect_uris=[callback_url],
    )
    fake.add_courses(n=DEMO_COURSES)
    return fake


@dataclass(frozen=True)
class DemoConfig:
    """What to start, and the Canvas settings the site gets."""

    site_port: int
    canvas_port: int
    client_id: str
    client_secret: str
    canvas_domain: str
    fake: bool

    @property
    def site_url(self) -> str:
        return f"http://{HOST}:{self.site_port}/"

    @property
    def callback_url(self) -> str:
        """Return the site's OAuth callback: the redirect URI the developer key must list."""
        return f"{self.site_url}oauth/oauth-callback"


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"{name} must be a port number, not {value!r}")
    return int(value)


def demo_config(environ: Mapping[str, str]) -> DemoConfig:
    """Decide from ``environ`` between a real Canvas (all three settings set) and the fake."""
    site_port = _port(environ, "DEMO_SITE_PORT", DEFAULT_SITE_PORT)
    canvas_port = _port(environ, "DEMO_CANVAS_PORT", DEFAULT_CANVAS_PORT)
    if all(environ.get(name, "").strip() for name in CANVAS_VARS):
        return DemoConfig(
            site_port=site_port,
            canvas_port=canvas_port,
            client_id=environ["CANVAS_OAUTH_CLIENT_ID"].strip(),
            client_secret=environ["CANVAS_OAUTH_CLIENT_SECRET"].strip(),
            canvas_domain=environ["CANVAS_OAUTH_CANVAS_DOMAIN"].strip(),
            fake=False,
        )
    return DemoConfig(
        site_port=site_port,
        canvas_port=canvas_port,
        client_id=FAKE_CLIENT_ID,
        client_secret=FAKE_CLIENT_SECRET,
        canvas_domain=f"http://{HOST}:{canvas_port}",
        fake=True,
    )


def partially_set(environ: Mapping[str, str]) -> list[str]:
    """Return the Canvas variables that are set when not all of them are (else [])."""
    present = [name for name in CANVAS_VARS if environ.get(name, "").strip()]
    return present if len(present) < len(CANVAS_VARS) else []


def site_environ(config: DemoConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment of the site's processes: ``environ`` plus the Canvas settings."""
    env = dict(environ)
    env.update(
        DJANGO_SETTINGS_MODULE="demo_site.settings",
        CANVAS_OAUTH_CLIENT_ID=config.client_id,
        CANVAS_OAUTH_CLIENT_SECRET=config.client_secret,
        CANVAS_OAUTH_CANVAS_DOMAIN=config.canvas_domain,
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(*args: str) -> list[str]:
    """Return the command line of ``manage.py`` with ``args``, run by this Python."""
    return [sys.executable, str(MANAGE), *args]


def port_is_free(port: int) -> bool:
    """Tell whether a server could listen on ``port`` of the loopback address."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """Wait until something listens on ``port``; False if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class _Stop(Exception):
    """Raised in the main thread by SIGTERM, to stop like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def main() -> int:
    """Run the demo until Ctrl-C or SIGTERM; return the exit status."""
    config = demo_config(os.environ)
    if partial := partially_set(os.environ):
        print(
            f"Only {', '.join(partial)} set: using the fake Canvas. "
            f"Set all of {', '.join(CANVAS_VARS)} to use a real Canvas.",
            flush=True,
        )
    env = site_environ(config, os.environ)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C stops the demo even when started from a shell that ignores SIGINT in
    # background jobs; the site's process then gets the default handling too.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    live = None
    site: subprocess.Popen[bytes] | None = None
    try:
        if not port_is_free(config.site_port):
            print(f"Port {config.site_port} is in use: set DEMO_SITE_PORT to a free port.")
            return 1
        for args in (
            ("migrate", "--noinput", "-v", "0"),
            ("demo_user", DEMO_USERNAME, DEMO_PASSWORD),
        ):
            # Our own manage.py, run by this Python: no untrusted input (S603).
            subprocess.run(manage(*args), env=env, check=True)  # noqa: S603
        if config.fake:
            from canvas_oauth.testing import LiveFakeCanvas

            fake = demo_fake(config.callback_url, config.client_id, config.client_secret)
            try:
                live = LiveFakeCanvas(fake, host=HOST, port=config.canvas_port).start()
            except OSError as exc:
                print(f"Cannot start the fake Canvas on port {config.canvas_port}: {exc}")
                print("Set DEMO_CANVAS_PORT to a free port.")
                return 1
            print(f"Fake Canvas running on {live.url} (you are Ada Lovelace there)", flush=True)
        else:
            print(f"Using the Canvas at {config.canvas_domain}", flush=True)

        site = subprocess.Popen(  # noqa: S603
            manage("runserver", f"{HOST}:{config.site_port}", "--noreload"), env=env
        )
        if not wait_for_port(config.site_port, site):
            print(f"The site did not start on port {config.site_port}.")
            return 1
        print(
            f"\n  Open {config.site_url} and log in as {DEMO_USERNAME} / {DEMO_PASSWORD}\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        site.wait()
        return site.returncode
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        if site is not None and site.poll() is None:
            site.terminate()
            try:
                site.wait(timeout=10)
            except subprocess.TimeoutExpired:
                site.kill()
                site.wait()
        if live is not None:
            live.stop()
        print("Demo stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
