"""The "Test your views with the fake Canvas" guide's example, run as written there.

The view, its URLconf and the tests are read from ``docs/howto/testing.md`` and executed
into this module, so pytest collects the guide's own fixtures and tests and the guide's
routes serve them.
"""

import sys
import types

import pytest

from tests.docs_examples import run_block

PAGE = "howto/testing.md"

run_block(PAGE, "# myapp/views.py", globals())
run_block(PAGE, "# tests/test_whoami.py", globals())


def guide_urlpatterns():
    """Run the guide's URLconf, its `from myapp import views` answered by this module."""
    namespace: dict = {}
    stand_in = types.SimpleNamespace(views=types.SimpleNamespace(whoami=globals()["whoami"]))
    previous = sys.modules.get("myapp")
    sys.modules["myapp"] = stand_in
    try:
        run_block(PAGE, "# myproject/urls.py", namespace)
    finally:
        if previous is None:
            del sys.modules["myapp"]
        else:
            sys.modules["myapp"] = previous
    return namespace["urlpatterns"]


urlpatterns = guide_urlpatterns()

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_the_guide_defines_three_tests():
    tests = [name for name in globals() if name.startswith("test_") and "guide" not in name]
    assert sorted(tests) == [
        "test_expired_token_is_refreshed_first",
        "test_first_visit_does_the_oauth_dance",
        "test_whoami_calls_canvas_with_the_stored_token",
    ]
