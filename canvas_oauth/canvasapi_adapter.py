"""canvasapi on a ``CanvasSession``: its calls get the session's token handling.

canvasapi sends every call through its ``Requester``'s ``requests.Session``. Given ours,
a call gets the user's token (refreshed when due), the 401 rule, throttling and the origin
check. canvasapi puts a token of its own in the header; the session replaces it, so the
placeholder below is all canvasapi (and its debug log) ever sees.

Imported only by ``api.canvasapi_for``, because canvasapi is an optional extra.
"""

from __future__ import annotations

from typing import Any

from canvasapi import Canvas
from canvasapi.requester import Requester

PLACEHOLDER_TOKEN = "set-by-canvas-oauth"


# canvasapi ships no types, so its classes are Any to mypy.
class SessionRequester(Requester):  # type: ignore[misc]
    """canvasapi's ``Requester``, sending through a ``CanvasSession``."""

    _session: Any

    def __init__(self, session: Any) -> None:
        super().__init__(session.origin, PLACEHOLDER_TOKEN)
        self._session.close()  # the one canvasapi made, never used
        self._session = session


class SessionCanvas(Canvas):  # type: ignore[misc]  # as above: Any to mypy
    """A ``canvasapi.Canvas`` whose requester is a ``SessionRequester``."""

    def __init__(self, session: Any) -> None:
        # Canvas.__init__ would build its own Requester, and warn about the http:// origin
        # of a local Canvas that the allow-list (and check W002) already vetted.
        self._Canvas__requester = SessionRequester(session)


def canvas(session: Any) -> Canvas:
    """Return a ``canvasapi.Canvas`` calling the API through ``session``."""
    return SessionCanvas(session)
