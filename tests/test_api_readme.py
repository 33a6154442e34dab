"""The docs' examples of calling the Canvas API, kept runnable against the fake Canvas.

The code between the markers is the docs' (and the README's one example), as written there;
the last test checks that those pages still show it.
"""

import pytest
from django.urls import include, path

notified = []


def notify(user, message):
    notified.append((user, message))


# -- README and docs/install.md, step 6 --
from django.http import JsonResponse  # noqa: E402

from canvas_oauth.api import canvas_session  # noqa: E402


def courses(request):
    response = canvas_session(request).get("courses")  # /api/v1/courses, as the user
    return JsonResponse(response.json(), safe=False)


# -- docs/howto/call-the-api.md --


def dashboard(request):
    canvas = canvas_session(request)
    me = canvas.get("users/self").json()  # GET /api/v1/users/self
    courses = [course["name"] for course in canvas.paginate("courses")]
    return JsonResponse({"name": me["name"], "courses": courses})


# -- docs/howto/background-jobs.md --
from canvas_oauth.api import CanvasSession  # noqa: E402
from canvas_oauth.exceptions import MissingTokenError  # noqa: E402


def nightly_sync(user):
    try:
        with CanvasSession.for_user(user) as canvas:
            courses = list(canvas.paginate("courses"))
    except MissingTokenError as exc:  # InvalidTokenError is one too
        notify(user, f"Please reconnect Canvas: https://tool.example.edu{exc.authorize_url}")
        return
    return courses  # the docs' "..."


# -- docs/howto/call-the-api.md, With canvasapi --
from canvas_oauth.api import canvasapi_for  # noqa: E402


def course_list(request):
    canvas = canvasapi_for(request)  # or canvasapi_for(user) outside a request
    return JsonResponse({"courses": [course.name for course in canvas.get_courses()]})


# -- end of the docs' code --

urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("courses/", courses),
    path("dashboard/", dashboard),
    path("course-list/", course_list),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def seeded(fake_canvas, stored_token):
    fake_canvas.add_courses(n=120)
    return [f"Course {n}" for n in range(1, 121)]


def test_quick_start_view(browser, seeded):
    assert [course["name"] for course in browser.get("/courses/").json()] == seeded[:10]


def test_dashboard_view(browser, seeded, fake_canvas):
    assert browser.get("/dashboard/").json() == {"name": "Ada Lovelace", "courses": seeded}
    assert fake_canvas.calls["courses"] == 2


def test_dashboard_view_without_a_token_goes_to_canvas(browser, fake_canvas):
    assert "/login/oauth2/auth?" in browser.get("/dashboard/")["Location"]


def test_nightly_sync(user, seeded):
    assert [course["name"] for course in nightly_sync(user)] == seeded


def test_nightly_sync_asks_the_user_to_reconnect(user, fake_canvas):
    notified.clear()
    assert nightly_sync(user) is None
    assert notified == [
        (
            user,
            "Please reconnect Canvas: https://tool.example.edu/oauth/authorize?domain=canvas.example.edu",
        )
    ]


def test_canvasapi_view(browser, seeded):
    pytest.importorskip("canvasapi")
    assert browser.get("/course-list/").json() == {"courses": seeded}


SHOWN_IN = {
    "courses": ["README.md", "docs/install.md"],
    "dashboard": ["docs/howto/call-the-api.md"],
    "nightly_sync": ["docs/howto/background-jobs.md"],
    "course_list": ["docs/howto/call-the-api.md"],
}


@pytest.mark.parametrize("name", sorted(SHOWN_IN))
def test_the_docs_show_this_code(name):
    import textwrap
    from pathlib import Path

    root = Path(__file__).parents[1]
    source = Path(__file__).read_text()
    start = source.index(f"def {name}(")
    block = source[start : source.index("\n\n\n", start)]
    block = block.replace('    return courses  # the docs\' "..."', "    ...")
    for page in SHOWN_IN[name]:
        text = (root / page).read_text()
        assert block in text or textwrap.indent(block, "   ") in text, (name, page)
