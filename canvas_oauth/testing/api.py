"""The API endpoints: ``users/:id``, ``courses`` and ``users/:id/page_views`` (§4, §8.1, §9.3).

Each checks the bearer token and the token's scopes the way Canvas does, then answers
for the token's user (``:id`` is ``self`` or the user's number, as canvasapi's
``CurrentUser`` sends it). The two lists are paginated like Canvas's: courses by page
number, page views by bookmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import errors
from .pagination import Page, PageNotFound, bookmarked_page, numbered_page
from .records import FakeUser, TokenRecord
from .store import Store
from .wire import FakeResponse, bearer_token, json_response

USERS_SELF_SCOPE = "url:GET|/api/v1/users/:id"
COURSES_SCOPE = "url:GET|/api/v1/courses"
PAGE_VIEWS_SCOPE = "url:GET|/api/v1/users/:user_id/page_views"

Paginator = Callable[[Sequence[object], str, dict[str, str], int], Page]


class ApiEndpoint(Store):
    """Answer the Canvas API calls a client makes; a mixin of ``FakeCanvas``."""

    base_url: str
    max_per_page: int
    dead_token_detail: bool
    users: list[FakeUser]

    def _api_token(
        self, query: dict[str, str], headers: dict[str, str], scope: str
    ) -> TokenRecord | FakeResponse:
        """Return the live token row of the request, or Canvas's 401 answer."""
        access_token = bearer_token(headers, query)
        if not access_token:
            return errors.unauthenticated()
        record = self._live_access(access_token)
        if record is None:
            return self._dead_token(access_token)
        client = self.clients[record.client_id]
        if client.require_scopes and scope not in record.scopes:
            return errors.insufficient_scopes()
        return record

    def _dead_token(self, access_token: str) -> FakeResponse:
        """Answer a token the API does not accept, with the message Canvas picks for it.

        ``application_controller.rb`` (``api_error_json``) has three: "Revoked" for a
        deleted token, "Expired" (with the token's ``permanent_expires_at``) for an
        expired one, "Invalid" for the rest. ``dead_token_detail=False``: always
        "Invalid", as older Canvas.
        """
        record = next((r for r in self._tokens if r.access_token == access_token), None)
        if record is None or not self.dead_token_detail:
            return errors.invalid_access_token()
        if record.deleted:
            return errors.revoked_access_token()
        now = self.clock.now()
        ends = record.permanent_expires_at
        if record.expires_at <= now or (ends is not None and ends <= now):
            return errors.expired_access_token(ends)
        return errors.invalid_access_token()  # its developer key is off

    def _user(self, user_id: str, query: dict[str, str], headers: dict[str, str]) -> FakeResponse:
        """Answer ``GET /api/v1/users/:id`` for the token's own user."""
        record = self._api_token(query, headers, USERS_SELF_SCOPE)
        if isinstance(record, FakeResponse):
            return record
        refused = self._other_user(record, user_id)
        return refused or json_response(200, record.user.api_json())

    def _other_user(self, record: TokenRecord, user_id: str) -> FakeResponse | None:
        """Refuse a user other than the token's: 404 if unknown, else not permitted.

        Canvas looks the user up first (``api_find``), then checks the permission.
        """
        if user_id in ("self", str(record.user.id)):
            return None
        if not any(str(user.id) == user_id for user in self.users):
            return errors.not_found()
        return errors.unauthorized()

    def _courses(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/courses``: the user's courses, by page number."""
        return self._list(
            query,
            headers,
            COURSES_SCOPE,
            "/api/v1/courses",
            numbered_page,
            lambda user: [course.api_json(user) for course in user.courses],
        )

    def _user_page_views(
        self, user_id: str, query: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/users/:id/page_views``: newest first, by bookmark."""
        return self._list(
            query,
            headers,
            PAGE_VIEWS_SCOPE,
            f"/api/v1/users/{user_id}/page_views",
            bookmarked_page,
            lambda user: [view.api_json(user) for view in reversed(user.page_views)],
            user_id,
        )

    def _list(
        self,
        query: dict[str, str],
        headers: dict[str, str],
        scope: str,
        path: str,
        paginate: Paginator,
        items: Callable[[FakeUser], list[object]],
        user_id: str = "self",
    ) -> FakeResponse:
        """Answer a list endpoint with one page of the token user's ``items``."""
        record = self._api_token(query, headers, scope)
        if isinstance(record, FakeResponse):
            return record
        refused = self._other_user(record, user_id)
        if refused is not None:
            return refused
        try:
            page = paginate(items(record.user), self.base_url + path, query, self.max_per_page)
        except PageNotFound:
            return errors.not_found()
        return json_response(200, page.items, {"Link": page.link})
