"""The API endpoints: ``users/self``, ``courses`` and ``users/self/page_views`` (§4, §8.1).

Each checks the bearer token and the token's scopes the way Canvas does, then answers
for the token's user. The two lists are paginated like Canvas's: courses by page number,
page views by bookmark.
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

    def _api_token(
        self, query: dict[str, str], headers: dict[str, str], scope: str
    ) -> TokenRecord | FakeResponse:
        """Return the live token row of the request, or Canvas's 401 answer."""
        access_token = bearer_token(headers, query)
        if not access_token:
            return errors.unauthenticated()
        record = self._live_access(access_token)
        if record is None:
            return errors.invalid_access_token()
        client = self.clients[record.client_id]
        if client.require_scopes and scope not in record.scopes:
            return errors.insufficient_scopes()
        return record

    def _users_self(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/users/self`` for the token's user."""
        record = self._api_token(query, headers, USERS_SELF_SCOPE)
        if isinstance(record, FakeResponse):
            return record
        return json_response(200, record.user.api_json())

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

    def _page_views(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/users/self/page_views``: newest first, by bookmark."""
        return self._list(
            query,
            headers,
            PAGE_VIEWS_SCOPE,
            "/api/v1/users/self/page_views",
            bookmarked_page,
            lambda user: [view.api_json(user) for view in reversed(user.page_views)],
        )

    def _list(
        self,
        query: dict[str, str],
        headers: dict[str, str],
        scope: str,
        path: str,
        paginate: Paginator,
        items: Callable[[FakeUser], list[object]],
    ) -> FakeResponse:
        """Answer a list endpoint with one page of the token user's ``items``."""
        record = self._api_token(query, headers, scope)
        if isinstance(record, FakeResponse):
            return record
        try:
            page = paginate(items(record.user), self.base_url + path, query, self.max_per_page)
        except PageNotFound:
            return errors.not_found()
        return json_response(200, page.items, {"Link": page.link})
