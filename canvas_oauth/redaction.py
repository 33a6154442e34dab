"""What Django's error reports (admin e-mails, the DEBUG page) may show of the callback,
of the popup dance's complete view, and of a request that refreshes a token.

The callback's query holds the single-use code and the state, complete's POST the state,
and the frames of both Canvas's code and the fresh tokens.
"""

from __future__ import annotations

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter

# The callback's query parameters that nothing but Canvas and this app may see.
CALLBACK_SECRETS = ("code", "state")


class CallbackReporterFilter(SafeExceptionReporterFilter):
    """Hide ``sensitive_variables`` even when ``DEBUG`` is on.

    Django shows every local variable on the DEBUG page; a developer debugging the
    callback against a real Canvas should not find a user's token there.
    """

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


def guard_callback(request: HttpRequest) -> None:
    """Make error reports about ``request`` hide the sensitive variables of its frames
    (and its ``sensitive_post_parameters``), even with ``DEBUG`` on."""
    # Django reads this documented attribute, which django-stubs does not declare.
    request.exception_reporter_filter = CallbackReporterFilter()  # type: ignore[attr-defined]


def forget_callback_secrets(request: HttpRequest) -> None:
    """Drop the code and the state from ``request``'s query once they have been used.

    Whatever reads the query later (Django's log of a 502 and its e-mail, the DEBUG page,
    a login redirect's ``next``, an error tracker) finds neither.
    """
    query = request.GET.copy()
    for name in CALLBACK_SECRETS:
        query.pop(name, None)
    request.META["QUERY_STRING"] = query.urlencode()
    request.GET = QueryDict(request.META["QUERY_STRING"], encoding=request.encoding)
