"""The error page every canvas_oauth error is shown with, and how its template is found.

``CANVAS_OAUTH_ERROR_TEMPLATE`` (default ``oauth_error.html``, which a project may supply)
is tried first, then the page this app ships as ``canvas_oauth/oauth_error.html``. The app
ships no top-level ``oauth_error.html``, so a project's own page wins whatever the order
of ``INSTALLED_APPS``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist, TemplateSyntaxError
from django.urls import get_script_prefix

from canvas_oauth import conf

SHIPPED_TEMPLATE = "canvas_oauth/oauth_error.html"


def template_names() -> list[str]:
    """Return the templates to try, the configured one first."""
    configured = conf.settings.error_template
    if isinstance(configured, str) and configured and configured != SHIPPED_TEMPLATE:
        return [configured, SHIPPED_TEMPLATE]
    return [SHIPPED_TEMPLATE]


def render(
    request: HttpRequest | None,
    message: str,
    status: int,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render the error page with ``message``; plain text when no template can be found.

    The page gets ``home_url`` (the site's root under its script prefix, not a bare
    ``/``) and, when ``context`` has one, ``retry_url``.
    """
    values = {
        "message": message,
        "status_code": status,
        "home_url": get_script_prefix(),
        **(context or {}),
    }
    template = _first_loadable()
    if template is None:
        # As the original app did, but as text: the message may hold Canvas's own words.
        return HttpResponse(
            f"Error: {message}", status=status, content_type="text/plain; charset=utf-8"
        )
    return HttpResponse(template.render(values, request), status=status)


def _first_loadable() -> Any:
    # A configured page that is missing or broken must not turn an error page into a 500
    # (the system check names it); the next candidate is tried instead.
    for name in template_names():
        try:
            return loader.get_template(name)
        except (TemplateDoesNotExist, TemplateSyntaxError):
            continue
    return None
