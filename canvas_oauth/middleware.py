"""``OAuthMiddleware``: turns canvas_oauth errors raised by views into responses.

Place it after ``SessionMiddleware`` and ``AuthenticationMiddleware``. A view's
``MissingTokenError`` sends a browser to Canvas (and back to the view afterwards) or gives
a script a 401 JSON body with the URL to send the user to; other canvas_oauth errors
render the error template with their status. Works in sync and async stacks.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from canvas_oauth.exceptions import CanvasOAuthError, MissingTokenError
from canvas_oauth.oauth import handle_missing_token, render_oauth_error
from canvas_oauth.views import error_response, is_navigation, start_dance, wants_json


class OAuthMiddleware(MiddlewareMixin):
    """Answer each ``CanvasOAuthError`` a view raises; leave every other exception alone."""

    sync_capable = True
    async_capable = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, CanvasOAuthError):
            return None
        # The two calls the original middleware made, by the names it made them with, so
        # that code patching ``canvas_oauth.middleware.handle_missing_token`` or
        # ``render_oauth_error`` (as the original's tests do) still reaches them.
        if isinstance(exception, MissingTokenError) and is_navigation(request):
            return start_dance(request, handle_missing_token)
        if type(exception) is CanvasOAuthError and not wants_json(request):
            return render_oauth_error(str(exception))
        return error_response(request, exception)
