"""The API endpoint: ``GET /api/v1/users/self`` for the user of a bearer token (§4)."""

from __future__ import annotations

from . import errors
from .store import Store
from .wire import FakeResponse, bearer_token, json_response

USERS_SELF_SCOPE = "url:GET|/api/v1/users/:id"


class ApiEndpoint(Store):
    """Answer the one Canvas API call the client makes; a mixin of ``FakeCanvas``."""

    def _users_self(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/users/self`` for the token's user."""
        access_token = bearer_token(headers, query)
        if not access_token:
            return errors.unauthenticated()
        record = self._live_access(access_token)
        if record is None:
            return errors.invalid_access_token()
        client = self.clients[record.client_id]
        if client.require_scopes and USERS_SELF_SCOPE not in record.scopes:
            return errors.insufficient_scopes()
        return json_response(200, record.user.api_json())
