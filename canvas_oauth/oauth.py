"""The request-level API: ``get_oauth_token(request)`` and the original app's names.

Views call ``get_oauth_token``; when the user has no usable token it raises
``MissingTokenError``, which ``OAuthMiddleware`` turns into a trip to Canvas and back.
"""

from __future__ import annotations

import logging
import time
from typing import NoReturn
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, crypto, errorpages, instances, redaction, refresher, state, tokens
from canvas_oauth.canvas import TokenGrant
from canvas_oauth.exceptions import (
    AuthorizationDeniedError,
    CanvasOAuthError,
    InvalidOAuthReturnError,
    InvalidOAuthStateError,
    InvalidTokenError,
    LoginRequiredError,
    MissingTokenError,
)
from canvas_oauth.models import CanvasOAuth2Token

__all__ = [
    "aget_oauth_token",
    "get_oauth_token",
    "handle_missing_token",
    "invalidate_oauth_token",
    "oauth_callback",
    "refresh_oauth_token",
    "render_oauth_error",
    "revoke_oauth_token",
]

logger = logging.getLogger(__name__)

# What Canvas answers a prompt=none request that needs the user (spec §1.3).
SILENT_FALLBACK_ERRORS = frozenset({"login_required", "interaction_required"})

# Tokens already fetched during this request, by (user pk, domain): repeated calls cost
# no query, and a request whose user changes (login(), impersonation) never reuses them.
_REQUEST_CACHE = "_canvas_oauth_tokens"
# Set on the request while get_oauth_token calls refresh_oauth_token for an expiring token:
# that refresh may serve the still-valid token when Canvas fails (a direct call asked for a
# new one, and is told), and the call keeps the original's signature for patched versions.
_EARLY_REFRESH = "_canvas_oauth_early_refresh"


def get_oauth_token(request: HttpRequest, domain: str | None = None) -> str:
    """Return an access token for ``request.user`` that Canvas accepts now.

    Refresh it first when it expires within ``CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER``.
    Raise ``MissingTokenError`` when the user has to authorize the app, and
    ``LoginRequiredError`` when nobody is logged in.
    """
    return _token_for(request, domain).access_token


async def aget_oauth_token(request: HttpRequest, domain: str | None = None) -> str:
    """Return an access token for ``request.user``, from an async view.

    Same rules as ``get_oauth_token``: the database work and any refresh run in Django's
    sync thread, so the locking and error guarantees are the same.
    """
    return await sync_to_async(get_oauth_token)(request, domain)


def refresh_oauth_token(request: HttpRequest, domain: str | None = None) -> CanvasOAuth2Token:
    """Refresh the token this request holds for ``request.user`` now, and return it.

    The original app's function, and still the one ``get_oauth_token`` calls, by this
    name, for a token that expires within ``CANVAS_OAUTH_TOKEN_EXPIRATION_BUFFER``: a
    project's tests may patch it. Called directly, it refreshes the token whether it is
    expiring or not, and raises when Canvas fails, as the original did. A refresh of the
    same token that another request made since, or is making, is shared instead of
    repeated. Called by ``get_oauth_token``, an expiring token that is still valid is
    returned as it is when Canvas fails for a reason that may pass.
    """
    require_login(request)
    key = _cache_key(request, instances.domain_for(domain, request))
    token = _cache(request).get(key) or CanvasOAuth2Token.objects.get_for_user(key[0], key[1])
    if token is None:
        raise MissingTokenError()
    early = request.__dict__.pop(_EARLY_REFRESH, False)
    # The refresh's frames hold the refresh token: hidden from this request's DEBUG page too.
    redaction.guard_callback(request)
    token = _cache(request)[key] = tokens.refresh(token, force=not early)
    return token


def get_token_row(request: HttpRequest, domain: str | None = None) -> CanvasOAuth2Token:
    """Return the token row ``get_oauth_token`` reads its access token from."""
    return _token_for(request, domain)


def remember_token(request: HttpRequest, token: CanvasOAuth2Token) -> None:
    """Let later calls in this request use ``token``, refreshed after Canvas rejected one."""
    _cache(request)[_cache_key(request, token.domain)] = token


def _token_for(request: HttpRequest, domain: str | None) -> CanvasOAuth2Token:
    require_login(request)
    key = _cache_key(request, instances.domain_for(domain, request))
    cache = _cache(request)
    token = cache.get(key)
    buffer = conf.settings.token_expiration_buffer
    if token is None or token.expires_within(buffer):
        token = cache[key] = tokens.stored_token(request.user, key[1])
        if token.expires_within(buffer):
            # Through the original's name, looked up now, and called as it was, so that
            # a test patching canvas_oauth.oauth.refresh_oauth_token decides the token.
            request.__dict__[_EARLY_REFRESH] = True
            try:
                token = refresh_oauth_token(*((request, domain) if domain else (request,)))
            finally:
                request.__dict__.pop(_EARLY_REFRESH, None)
    return token


def _cache(request: HttpRequest) -> dict[tuple[object, str], CanvasOAuth2Token]:
    cache: dict[tuple[object, str], CanvasOAuth2Token] = request.__dict__.setdefault(
        _REQUEST_CACHE, {}
    )
    return cache


def _cache_key(request: HttpRequest, domain: str) -> tuple[object, str]:
    return (request.user.pk, domain)


def require_login(request: HttpRequest) -> None:
    """Raise ``LoginRequiredError`` unless someone is logged in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise LoginRequiredError()


def require_own_dance(request: HttpRequest, dance: state.PendingDance) -> None:
    """Raise ``InvalidOAuthReturnError`` unless ``request.user`` started ``dance``.

    The state proves only that the dance exists; whoever finishes it stores a token for
    the user logged in now, so that must be the user it was started for.
    """
    if dance.user_pk != str(request.user.pk):
        raise InvalidOAuthReturnError(
            "This Canvas authorization was started by someone else. Please start again."
        )


def invalidate_oauth_token(request: HttpRequest, domain: str | None = None) -> None:
    """Forget the user's token after the Canvas API rejected it, and restart the dance.

    Call it when Canvas answers 401 with a ``WWW-Authenticate`` header; it raises
    ``InvalidTokenError`` (a ``MissingTokenError``), which the middleware handles. The token
    this request read is the one deleted: a token refreshed or authorized again since, by
    another process, is kept.
    """
    require_login(request)
    key = instances.domain_for(domain, request)
    # The token this request sent, when it read one: Canvas rejected that one, not a token
    # refreshed or authorized again elsewhere since.
    sent = _cache(request).pop(_cache_key(request, key), None)
    tokens.invalidate_token(request.user, key, rejected=sent)
    raise InvalidTokenError()


def revoke_oauth_token(request: HttpRequest, domain: str | None = None) -> bool:
    """Revoke the user's token at Canvas and delete it; see ``tokens.revoke_token``."""
    require_login(request)
    key = instances.domain_for(domain, request)
    _cache(request).pop(_cache_key(request, key), None)
    return tokens.revoke_token(request.user, key)


def safe_next_url(request: HttpRequest, url: str | None, fallback: str = "/") -> str:
    """Return ``url`` if it stays on this site, else ``fallback``."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback


def authorize_url(request: HttpRequest, next_url: str | None = None) -> str:
    """Return the URL of this app's authorize view, coming back to ``next_url``."""
    url = reverse("canvas-oauth-authorize")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@sensitive_variables(
    "url",
)
def handle_missing_token(
    request: HttpRequest,
    next_url: str | None = None,
    *,
    silent: bool = False,
    domain: str | None = None,
) -> HttpResponse:
    """Start the dance: send the browser to Canvas, returning to ``next_url`` afterwards.

    ``next_url`` defaults to the current request's path. A ``silent`` dance sends
    ``prompt=none``: a user who already approved the app comes straight back with a
    code, and anyone else is sent through the usual consent page instead. ``domain``
    defaults to the instance the request is for.
    """
    url, _ = begin_dance(request, next_url, silent=silent, domain=domain)
    return HttpResponseRedirect(url)


@sensitive_variables("url", "dance")
def begin_dance(
    request: HttpRequest,
    next_url: str | None = None,
    *,
    silent: bool = False,
    domain: str | None = None,
    popup: bool = False,
) -> tuple[str, state.PendingDance]:
    """Record a new dance for ``request.user``; return the Canvas URL that starts it.

    A ``popup`` dance keeps its state in the cache rather than the session (see
    ``canvas_oauth.popup``).
    """
    require_login(request)
    instance = instances.get(instances.domain_for(domain, request))
    redirect_uri = conf.settings.redirect_uri or request.build_absolute_uri(
        reverse("canvas-oauth-callback")
    )
    dance = state.begin(
        request,
        next_url=safe_next_url(request, next_url or request.get_full_path()),
        redirect_uri=redirect_uri,
        domain=instance.domain,
        silent=silent,
        pkce=instance.pkce,
        popup=popup,
    )
    url = instance.client().authorize_url(
        redirect_uri=redirect_uri,
        state=dance.state,
        scopes=instance.scopes,
        purpose=instance.purpose,
        force_login=instance.force_login,
        code_challenge=dance.code_challenge if dance.code_verifier else None,
        prompt="none" if silent else None,
    )
    logger.info("Sending user %s to Canvas to authorize", request.user.pk)
    return url, dance


def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Finish a session dance where Canvas sends the browser back.

    Store the token and redirect to where the dance began. Raise a ``CanvasOAuthError``
    for anything that is not a valid, expected answer; no call goes to Canvas then.

    The original app's name, which a project may have routed in its own URLconf. This
    app's ``canvas-oauth-callback`` is ``views.callback``, which sends the return of a
    popup dance to ``canvas_oauth.popup`` and every other return here. A popup dance
    that reaches this function directly (``CANVAS_OAUTH_REDIRECT_URI`` routed here) is
    refused, and its waiting page told so, rather than finished: its answer belongs to
    the tool's page in the iframe, whose session this popup may not have.
    """
    redaction.guard_callback(request)
    try:
        return _finish_dance(request)
    finally:
        redaction.forget_callback_secrets(request)


@sensitive_variables("code", "params", "dance", "state_value")
def _finish_dance(request: HttpRequest) -> HttpResponse:
    params = request.GET
    state_value = params.get("state")
    error = params.get("error")
    if error and not state_value:
        # Canvas omits state on some refusals (spec §1.3, §9.3), so no dance is named:
        # show the refusal to this window, logged in or not (a popup may have no session),
        # in our words only: anyone can write such a link (security.md, "Error pages").
        denied = AuthorizationDeniedError(error, params.get("error_description", ""))
        logger.info("Canvas refused an authorization: %s (%s)", denied.error, denied.description)
        raise denied
    popup_dance = state.popup_dance(state_value) if state_value else None
    if popup_dance is not None:
        _refuse_popup_dance(popup_dance)
    require_login(request)
    if not state_value:
        raise InvalidOAuthStateError()
    dance = state.finish(request, state_value)
    require_own_dance(request, dance)
    try:
        return _finish_own_dance(request, dance, error)
    except CanvasOAuthError as exc:
        exc.next_url = dance.next_url  # the error page's "Try again" returns there
        raise


@sensitive_variables("code", "params", "dance")
def _finish_own_dance(
    request: HttpRequest, dance: state.PendingDance, error: str | None
) -> HttpResponse:
    params = request.GET
    if error and dance.silent and error in SILENT_FALLBACK_ERRORS:
        # Canvas needs the user after all: ask them, the ordinary way, on the same Canvas.
        return handle_missing_token(request, dance.next_url, domain=dance.domain)
    if error:
        # The state named this user's own live dance: the text came through Canvas's redirect.
        denied = AuthorizationDeniedError(
            error, params.get("error_description", ""), show_description=True
        )
        logger.info("Canvas refused authorization for user %s: %s", request.user.pk, denied.error)
        raise denied
    code = params.get("code")
    if not code:
        raise InvalidOAuthReturnError()
    exchange_and_store(request, dance, code)
    return HttpResponseRedirect(safe_next_url(request, dance.next_url))


@sensitive_variables("dance")
def _refuse_popup_dance(dance: state.PendingDance) -> NoReturn:
    logger.error(
        "A popup dance came back to canvas_oauth.oauth.oauth_callback, which finishes only "
        "session dances; route the redirect URI to canvas_oauth.views.callback instead"
    )
    state.stash_answer(dance, {"error": "invalid_return"})  # the page polling stops now
    raise InvalidOAuthReturnError(
        "This Canvas authorization cannot be finished here. Please start again."
    )


@sensitive_variables()
def exchange_and_store(
    request: HttpRequest, dance: state.PendingDance, code: str
) -> CanvasOAuth2Token:
    """Trade the dance's code for tokens and store them for ``request.user``."""
    instance = instances.get(dance.domain)
    # A token that could not be stored would be minted at Canvas and lost.
    crypto.require_usable_keys()
    client = instance.client()
    deadline = time.monotonic() + float(conf.settings.timeout)

    @sensitive_variables()
    def exchange(timeout: float | None) -> TokenGrant:
        return client.exchange_code(
            code,
            dance.redirect_uri,
            code_verifier=dance.code_verifier or None,
            replace_tokens=instance.replace_tokens,
            timeout=timeout,
        )

    # A class signing in at once shares the token endpoint's bucket (spec §9.2).
    grant = refresher.grant_within(exchange, deadline, "a code exchange")
    token = tokens.save_grant(request.user, dance.domain, grant, instance.scopes)
    _cache(request)[_cache_key(request, token.domain)] = token
    return token


def render_oauth_error(error_message: str) -> HttpResponse:
    """Return a 403 response showing ``error_message`` on the error page.

    The original app's function, kept for code that calls it: the page is rendered with
    ``CANVAS_OAUTH_ERROR_TEMPLATE`` (then ``canvas_oauth/oauth_error.html``), or is the
    plain text ``Error: …`` when no template can be found.
    """
    logger.info("Showing a Canvas OAuth error page")
    return errorpages.render(None, str(error_message), 403)
