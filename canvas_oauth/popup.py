"""The popup dance, for tools launched inside a Canvas iframe.

In an iframe, the browser may withhold or partition the tool's session cookie, and Canvas
refuses to be framed. So the tool's page (in the iframe, logged in) starts a dance whose
state lives in the cache, and opens Canvas in a popup. Canvas sends the popup back to the
callback, which keeps Canvas's answer in the cache under the state and tells the opener.
The tool's page then claims the answer with its own session: the token is stored for the
user that session names, never for a user named by a request parameter.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import oauth, state
from canvas_oauth.exceptions import (
    AuthorizationDeniedError,
    CanvasOAuthError,
    InvalidOAuthReturnError,
    InvalidOAuthStateError,
)

logger = logging.getLogger(__name__)

TEMPLATE = "canvas_oauth/popup_returned.html"


@sensitive_variables("state_value", "dance")
def answer_return(request: HttpRequest) -> HttpResponse | None:
    """Answer Canvas's redirect if it ends a popup dance; None for any other return."""
    state_value = request.GET.get("state")
    dance = state.popup_dance(state_value) if state_value else None
    return None if dance is None else returned(request, dance)


@sensitive_variables("params", "code", "answer")
def returned(request: HttpRequest, dance: state.PendingDance) -> HttpResponse:
    """Answer Canvas's redirect in the popup: keep the answer, tell the opener, close."""
    params = request.GET
    error = params.get("error")
    code = params.get("code")
    if error:
        answer = {"error": error, "error_description": params.get("error_description", "")}
        # Not the description: this page has no user to match the dance with, and anyone
        # who started a popup dance knows its state (the user's /oauth/complete shows it).
        failure: CanvasOAuthError | None = AuthorizationDeniedError(
            error, answer["error_description"]
        )
    elif code:
        answer, failure = {"code": code}, None
    else:
        answer, failure = {"error": "invalid_return"}, InvalidOAuthReturnError()
    state.stash_answer(dance, answer)
    status = failure.status_code if failure else 200
    context = {
        "result": {"type": "canvas_oauth", "state": dance.state, "ok": failure is None},
        "message": failure.message if failure else "Canvas is connected.",
        "status_code": status,
    }
    response = render(request, TEMPLATE, context, status=status)
    # The popup arrives here from Canvas's page, which sets no opener policy. Django's
    # default "same-origin" (SECURE_CROSS_ORIGIN_OPENER_POLICY) would put this page in a
    # new browsing context group, cutting the popup's link to the tool's page: no message,
    # and no window.close(). The page holds nothing but the state, so keep the link.
    response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response


@sensitive_variables("state_value", "dance", "answer")
def complete(request: HttpRequest) -> HttpResponse:
    """Claim the answer of a popup dance for the logged-in user and store the token.

    Answer 202 while the popup has not come back yet, so the page can poll.
    """
    oauth.require_login(request)
    state_value = request.POST.get("state", "")
    try:
        dance, answer = state.claim_answer(state_value)
    except InvalidOAuthStateError:
        if state_value and state.is_waiting(state_value):
            return JsonResponse({"status": "pending"}, status=202)
        raise
    oauth.require_own_dance(request, dance)
    if "code" not in answer:
        if answer.get("error") == "invalid_return":
            raise InvalidOAuthReturnError()
        # This user's own dance: the description came through Canvas's redirect to the popup.
        raise AuthorizationDeniedError(
            answer.get("error", ""), answer.get("error_description", ""), show_description=True
        )
    oauth.exchange_and_store(request, dance, answer["code"])
    logger.info("Completed a popup authorization for user %s", request.user.pk)
    return JsonResponse(
        {"status": "connected", "next": oauth.safe_next_url(request, dance.next_url)}
    )
