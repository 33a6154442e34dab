"""The app's views, and how every canvas_oauth error becomes a response.

Errors are answered here: a trip to Canvas, a login redirect, a 401 JSON body for
scripts, or the error template with the error's status. Never a 500, never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import get_script_prefix
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from canvas_oauth import errorpages, instances, oauth, popup, redaction
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    InvalidOAuthReturnError,
    InvalidOAuthStateError,
    LoginRequiredError,
    MissingTokenError,
)

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("django.security.canvas_oauth")


def wants_json(request: HttpRequest) -> bool:
    """Tell whether the request comes from a script that cannot follow a redirect to Canvas."""
    accept = request.headers.get("Accept", "")
    return request.headers.get("X-Requested-With") == "XMLHttpRequest" or (
        "application/json" in accept and "text/html" not in accept
    )


def is_navigation(request: HttpRequest) -> bool:
    """Tell whether a redirect to Canvas (and back here afterwards) can answer the request."""
    return request.method in ("GET", "HEAD") and not wants_json(request)


def error_response(request: HttpRequest, exc: CanvasOAuthError) -> HttpResponse:
    """Answer a canvas_oauth error the way the user (or script) can act on it."""
    if isinstance(exc, LoginRequiredError):
        if wants_json(request):
            return JsonResponse({"error": exc.code}, status=401)
        return redirect_to_login(request.get_full_path())
    if isinstance(exc, MissingTokenError):
        return _authorization_required(request)
    # A return refused as forged, stale or someone else's; its subclasses are Canvas failing.
    if isinstance(exc, InvalidOAuthStateError) or type(exc) is InvalidOAuthReturnError:
        security_logger.warning(
            "Rejected Canvas OAuth callback for user %s: %s",
            getattr(getattr(request, "user", None), "pk", None),
            exc.code,
        )
    if wants_json(request):
        return JsonResponse({"error": exc.code, "message": exc.message}, status=exc.status_code)
    context = {"error": exc, "retry_url": retry_url(request, exc)}
    return errorpages.render(request, exc.message, exc.status_code, context)


def retry_url(request: HttpRequest, exc: CanvasOAuthError) -> str:
    """Return the error page's "Try again": a new dance, back to where the user was going.

    That is the failed dance's destination, or the page that failed (a GET), else the
    site's root.
    """
    next_url = exc.next_url
    if next_url is None and request.method == "GET" and not _is_callback(request):
        next_url = request.get_full_path()
    return oauth.authorize_url(request, oauth.safe_next_url(request, next_url, get_script_prefix()))


def _is_callback(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.func in (callback, oauth.oauth_callback)


def _authorization_required(request: HttpRequest) -> HttpResponse:
    if is_navigation(request):
        return start_dance(request, oauth.handle_missing_token)
    try:
        # A Canvas the dance would refuse is refused now, not once the user is sent there.
        instances.get(instances.domain_for(None, request))
    except CanvasOAuthError as exc:
        return error_response(request, exc)
    # A redirect would break a fetch() call: tell the script where to send the user.
    if request.method in ("GET", "HEAD"):
        next_url = request.get_full_path()
    else:
        next_url = oauth.safe_next_url(request, request.headers.get("Referer"), "")
    return JsonResponse(
        {
            "error": MissingTokenError.code,
            "authorize_url": oauth.authorize_url(request, next_url or None),
        },
        status=401,
    )


def start_dance(request: HttpRequest, begin: Callable[[HttpRequest], HttpResponse]) -> HttpResponse:
    """Answer with ``begin(request)``, the redirect to Canvas, or with the error it raised."""
    try:
        return begin(request)
    except CanvasOAuthError as exc:  # e.g. a Canvas domain that is not allow-listed
        return error_response(request, exc)


def handles_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn ``CanvasOAuthError``s raised by ``view`` into responses."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except CanvasOAuthError as exc:
            return error_response(request, exc)

    return wrapped


@never_cache
@require_GET
@handles_errors
@sensitive_variables("url", "dance")
def authorize(request: HttpRequest) -> HttpResponse:
    """Start the dance on demand; ``?next=`` says where to return (this site only).

    ``?prompt=none`` tries a silent re-authorization first; ``?domain=`` picks one of the
    allow-listed Canvas instances instead of the one the request resolves to;
    ``?popup=1`` answers JSON for ``connect.js`` instead of redirecting (``popup.py``).
    """
    next_url = oauth.safe_next_url(request, request.GET.get("next"))
    domain = request.GET.get("domain") or None
    if request.GET.get("popup") == "1":
        url, dance = oauth.begin_dance(request, next_url, domain=domain, popup=True)
        return JsonResponse({"authorize_url": url, "state": dance.state})
    return oauth.handle_missing_token(
        request, next_url, silent=request.GET.get("prompt") == "none", domain=domain
    )


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send ``Referrer-Policy: no-referrer`` with every answer of ``view``.

    The callback's URL carries Canvas's code, and its pages (the popup's too) must not
    hand that URL to whatever they load or link to. ``SecurityMiddleware`` only fills in
    a policy the response lacks, so this one wins over ``SECURE_REFERRER_POLICY``.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped


@never_cache
@no_referrer
@require_GET
@handles_errors
def callback(request: HttpRequest) -> HttpResponse:
    """Where Canvas sends the browser back, with a code or an error.

    The return of a popup dance is answered by ``popup``; any other finishes a session
    dance (``oauth.oauth_callback``).
    """
    redaction.guard_callback(request)
    try:
        response = popup.answer_return(request)
        return oauth.oauth_callback(request) if response is None else response
    finally:
        redaction.forget_callback_secrets(request)


@never_cache
@require_POST
@handles_errors
def revoke(request: HttpRequest) -> HttpResponse:
    """Disconnect Canvas: revoke the token at Canvas and forget it, then go ``next``."""
    next_url = oauth.safe_next_url(request, request.POST.get("next"))
    oauth.revoke_oauth_token(request)
    return HttpResponseRedirect(next_url)


@never_cache
@require_POST
@sensitive_post_parameters("state")
@handles_errors
def complete(request: HttpRequest) -> HttpResponse:
    """Claim a popup dance's answer for the logged-in user (see ``canvas_oauth.popup``)."""
    # It trades Canvas's code for tokens: a crash below (a project's receiver of
    # token_obtained) must not show them, even on the DEBUG page.
    redaction.guard_callback(request)
    return popup.complete(request)
