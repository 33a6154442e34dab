"""The errors canvas_oauth raises.

Each error carries the HTTP status and the message a user sees, so an error page can be
rendered from the exception alone. Messages never contain a token, a code or a secret.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "AuthorizationDeniedError",
    "CanvasOAuthError",
    "CanvasRejectedError",
    "CanvasRequestError",
    "CanvasThrottledError",
    "CanvasTokenThrottledError",
    "CanvasURLError",
    "CanvasUnavailableError",
    "DeveloperKeyUnreadableError",
    "EncryptionKeyError",
    "InvalidOAuthReturnError",
    "InvalidOAuthStateError",
    "InvalidTokenError",
    "LoginRequiredError",
    "MissingTokenError",
    "RefreshTokenRejectedError",
    "TokenRefreshError",
    "TooManyAuthorizationsError",
    "UnknownCanvasInstanceError",
]

# Canvas's ``error`` and ``error_description`` come from a query string or a response body
# that anyone can make as long as they like; they are shown and logged only this long.
MAX_CANVAS_TEXT = 300
# A refused Canvas domain is named in its error this long at most (a host is 253).
MAX_DOMAIN_SHOWN = 255


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators:
# str.splitlines() and many log readers start a new line at U+0085, U+2028 and U+2029.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def is_control(ch: str) -> bool:
    """Tell whether the character ``ch`` is a control character or a line separator."""
    return unicodedata.category(ch) in _CONTROL_CATEGORIES


def bounded_text(text: str, limit: int = MAX_CANVAS_TEXT) -> str:
    """Return ``text`` cut to ``limit`` characters, on one line (a log line stays one)."""
    text = "".join(" " if is_control(ch) else ch for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CanvasOAuthError(Exception):
    """Base class of every canvas_oauth error.

    Like ``Exception`` it takes any positional arguments (the original app's errors did);
    the first one, when given, is the message a user sees.
    """

    # The original middleware answered every error that was not a missing token with 403.
    status_code = 403
    code = "canvas_oauth_error"
    default_message = "Something went wrong while connecting to Canvas."
    # Where the user was going, when a dance that failed knew it (the error page's "Try
    # again" returns there).
    next_url: str | None = None

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        first = args[0] if args else None
        self.message = str(first) if first else self.default_message

    def __str__(self) -> str:
        return self.message


class MissingTokenError(CanvasOAuthError):
    """The user has no usable Canvas token and must authorize the app."""

    status_code = 401
    code = "canvas_authorization_required"
    default_message = "You need to authorize this application to use Canvas on your behalf."

    def __init__(self, *args: object, authorize_url: str | None = None) -> None:
        super().__init__(*args)
        self.authorize_url = authorize_url


class LoginRequiredError(CanvasOAuthError):
    """Nobody is logged in, so there is no user to hold a Canvas token."""

    status_code = 401
    code = "login_required"
    default_message = "Please log in first."


class InvalidOAuthStateError(CanvasOAuthError):
    """The callback's state is missing, unknown, expired or already used."""

    status_code = 400
    code = "invalid_state"
    default_message = (
        "This Canvas authorization link is invalid or has expired. Please start again."
    )


class TooManyAuthorizationsError(CanvasOAuthError):
    """The user is starting many popup authorizations at once; they are taken one by one."""

    status_code = 429
    code = "too_many_authorizations"
    default_message = "Too many Canvas authorizations are starting at once. Please try again."


class UnknownCanvasInstanceError(CanvasOAuthError):
    """The request names a Canvas domain that is not configured; nothing is sent there."""

    status_code = 400
    code = "unknown_canvas_instance"
    default_message = "This site is not set up to connect to that Canvas instance."

    def __init__(self, *args: object, domain: str | None = None) -> None:
        # The domain comes from a request or a launch: shown cut short, on one line (the
        # error page escapes it like any message).
        self.domain = bounded_text(domain, MAX_DOMAIN_SHOWN) if domain is not None else None
        if not args and self.domain is not None:
            args = (f'This site is not set up to connect to the Canvas instance "{self.domain}".',)
        super().__init__(*args)


class InvalidOAuthReturnError(CanvasOAuthError):
    """Canvas's answer cannot be used: a malformed callback, or someone else's.

    The original app raised it whenever Canvas's token endpoint failed, and projects catch
    it around ``get_oauth_token`` to ask the user to authorize again. The errors that now
    say more (a refresh that failed, Canvas refusing or garbling a token request) are
    subclasses, so such an ``except`` still catches them.
    """

    status_code = 400
    code = "invalid_return"
    default_message = "Canvas sent back an authorization response we cannot use."


# What the error page says for each code Canvas (RFC 6749 §4.1.2.1, and Canvas's own) may
# send back to the callback. Anyone can link a visitor to the callback with any ``error``,
# so the page words every answer itself and never echoes the query.
_TRY_LATER = "Canvas could not authorize this application just now. Please try again in a moment."
_ADMINS = (
    "Canvas refused this application's authorization request. "
    "Please tell this site's administrators."
)
DENIAL_MESSAGES = {
    "access_denied": "You declined access to your Canvas account, so this page cannot continue.",
    "invalid_scope": (
        "Canvas refused the permissions this application asked for. "
        "Please tell this site's administrators."
    ),
    "unauthorized_client": (
        "This application is not enabled for your Canvas account. "
        "Please tell this site's administrators."
    ),
    "client_not_allowed_for_user": (
        "Your Canvas account may not authorize this application. "
        "Please ask your Canvas administrator."
    ),
    "login_required": "Please log in to Canvas, then try again.",
    "interaction_required": "Canvas needs you to approve this application. Please try again.",
    "invalid_request": _ADMINS,
    "unsupported_response_type": _ADMINS,
    "unsupported_prompt_type": _ADMINS,
    "server_error": _TRY_LATER,
    "temporarily_unavailable": _TRY_LATER,
}
DENIED_MESSAGE = "Canvas did not authorize this application."


class AuthorizationDeniedError(CanvasOAuthError):
    """Canvas redirected back with an ``error`` instead of a code.

    The message is ours, chosen by the error code (``DENIAL_MESSAGES``, or a generic one).
    Canvas's description is added only with ``show_description``: when the state named a
    live dance of the user who sees the page, so that the text came from Canvas through
    that dance's redirect, not from a link someone else wrote.
    """

    status_code = 403
    code = "authorization_denied"

    def __init__(
        self, error: str, description: str = "", *, show_description: bool = False
    ) -> None:
        self.error = error = bounded_text(error)
        self.description = description = bounded_text(description)
        message = DENIAL_MESSAGES.get(error, DENIED_MESSAGE)
        if show_description and description:
            message = f"{message} Canvas said: {description}"
        super().__init__(message)


class CanvasRequestError(InvalidOAuthReturnError):
    """Canvas answered a request badly: an error status, or a body we cannot read."""

    status_code = 502
    code = "canvas_bad_response"
    default_message = "Canvas answered with an error. Please try again in a moment."

    def __init__(
        self,
        *args: object,
        http_status: int | None = None,
        error: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(*args)
        self.http_status = http_status
        self.error = bounded_text(error) if error is not None else None
        self.description = bounded_text(description) if description is not None else None


class CanvasRejectedError(CanvasRequestError):
    """Canvas refused the request with an OAuth error (``invalid_grant`` and the like)."""

    code = "canvas_rejected"
    default_message = "Canvas refused the authorization request."


class CanvasTokenThrottledError(CanvasRequestError):
    """Canvas's throttle refused a request to its token endpoint; it may pass in seconds."""

    status_code = 503
    code = "canvas_throttled"
    default_message = "Canvas is busy with this site's requests. Please try again in a minute."

    def __init__(self, *args: object, http_status: int, remaining: float | None) -> None:
        super().__init__(*args, http_status=http_status)
        # Canvas's X-Rate-Limit-Remaining on the refusal: when a retry would be admitted.
        self.remaining = remaining


class CanvasUnavailableError(CanvasOAuthError):
    """Canvas did not answer in time, or could not be reached."""

    status_code = 504
    code = "canvas_unavailable"
    default_message = "Canvas did not answer in time. Please try again in a moment."


class TokenRefreshError(InvalidOAuthReturnError):
    """Refreshing a token failed for a reason that may pass; the token is kept."""

    status_code = 503
    code = "canvas_refresh_failed"
    default_message = "Canvas is not available right now. Please try again in a moment."


class EncryptionKeyError(CanvasOAuthError):
    """``CANVAS_OAUTH_ENCRYPTION_KEYS`` holds something that is not a Fernet key.

    Raised before any code is traded, so that no token is minted that could not be stored.
    """

    status_code = 500
    code = "encryption_keys_unusable"
    default_message = (
        "This site cannot store Canvas authorizations right now because of a configuration "
        "problem. Please tell the site's administrators."
    )


class InvalidTokenError(MissingTokenError):
    """Canvas rejected a stored access token; it is gone and the dance starts again."""

    default_message = "Canvas no longer accepts your authorization. Please authorize again."


class RefreshTokenRejectedError(MissingTokenError, InvalidOAuthReturnError):
    """Canvas refused the token's refresh token for good; the token is deleted.

    Also raised for a token with no refresh token, and when another request found the
    token dead first. The user must authorize again.
    """


class CanvasThrottledError(CanvasOAuthError):
    """Canvas kept throttling an API call until ``CANVAS_OAUTH_API_RETRY_BUDGET`` ran out."""

    status_code = 503
    code = "canvas_throttled"
    default_message = "Canvas is busy with this account's requests. Please try again in a minute."


class CanvasURLError(CanvasOAuthError):
    """An API call named a URL off the session's Canvas origin; nothing was sent there."""

    status_code = 400
    code = "url_not_on_canvas"
    default_message = "That address is not on this Canvas instance, so it was not called."


class DeveloperKeyUnreadableError(CanvasOAuthError):
    """A ``CanvasDeveloperKey``'s secret cannot be decrypted with the configured keys.

    Its key was dropped before ``canvas_oauth_rotate_keys`` re-encrypted it; nothing is
    sent to that Canvas until the key returns or the secret is entered again.
    """

    status_code = 503
    code = "developer_key_unreadable"
    default_message = (
        "This site cannot connect to that Canvas right now because of a configuration "
        "problem. Please tell the site's administrators."
    )
