"""A state is used once even when two callbacks race: Canvas sees one code exchange."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import PATIENCE, wait_until

LATENCY = 0.5  # long enough for the second callback to arrive while the first waits


def in_thread(call: Callable[[], int], results: list[int]) -> threading.Thread:
    def work() -> None:
        try:
            results.append(call())
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def twin(client: Client) -> Client:
    """Another connection from the same browser: the same session cookie."""
    other = Client()
    other.cookies = client.cookies
    return other


def wait_for_exchange(fake) -> None:
    wait_until(lambda: fake.calls["token:authorization_code"] > 0, "the first callback at Canvas")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.mark.django_db(transaction=True)
def test_two_callbacks_with_one_state_in_one_session_exchange_once(browser, live_fake_canvas):
    location = browser.get("/canvas/")["Location"]
    callback = path_of(live_fake_canvas.authorize(location))
    live_fake_canvas.latency["token"] = LATENCY
    statuses: list[int] = []
    # The first callback is waiting for Canvas, its session not saved yet, when the
    # second arrives with a copy of the same session.
    first = in_thread(lambda: browser.get(callback).status_code, statuses)
    wait_for_exchange(live_fake_canvas)
    second = in_thread(lambda: twin(browser).get(callback).status_code, statuses)
    first.join(PATIENCE)
    second.join(PATIENCE)
    assert sorted(statuses) == [302, 400]
    assert live_fake_canvas.calls["token:authorization_code"] == 1
    assert CanvasOAuth2Token.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_claims_of_one_popup_answer_exchange_once(browser, live_fake_canvas):
    body = browser.get("/oauth/authorize", {"popup": "1"}, HTTP_ACCEPT="application/json").json()
    Client().get(path_of(live_fake_canvas.authorize(body["authorize_url"])))
    live_fake_canvas.latency["token"] = LATENCY
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def claim(client: Client) -> int:
        barrier.wait(10)
        return client.post("/oauth/complete", {"state": body["state"]}).status_code

    threads = [in_thread(lambda c=c: claim(c), statuses) for c in (browser, twin(browser))]
    for thread in threads:
        thread.join(PATIENCE)
    assert sorted(statuses) == [200, 400]
    assert live_fake_canvas.calls["token:authorization_code"] == 1
    assert CanvasOAuth2Token.objects.count() == 1
