"""Canvas's error answers, with the exact statuses, bodies and headers of the spec."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

from .wire import FakeResponse, json_response, redirect_response, text_response

OAUTH_CHALLENGE = "Canvas OAuth 2.0"
API_CHALLENGE = 'Bearer realm="canvas-lms"'

UNSUPPORTED_GRANT_TYPE = "The grant_type you requested is not currently supported"
UNKNOWN_CLIENT = "unknown client"
INVALID_CLIENT = "invalid client"
CODE_REQUIRED = "You must provide the code parameter when using the authorization_code grant type"
CODE_NOT_FOUND = "authorization_code not found"
INCORRECT_CLIENT = "incorrect client"
REFRESH_TOKEN_REQUIRED = (
    "You must provide the refresh_token parameter when using the refresh_token grant type"
)
REFRESH_TOKEN_NOT_FOUND = "refresh_token not found"
# The spec could not find Canvas's wording for PKCE failures; any description is allowed.
INVALID_CODE_VERIFIER = "invalid code_verifier"
CODE_VERIFIER_REQUIRED = "code_verifier required for this authorization_code"
REDIRECT_MISMATCH = "redirect_uri does not match client settings"

INVALID_SCOPE = (
    "A requested scope is invalid, unknown, malformed, or exceeds the scope granted by the "
    "resource owner. The following scopes were requested, but not granted: "
)
UNAUTHORIZED_CLIENT = "Client does not have access to the specified Canvas account."
UNSUPPORTED_RESPONSE_TYPE = "Only response_type=code is permitted"
LOGIN_REQUIRED = "prompt=none but there is no current session"
INTERACTION_REQUIRED = "prompt=none but a token cannot be granted without user interaction"
UNSUPPORTED_PROMPT = 'prompt must be "none" (or omitted)'
NOT_ALLOWED_FOR_USER = (
    "The current user is logged in but does not have permission to authorize this application."
)

MISSING_SESSION = "Invalid or missing session for oauth"
MISSING_CSRF = "Missing custom CSRF token"
INVALID_CSRF = "Invalid custom CSRF token"
REVOKE_WITHOUT_TOKEN = "can't delete OAuth access token when not using an OAuth access token"
RATE_LIMITED = "403 Forbidden (Rate Limit Exceeded)\n"


def oauth_error(status: int, error: str, description: str) -> FakeResponse:
    """Render an OAuth error; a 401 carries Canvas's OAuth challenge header."""
    headers = {"WWW-Authenticate": OAUTH_CHALLENGE} if status == 401 else {}
    return json_response(status, {"error": error, "error_description": description}, headers)


def redirected_oauth_error(response: FakeResponse, redirect_uri: str) -> FakeResponse:
    """Send an OAuth error ``response`` to ``redirect_uri`` instead, as older Canvas did.

    ``RequestError#redirect_uri``: the URI's own query, then ``error``, then
    ``error_description``, form-encoded.
    """
    body = json.loads(response.body)
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("error", body["error"]), ("error_description", body["error_description"])]
    return redirect_response(parts._replace(query=urlencode(query, quote_via=quote_plus)).geturl())


def api_error(message: str, *, challenge: bool = True, **extra: object) -> FakeResponse:
    """Render a 401 from ``/api/v1``; the challenge header means "this token is dead"."""
    headers = {"WWW-Authenticate": API_CHALLENGE} if challenge else {}
    return json_response(401, {**extra, "errors": [{"message": message}]}, headers)


def invalid_access_token() -> FakeResponse:
    """Answer an API call made with an unknown, expired or revoked token."""
    return api_error("Invalid access token.")


def revoked_access_token() -> FakeResponse:
    """Answer an API call made with a token that was deleted (revoked, replaced)."""
    return api_error("Revoked access token.")


def expired_access_token(permanent_expires_at: float | None) -> FakeResponse:
    """Answer an API call made with an expired token; Canvas names its final expiry."""
    expired_at = None
    if permanent_expires_at is not None:
        expired_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(permanent_expires_at))
    return json_response(
        401,
        {"errors": [{"message": "Expired access token.", "expired_at": expired_at}]},
        {"WWW-Authenticate": API_CHALLENGE},
    )


def unauthorized() -> FakeResponse:
    """Answer an API call whose (live) user may not see what it asked for."""
    return api_error(
        "user not authorized to perform that action", challenge=False, status="unauthorized"
    )


def unauthenticated() -> FakeResponse:
    """Answer an API call made with no credentials at all."""
    return api_error("user authorization required", status="unauthenticated")


def insufficient_scopes() -> FakeResponse:
    """Answer an API call whose token scopes do not cover the endpoint."""
    return api_error("Insufficient scopes on access token.", challenge=False)


def not_found() -> FakeResponse:
    """Answer a route the fake does not know."""
    return json_response(404, {"errors": [{"message": "The specified resource does not exist."}]})


def rate_limited() -> FakeResponse:
    """Answer a throttled request the way Canvas's request throttle does."""
    response = text_response(403, RATE_LIMITED)
    response.headers["X-Rate-Limit-Remaining"] = "0.0"
    return response


def to_sentence(words: list[str]) -> str:
    """Join words like Rails' ``Array#to_sentence``."""
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]
