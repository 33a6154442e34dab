"""The example site in Chromium, against a fake Canvas served on loopback.

The site runs as a real ``runserver`` process on its own SQLite file; the fake Canvas
runs in this process, so the tests can expire its tokens and count its calls. Each step
leaves a screenshot in ``e2e-artifacts/``; with ``CANVAS_OAUTH_E2E_DOCS=1`` the consent
and connected pages are also copied to ``docs/`` for the README.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import (
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas
from canvas_oauth.testing.provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "e2e-artifacts"
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1000, "height": 700}
PASSWORD = "e2e-password"
TOKEN_TABLE = "canvas_oauth_canvasoauth2token"


def _load_run_demo():
    """Import example/run_demo.py (not on sys.path) for its helpers."""
    name = "canvas_oauth_example_run_demo"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "example" / "run_demo.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


run_demo = _load_run_demo()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """The running example site, its database and the fake Canvas behind it."""

    url: str
    fake: FakeCanvas
    database: Path

    def _query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(sql, params).fetchall()

    def stored_expiry(self, username: str) -> list[datetime]:
        """Return when the site's stored tokens of ``username`` expire."""
        rows = self._query(
            f"SELECT t.expires FROM {TOKEN_TABLE} t JOIN auth_user u ON u.id = t.user_id "
            "WHERE u.username = ?",
            username,
        )
        return [datetime.fromisoformat(value).replace(tzinfo=timezone.utc) for (value,) in rows]

    def expire_stored_token(self, username: str) -> None:
        """Make the site believe the access token of ``username`` has expired."""
        self._query(
            f"UPDATE {TOKEN_TABLE} SET expires = '2000-01-01 00:00:00' "
            "WHERE user_id = (SELECT id FROM auth_user WHERE username = ?)",
            username,
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ARTIFACTS.mkdir(exist_ok=True)
    site_port = free_port()
    fake = run_demo.demo_fake(
        f"http://127.0.0.1:{site_port}/oauth/oauth-callback",
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
    )
    with LiveFakeCanvas(fake) as live:
        database = tmp_path_factory.mktemp("site") / "db.sqlite3"
        config = run_demo.DemoConfig(
            site_port=site_port,
            canvas_port=live.port,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            canvas_domain=live.url,
            fake=True,
        )
        env = run_demo.site_environ(config, {**os.environ, "DEMO_DATABASE": str(database)})
        for args in (
            ("migrate", "--noinput", "-v", "0"),
            ("demo_user", "demo", PASSWORD),
            ("demo_user", "grace", PASSWORD),
            ("demo_user", "ada", PASSWORD),
            ("demo_user", "alan", PASSWORD),
            ("demo_user", "joan", PASSWORD),
        ):
            subprocess.run(run_demo.manage(*args), env=env, check=True, capture_output=True)
        with open(ARTIFACTS / "site.log", "wb") as log:
            server = subprocess.Popen(
                run_demo.manage("runserver", f"127.0.0.1:{config.site_port}", "--noreload"),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert run_demo.wait_for_port(config.site_port, server), (
                    "see e2e-artifacts/site.log"
                )
                yield Site(url=config.site_url.rstrip("/"), fake=fake, database=database)
            finally:
                server.terminate()
                server.wait(timeout=10)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as p:
        yield p


@pytest.fixture
def new_page(playwright: Playwright, tmp_path: Path) -> Iterator[Callable[[], Page]]:
    """Open pages in a fresh Chromium profile: no cookies, no Django session."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path / f"profile-{len(contexts)}",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        return context.pages[0] if context.pages else context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str, docs_name: str | None = None) -> None:
    path = ARTIFACTS / f"{name}.png"
    page.bring_to_front()  # with a popup open, Chromium may fail to capture the other window
    page.screenshot(path=path)
    if docs_name and os.environ.get("CANVAS_OAUTH_E2E_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / docs_name)


def log_in(page: Page, site: Site, username: str, path: str = "/") -> None:
    """Open ``path`` (the home page), get sent to the login page, and log in."""
    page.goto(site.url + path)
    expect(page).to_have_url(site.url + "/accounts/login/?next=" + path)
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login")


def expect_consent_page(page: Page, site: Site) -> None:
    expect(page).to_have_url(
        re.compile("^" + re.escape(site.fake.base_url + "/login/oauth2/confirm") + "$")
    )
    expect(page.locator("h1")).to_have_text(
        "canvas_oauth demo is requesting access to your account."
    )


def expect_connected(page: Page, site: Site) -> None:
    expect(page).to_have_url(site.url + "/")
    expect(page.locator("#connected")).to_have_text("Connected to Canvas as Ada Lovelace")
    # Every course, from the pages canvas_session followed.
    expect(page.locator("#courses li")).to_have_count(run_demo.DEMO_COURSES)


def test_authorize_refresh_and_disconnect(site: Site, new_page: Callable[[], Page]) -> None:
    page = new_page()
    page.goto(site.url + "/")
    expect(page.locator("#login")).to_be_visible()
    screenshot(page, "01-login")

    log_in(page, site, "demo")
    expect_consent_page(page, site)
    screenshot(page, "02-consent", "consent.png")

    page.click("#authorize")
    expect_connected(page, site)
    screenshot(page, "03-connected", "connected.png")
    assert len(site.fake.live_tokens()) == 1

    # Both sides agree the access token has expired: the next visit must refresh it.
    refreshes = site.fake.calls["token:refresh_token"]
    site.fake.expire_access_tokens()
    site.expire_stored_token("demo")
    page.reload()
    expect_connected(page, site)
    assert site.fake.calls["token:refresh_token"] == refreshes + 1
    (expires,) = site.stored_expiry("demo")
    assert expires > datetime.now(timezone.utc)
    screenshot(page, "04-refreshed")

    # Revoked in Canvas: the API answers 401 with a challenge, the site forgets the token
    # (invalidate_oauth_token) and sends the browser to authorize again.
    site.fake.revoke_all()
    page.reload()
    expect_consent_page(page, site)
    assert site.stored_expiry("demo") == []
    page.click("#authorize")
    expect_connected(page, site)

    # Disconnect revokes the token at Canvas and deletes it, and says so: no new dance
    # starts until the user asks for one. Home then needs a new token.
    revokes = site.fake.calls["revoke"]
    page.click("#disconnect")
    expect(page).to_have_url(site.url + "/disconnected/")
    expect(page.locator("#disconnected")).to_have_text("You are disconnected from Canvas")
    assert site.fake.calls["revoke"] == revokes + 1
    assert site.fake.live_tokens() == []
    assert site.stored_expiry("demo") == []
    screenshot(page, "05-disconnected")

    page.click("#connect")
    expect_consent_page(page, site)
    page.click("#authorize")
    expect_connected(page, site)

    page.click("#disconnect")
    page.goto(site.url + "/")
    expect_consent_page(page, site)

    page.click("#authorize")
    expect_connected(page, site)
    page.click("#logout")
    expect(page).to_have_url(site.url + "/accounts/login/")


def test_cancel_shows_declined_page(site: Site, new_page: Callable[[], Page]) -> None:
    page = new_page()
    log_in(page, site, "grace")
    expect_consent_page(page, site)

    with page.expect_response(lambda r: "/oauth/oauth-callback" in r.url) as callback:
        page.click("#cancel")
    assert callback.value.status == 403
    expect(page.locator("body")).to_contain_text("You declined access")
    assert site.stored_expiry("grace") == []
    screenshot(page, "06-declined")
    # The start page offers to connect; it does not send the user back to Canvas at once.
    page.click("#start-page")
    expect(page.locator("#not-connected")).to_have_text("You are not connected to Canvas")
    expect(page).to_have_url(site.url + "/not-connected/")


def open_connect_popup(page: Page, site: Site, path: str = "/lti/") -> Page:
    """On the LTI page, click the popup button and return the popup, at Canvas's consent."""
    expect(page).to_have_url(site.url + path)
    with page.expect_popup() as opened:
        page.click("#connect-popup")
    popup = opened.value
    expect_consent_page(popup, site)
    return popup


def test_popup_dance_connects_the_opener(site: Site, new_page: Callable[[], Page]) -> None:
    page = new_page()
    log_in(page, site, "ada", "/lti/")
    screenshot(page, "07-lti")
    popup = open_connect_popup(page, site)
    screenshot(popup, "08-popup-consent")
    exchanges = site.fake.calls["token:authorization_code"]

    # The popup comes back, tells its opener and closes; the opener claims the answer.
    with popup.expect_event("close"):
        popup.click("#authorize")
    expect_connected(page, site)
    screenshot(page, "09-popup-connected")
    assert site.fake.calls["token:authorization_code"] == exchanges + 1
    assert len(site.stored_expiry("ada")) == 1


def test_popup_dance_without_link_to_the_opener(site: Site, new_page: Callable[[], Page]) -> None:
    # Django's default opener policy on the page cuts the popup's link to it: the popup
    # cannot post its message, and popup.closed reads true while the popup is still open.
    page = new_page()
    log_in(page, site, "joan", "/lti/same-origin/")
    popup = open_connect_popup(page, site, "/lti/same-origin/")
    assert popup.evaluate("() => window.opener") is None
    exchanges = site.fake.calls["token:authorization_code"]

    # A user reads the consent page for a while: longer than the page's first polls.
    popup.wait_for_timeout(4_000)
    popup.click("#authorize")
    expect(popup.locator(".message")).to_have_text("Canvas is connected.")
    screenshot(popup, "10-popup-returned-unlinked")
    expect_connected(page, site)
    assert site.fake.calls["token:authorization_code"] == exchanges + 1
    assert len(site.stored_expiry("joan")) == 1


def test_popup_cancel_rejects_the_opener(site: Site, new_page: Callable[[], Page]) -> None:
    page = new_page()
    log_in(page, site, "alan", "/lti/")
    popup = open_connect_popup(page, site)
    exchanges = site.fake.calls["token"]

    with popup.expect_event("close"):
        popup.click("#cancel")
    expect(page.locator("#connect-error")).to_have_text(
        "You declined access to your Canvas account, so this page cannot continue."
    )
    expect(page).to_have_url(site.url + "/lti/")
    screenshot(page, "11-popup-declined")
    assert site.fake.calls["token"] == exchanges
    assert site.stored_expiry("alan") == []
