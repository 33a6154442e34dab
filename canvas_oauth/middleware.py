"""``OAuthMiddleware``: turns canvas_oauth errors raised by views into responses.

Place it after ``SessionMiddleware`` and ``AuthenticationMiddleware``. A view's
``MissingTokenError`` sends a browser to Canvas (and back to the view afterwards) or gives
a script a 401 JSON body with the URL to send the user to; other canvas_oauth errors
render the error template with their status. Works in sync and async stacks.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from canvas_oauth.exceptions import CanvasOAuthError
from canvas_oauth.views import error_response


class OAuthMiddleware(MiddlewareMixin):
    """Answer ``CanvasOAuthError``s from views; leave every other exception alone."""

    sync_capable = True
    async_capable = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, CanvasOAuthError):
            return error_response(request, exception)
        return None
