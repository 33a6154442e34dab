"""Serve a ``FakeCanvas`` in-process to ``requests``, through the ``responses`` library."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
import responses
from requests import PreparedRequest

from .provider import FakeCanvas

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _read_timeout(request: PreparedRequest) -> float | None:
    """Return the read timeout the caller gave ``requests``, if any."""
    timeout = getattr(request, "req_kwargs", {}).get("timeout")
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return timeout if isinstance(timeout, (int, float)) else None


_Answer = tuple[int, dict[str, str], bytes]


def _callback(fake: FakeCanvas) -> Callable[[PreparedRequest], _Answer]:
    """Build the ``responses`` callback that hands each request to ``fake``."""

    def answer(request: PreparedRequest) -> _Answer:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        response = fake.handle(
            request.method or "GET", request.url or "/", dict(request.headers), body
        )
        try:
            if response.dropped:
                raise requests.exceptions.ConnectionError(
                    "Connection aborted: the fake Canvas dropped the connection", request=request
                )
            if response.delay:
                timeout = _read_timeout(request)
                if timeout is not None and response.delay >= timeout:
                    raise requests.exceptions.ReadTimeout(
                        f"The fake Canvas took {response.delay}s; read timeout={timeout}",
                        request=request,
                    )
                # Sleep outside the fake's lock, so concurrent requests really overlap.
                time.sleep(response.delay)
        finally:
            response.complete()
        return response.status, response.headers, response.body

    return answer


@contextmanager
def mock_canvas(*fakes: FakeCanvas) -> Iterator[responses.RequestsMock]:
    """Route every ``requests`` call to each fake's ``base_url`` into that fake while active.

    Several fakes play several Canvas instances at once. Requests to any other host fail
    with ``ConnectionError``, as ``responses`` does. Yield the ``RequestsMock``, so a test
    can register more URLs or inspect ``calls``.
    """
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for fake in fakes:
            url = re.compile(re.escape(fake.base_url.rstrip("/")) + r"(?:[/?#].*)?\Z")
            for method in _METHODS:
                mock.add_callback(method, url, callback=_callback(fake), content_type=None)
        yield mock
