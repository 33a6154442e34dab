"""The example site's page: who you are in Canvas, asked of Canvas with your own token."""

from __future__ import annotations

import requests
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from canvas_oauth.conf import base_url
from canvas_oauth.oauth import get_oauth_token, invalidate_oauth_token


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Show the Canvas user behind the token.

    Without a usable token, ``get_oauth_token`` raises and ``OAuthMiddleware`` sends the
    browser to Canvas, then back here.
    """
    token = get_oauth_token(request)
    url = base_url(settings.CANVAS_OAUTH_CANVAS_DOMAIN) + "/api/v1/users/self"
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.CANVAS_API_TIMEOUT,
        )
    except requests.RequestException:
        return _problem(request, "Canvas did not answer. Please try again in a moment.")
    if response.status_code == 401 and "WWW-Authenticate" in response.headers:
        # Canvas no longer accepts the token (revoked there, say): forget it and ask
        # again. This raises; the middleware restarts the dance.
        invalidate_oauth_token(request)
    try:
        canvas_user = response.json() if response.ok else None
    except ValueError:
        canvas_user = None
    if not isinstance(canvas_user, dict):
        return _problem(request, f"Canvas answered {response.status_code}, not a user.")
    return render(request, "demo_site/home.html", {"canvas_user": canvas_user})


@login_required
@ensure_csrf_cookie
def lti(request: HttpRequest, opener_policy: str = "same-origin-allow-popups") -> HttpResponse:
    """A tool page as it would sit in a Canvas iframe: connect Canvas through a popup.

    ``connect.js`` claims the popup's answer with a CSRF-protected POST, so the page makes
    sure the CSRF cookie is set. Opened outside an iframe, the page is a top-level window
    whose opener policy applies: Django's default, "same-origin", cuts the popup's link to
    the page as soon as the popup leaves for Canvas, and ``connect.js`` must poll instead
    of hearing from the popup. /lti/same-origin/ shows that case.
    """
    response = render(request, "demo_site/lti.html")
    response["Cross-Origin-Opener-Policy"] = opener_policy
    return response


def _problem(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "demo_site/home.html", {"problem": message}, status=502)
