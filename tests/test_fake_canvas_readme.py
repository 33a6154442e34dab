"""The "Test your views with the fake Canvas" guide's example, run as written there.

The view and the tests are read from ``docs/howto/testing.md`` and executed into this
module, so pytest collects the guide's own fixtures and tests. The URLconf stands in for
the user's project.
"""

import pytest
from django.urls import include, path

from tests.docs_examples import run_block

PAGE = "howto/testing.md"

run_block(PAGE, "# myapp/views.py", globals())
run_block(PAGE, "# tests/test_whoami.py", globals())

urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("whoami/", globals()["whoami"]),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_the_guide_defines_three_tests():
    tests = [name for name in globals() if name.startswith("test_") and "guide" not in name]
    assert sorted(tests) == [
        "test_expired_token_is_refreshed_first",
        "test_first_visit_does_the_oauth_dance",
        "test_whoami_calls_canvas_with_the_stored_token",
    ]
