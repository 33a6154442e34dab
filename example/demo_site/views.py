"""The example site's pages: who you are in Canvas and your courses, asked of Canvas as you."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from canvas_oauth.api import canvas_session

# Small pages, so that the example follows Canvas's Link headers from page to page; left
# out, paginate() asks for 100 at a time.
COURSES_PER_PAGE = 5


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Show the Canvas user behind the token and every page of their courses.

    Without a usable token, the session raises and ``OAuthMiddleware`` sends the browser
    to Canvas, then back here. So does a token Canvas rejects twice, and Canvas being
    down or throttling us ends on the app's error page.
    """
    session = canvas_session(request)
    response = session.get("users/self")
    try:
        canvas_user = response.json() if response.ok else None
    except ValueError:
        canvas_user = None
    if not isinstance(canvas_user, dict):
        return _problem(request, f"Canvas answered {response.status_code}, not a user.")
    courses = list(session.paginate("courses", {"per_page": COURSES_PER_PAGE}))
    return render(request, "demo_site/home.html", {"canvas_user": canvas_user, "courses": courses})


@login_required
def disconnected(request: HttpRequest, revoked: bool = True) -> HttpResponse:
    """Where "Disconnect Canvas" lands, and the error page's start page: offer to connect.

    Landing on ``home`` instead would start a new dance at once, as it needs a token; after
    the user declined at Canvas, that would ask them again straight away.
    """
    return render(request, "demo_site/disconnected.html", {"revoked": revoked})


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
