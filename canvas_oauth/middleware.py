"""``OAuthMiddleware``: turns canvas_oauth errors raised by views into responses.

Place it after ``SessionMiddleware`` and ``AuthenticationMiddleware``. A view's
``MissingTokenError`` sends a browser to Canvas (and back to the view afterwards) or gives
a script a 401 JSON body with the URL to send the user to; other canvas_oauth errors
render the error template with their status. Works in sync and async stacks.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from canvas_oauth import oauth
from canvas_oauth.exceptions import CanvasOAuthError, MissingTokenError
from canvas_oauth.views import error_response, is_navigation, start_dance, wants_json

__all__ = ["OAuthMiddleware", "handle_missing_token", "render_oauth_error"]


class OAuthMiddleware(MiddlewareMixin):
    """Answer each ``CanvasOAuthError`` a view raises; leave every other exception alone."""

    sync_capable = True
    async_capable = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CanvasOAuthError):
            return None
        # The two calls the original middleware made, by the names it made them with, so
        # that a test patching ``canvas_oauth.middleware.handle_missing_token`` or
        # ``render_oauth_error`` (as the original's tests do) decides the answer.
        if isinstance(exception, MissingTokenError) and is_navigation(request):
            return start_dance(request, handle_missing_token)
        if type(exception) is CanvasOAuthError and not wants_json(request):
            return render_oauth_error(str(exception))
        return error_response(request, exception)


# The original imported these two from ``canvas_oauth.oauth``; here they look them up there
# on each call, so that patching either module's name changes what the middleware does.


def handle_missing_token(request: HttpRequest) -> HttpResponse:
    """Start the dance with ``canvas_oauth.oauth.handle_missing_token(request)``."""
    return oauth.handle_missing_token(request)


def render_oauth_error(error_message: str) -> HttpResponse:
    """Render the error page with ``canvas_oauth.oauth.render_oauth_error(error_message)``."""
    return oauth.render_oauth_error(error_message)
