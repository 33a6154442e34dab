"""The fake Canvas's API lists: pagination (lib/api.rb) and the request throttle (§4.3, §8)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from canvas_oauth.testing import FakeCanvas, FakeClock, LiveFakeCanvas, RequestThrottle, mock_canvas
from canvas_oauth.testing.pagination import ruby_to_i
from tests.conftest import wait_until

START = 1_700_000_000.0


@pytest.fixture
def fake() -> FakeCanvas:
    return FakeCanvas(clock=FakeClock(start=START))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get(fake: FakeCanvas, path: str, token: str, **query: str):
    return fake.dispatch("GET", path, query, {}, bearer(token))


def links(response) -> dict[str, str]:
    """Map each rel of a Link header to its URL."""
    found = {}
    for part in response.headers["Link"].split(","):
        url, rel = part.split("; rel=")
        found[rel.strip('"')] = url.strip("<>")
    return found


def rels(response) -> list[str]:
    return [part.split("; rel=")[1].strip('"') for part in response.headers["Link"].split(",")]


def ids(response) -> list[int]:
    return [course["id"] for course in response.json()]


# -- courses: numbered pages ---------------------------------------------------------------------


def test_courses_are_seeded_per_user(fake):
    grace = fake.add_user("Grace Hopper")
    fake.add_courses(n=2)
    fake.add_courses(grace, 3, enrollment="teacher")
    ada_token = fake.issue_token()["access_token"]
    grace_token = fake.issue_token(user=grace)["access_token"]
    assert ids(get(fake, "/api/v1/courses", ada_token)) == [1, 2]
    grace_courses = get(fake, "/api/v1/courses", grace_token).json()
    assert [c["id"] for c in grace_courses] == [3, 4, 5]
    assert grace_courses[0]["enrollments"] == [
        {"type": "teacher", "role": "TeacherEnrollment", "user_id": 2, "enrollment_state": "active"}
    ]
    assert grace_courses[0]["name"] == "Course 3" and grace_courses[0]["course_code"] == "C3"


def test_no_courses_is_one_empty_page(fake):
    response = get(fake, "/api/v1/courses", fake.issue_token()["access_token"])
    assert response.status == 200 and response.json() == []
    assert rels(response) == ["current", "first", "last"]


def test_links_in_canvas_order_with_the_query_repeated(fake):
    fake.add_courses(n=25)
    token = fake.issue_token()["access_token"]
    response = get(
        fake,
        "/api/v1/courses",
        token,
        page="2",
        per_page="10",
        include="term",
        access_token=token,
        enrollment_type="student",
    )
    assert ids(response) == list(range(11, 21))
    base = "https://canvas.example.edu/api/v1/courses?enrollment_type=student&include=term&"
    assert response.headers["Link"] == ",".join(
        [
            f'<{base}page=2&per_page=10>; rel="current"',
            f'<{base}page=3&per_page=10>; rel="next"',
            f'<{base}page=1&per_page=10>; rel="prev"',
            f'<{base}page=1&per_page=10>; rel="first"',
            f'<{base}page=3&per_page=10>; rel="last"',
        ]
    )


def test_first_and_last_pages_leave_out_prev_and_next(fake):
    fake.add_courses(n=15)
    token = fake.issue_token()["access_token"]
    assert rels(get(fake, "/api/v1/courses", token)) == ["current", "next", "first", "last"]
    last = get(fake, "/api/v1/courses", token, page="2")
    assert ids(last) == list(range(11, 16))
    assert rels(last) == ["current", "prev", "first", "last"]


@pytest.mark.parametrize(
    ("per_page", "size"),
    [("5", 5), ("100", 100), ("1000", 100), ("0", 1), ("-3", 1), ("", 1), ("abc", 1), ("7x", 7)],
)
def test_per_page_is_clamped_like_canvas(fake, per_page, size):
    fake.add_courses(n=120)
    response = get(fake, "/api/v1/courses", fake.issue_token()["access_token"], per_page=per_page)
    assert len(response.json()) == size
    assert links(response)["current"].endswith(f"page=1&per_page={size}")


def test_per_page_cap_is_configurable(fake):
    fake.max_per_page = 50
    fake.add_courses(n=60)
    response = get(fake, "/api/v1/courses", fake.issue_token()["access_token"], per_page="100")
    assert len(response.json()) == 50


def test_page_past_the_end_is_empty_without_next_or_last(fake):
    fake.add_courses(n=3)
    response = get(fake, "/api/v1/courses", fake.issue_token()["access_token"], page="5")
    assert response.status == 200 and response.json() == []
    assert rels(response) == ["current", "prev", "first"]
    assert links(response)["prev"].endswith("page=4&per_page=10")


@pytest.mark.parametrize("page", ["0", "-1", "abc", ""])
def test_a_page_that_is_no_positive_number_is_404(fake, page):
    response = get(fake, "/api/v1/courses", fake.issue_token()["access_token"], page=page)
    assert response.status == 404
    assert response.json() == {"errors": [{"message": "The specified resource does not exist."}]}


def test_ruby_to_i():
    assert [ruby_to_i(v) for v in ["12", " 3", "+4", "-5", "6abc", "abc", ""]] == [
        12,
        3,
        4,
        -5,
        6,
        0,
        0,
    ]


# -- page views: bookmarks -------------------------------------------------------------------------


def test_page_views_follow_bookmarks_newest_first(fake):
    fake.add_page_views(n=12)
    token = fake.issue_token()["access_token"]
    first = get(fake, "/api/v1/users/self/page_views", token, per_page="5")
    assert rels(first) == ["current", "next", "first"]
    assert links(first)["current"].endswith("page=first&per_page=5")
    seen = [view["url"] for view in first.json()]
    response = first
    while "next" in rels(response):
        assert "page=bookmark:" in links(response)["next"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(links(response)["next"]).query).items()}
        response = get(fake, "/api/v1/users/self/page_views", token, **query)
        seen += [view["url"] for view in response.json()]
    assert rels(response) == ["current", "first"]
    assert seen == [
        f"https://canvas.example.edu/courses/1/pages/page-{i}" for i in range(11, -1, -1)
    ]
    assert fake.calls["page_views"] == 3


@pytest.mark.parametrize("page", ["2", "bookmark:", "bookmark:!!", "bookmark:WyJ4Il0", "other"])
def test_page_views_refuse_a_page_they_did_not_hand_out(fake, page):
    response = get(
        fake, "/api/v1/users/self/page_views", fake.issue_token()["access_token"], page=page
    )
    assert response.status == 404


def test_seeding_refuses_a_negative_count(fake):
    with pytest.raises(ValueError, match="negative"):
        fake.add_courses(n=-1)
    with pytest.raises(ValueError, match="negative"):
        fake.add_page_views(n=-1)


# -- authentication and scopes on the lists --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/courses", "/api/v1/users/self/page_views"])
def test_lists_answer_dead_tokens_and_missing_scopes_like_users_self(path):
    fake = FakeCanvas(require_scopes=True, allowed_scopes=["url:GET|/api/v1/users/:id"])
    assert fake.dispatch("GET", path, {}, {}, {}).json()["status"] == "unauthenticated"
    dead = get(fake, path, "1~" + "x" * 64)
    assert dead.status == 401 and dead.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    narrow = get(fake, path, fake.issue_token(scopes=["url:GET|/api/v1/users/:id"])["access_token"])
    assert narrow.json() == {"errors": [{"message": "Insufficient scopes on access token."}]}
    scope = {
        "/api/v1/courses": "url:GET|/api/v1/courses",
        "/api/v1/users/self/page_views": "url:GET|/api/v1/users/:user_id/page_views",
    }[path]
    fake.client.allowed_scopes.append(scope)
    assert get(fake, path, fake.issue_token(scopes=[scope])["access_token"]).status == 200


# -- the request throttle ------------------------------------------------------------------------


def test_headers_come_from_the_bucket_and_it_leaks_on_the_clock(fake):
    fake.throttle.request_cost = 20.0
    token = fake.issue_token()["access_token"]
    first = get(fake, "/api/v1/courses", token)
    assert (first.headers["X-Request-Cost"], first.headers["X-Rate-Limit-Remaining"]) == (
        "20.0",
        "580.0",
    )
    assert get(fake, "/api/v1/users/self", token).headers["X-Rate-Limit-Remaining"] == "560.0"
    fake.advance(1)  # leaks 10 of the 40 units
    assert get(fake, "/api/v1/courses", token).headers["X-Rate-Limit-Remaining"] == "550.0"
    other = fake.issue_token()["access_token"]
    assert get(fake, "/api/v1/courses", other).headers["X-Rate-Limit-Remaining"] == "580.0"


def test_a_request_holds_its_up_front_cost_while_in_flight(fake):
    fake.latency["api"] = 5.0
    token = fake.issue_token()["access_token"]
    response = get(fake, "/api/v1/courses", token)
    assert fake.throttle.remaining(token, fake.clock.now()) == 550.0
    assert "X-Rate-Limit-Remaining" not in response.headers
    response.complete()
    response.complete()  # only once
    assert response.headers["X-Rate-Limit-Remaining"] == "599.95"
    assert fake.throttle.remaining(token, fake.clock.now()) == 599.95


def test_the_request_that_fills_the_bucket_is_refused():
    fake = FakeCanvas(clock=FakeClock(start=START), throttle=RequestThrottle(hwm=150))
    fake.latency["api"] = 5.0
    token = fake.issue_token()["access_token"]
    held = [get(fake, "/api/v1/courses", token) for _ in range(2)]
    refused = get(fake, "/api/v1/courses", token)
    assert refused.status == 429  # hosted Canvas since 2025-10-08
    assert refused.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert refused.text == "429 Too Many Requests (Rate Limit Exceeded)\n"
    assert refused.delay == 0  # refused before the app, so none of its latency
    assert "X-Request-Cost" not in refused.headers
    # Canvas writes hwm - count over the 0.0 of its refusal: 150 - (2 x 50 held).
    assert refused.headers["X-Rate-Limit-Remaining"] == "50.0"
    assert fake.calls["throttled"] == 1 and fake.calls["courses"] == 3
    for response in held:
        response.complete()
    assert get(fake, "/api/v1/courses", token).status == 200


def test_older_canvas_refuses_with_its_403():
    fake = FakeCanvas(clock=FakeClock(start=START), throttle=RequestThrottle(hwm=50))
    older = FakeCanvas(
        clock=FakeClock(start=START), throttle=RequestThrottle(hwm=50), throttle_status=403
    )
    for canvas, status, reason in ((fake, 429, "Too Many Requests"), (older, 403, "Forbidden")):
        refused = get(canvas, "/api/v1/courses", canvas.issue_token()["access_token"])
        assert refused.status == status
        assert refused.text == f"{status} {reason} (Rate Limit Exceeded)\n"
        assert refused.headers["X-Rate-Limit-Remaining"] == "50.0"
    older.misbehave("api", "throttle", times=1)
    assert get(older, "/api/v1/users/self", older.issue_token()["access_token"]).status == 403
    with pytest.raises(ValueError, match="429"):
        FakeCanvas(throttle_status=500)


def test_heavy_routes_cost_what_they_are_configured_to():
    fake = FakeCanvas(
        clock=FakeClock(start=START),
        throttle=RequestThrottle(route_costs={"/api/v1/courses": 150.0}),
    )
    token = fake.issue_token()["access_token"]
    assert get(fake, "/api/v1/users/self", token).headers["X-Request-Cost"] == "0.05"
    answers = [get(fake, "/api/v1/courses", token) for _ in range(4)]
    assert [a.headers.get("X-Request-Cost") for a in answers] == ["150.0"] * 4
    # Four heavy calls drained the bucket: the next call, however light, is refused.
    assert float(answers[-1].headers["X-Rate-Limit-Remaining"]) == pytest.approx(-0.05)
    assert get(fake, "/api/v1/users/self", token).status == 429
    with pytest.raises(ValueError, match="route_costs"):
        RequestThrottle(route_costs={"/api/v1/courses": -1.0})


def test_the_token_endpoint_is_throttled_by_client_with_200_units_a_grant(fake):
    fake.throttle.token_endpoint = True
    refresh_tokens = [fake.issue_token()["refresh_token"] for _ in range(4)]

    def refresh(refresh_token):
        form = {
            "grant_type": "refresh_token",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "refresh_token": refresh_token,
        }
        return fake.dispatch("POST", "/login/oauth2/token", {}, form, {})

    answers = [refresh(token) for token in refresh_tokens]
    # Each grant costs its real cost and oauth_token_additional_request_cost (200): the
    # fourth finds the bucket full, is refused, and says how far over it is.
    assert [a.status for a in answers] == [200, 200, 200, 429]
    remaining = [float(a.headers["X-Rate-Limit-Remaining"]) for a in answers]
    assert remaining == pytest.approx([399.95, 199.9, -0.15, -0.15])
    assert "X-Request-Cost" not in answers[-1].headers
    assert fake.calls["throttled"] == 1
    fake.advance(5.2)  # (50 - -0.15) / 10 s of leaking, and a little more
    assert refresh(refresh_tokens[3]).status == 200
    # Another developer key (to Canvas, another sender) has a bucket of its own.
    other = fake.add_client("20000000000002", "other-secret")
    form = {"grant_type": "refresh_token", "client_id": other.client_id}
    refused = fake.dispatch("POST", "/login/oauth2/token", {}, form, {})
    assert refused.status == 401  # judged by the app, not the throttle
    assert refused.headers["X-Rate-Limit-Remaining"] == "599.95"


def test_other_tokens_have_their_own_buckets_and_tokenless_calls_are_not_throttled():
    fake = FakeCanvas(clock=FakeClock(start=START), throttle=RequestThrottle(hwm=50))
    token = fake.issue_token()["access_token"]
    assert get(fake, "/api/v1/courses", token).status == 429
    assert get(fake, "/api/v1/courses", fake.issue_token()["access_token"]).status == 429
    grant = fake.dispatch("POST", "/login/oauth2/token", {}, {"grant_type": "x"}, {})
    assert grant.status == 400
    assert grant.headers["X-Rate-Limit-Remaining"] == "49.95"


def test_the_bucket_is_capped_at_its_maximum():
    fake = FakeCanvas(
        clock=FakeClock(start=START),
        throttle=RequestThrottle(hwm=1000, maximum=120, request_cost=100),
    )
    token = fake.issue_token()["access_token"]
    for _ in range(3):
        last = get(fake, "/api/v1/courses", token)
    assert last.headers["X-Rate-Limit-Remaining"] == "880.0"


def test_throttle_settings_must_not_be_negative():
    with pytest.raises(ValueError, match="outflow"):
        RequestThrottle(outflow=-1)


def test_reset_empties_the_buckets(fake):
    token = fake.issue_token()["access_token"]
    get(fake, "/api/v1/courses", token)
    fake.throttle.reset()
    assert fake.throttle.remaining(token, fake.clock.now()) == 600.0


# -- in flight, concurrently ------------------------------------------------------------------


def test_concurrent_requests_over_http_fill_the_bucket():
    fake = FakeCanvas(clock=FakeClock(start=START), throttle=RequestThrottle(hwm=150))
    fake.latency["api"] = 30.0  # held in flight until the server stops
    with LiveFakeCanvas(fake) as live, ThreadPoolExecutor(2) as pool:
        headers = bearer(fake.issue_token()["access_token"])
        url = f"{live.url}/api/v1/courses"
        held = [pool.submit(requests.get, url, headers=headers, timeout=60) for _ in range(2)]
        wait_until(lambda: fake.calls["courses"] == 2, "both requests reaching the server")
        refused = requests.get(url, headers=headers, timeout=5)
        assert refused.status_code == 429
        assert refused.text == "429 Too Many Requests (Rate Limit Exceeded)\n"
        assert "X-Request-Cost" not in refused.headers
        stopping = threading.Thread(target=live.stop)
        stopping.start()
        assert [future.result().status_code for future in held] == [200, 200]
        stopping.join()
    assert fake.throttle.remaining(headers["Authorization"][7:], fake.clock.now()) == 149.9


def test_a_slow_fault_holds_the_up_front_cost_too(fake):
    fake.misbehave("api", "slow", times=1, delay=5.0)
    token = fake.issue_token()["access_token"]
    response = get(fake, "/api/v1/courses", token)
    assert fake.throttle.remaining(token, fake.clock.now()) == 550.0
    response.complete()
    assert fake.throttle.remaining(token, fake.clock.now()) == 599.95


def test_concurrent_requests_in_process_fill_the_bucket(held_latency):
    fake = FakeCanvas(clock=FakeClock(start=START), throttle=RequestThrottle(hwm=150))
    fake.latency["api"] = 1.0  # the mock sleeps it out in the calling thread: held here
    with mock_canvas(fake), ThreadPoolExecutor(2) as pool:
        headers = bearer(fake.issue_token()["access_token"])
        url = f"{fake.base_url}/api/v1/courses"
        held = [pool.submit(requests.get, url, headers=headers, timeout=60) for _ in range(2)]
        wait_until(lambda: fake.calls["courses"] == 2, "both requests reaching the fake")
        assert requests.get(url, headers=headers, timeout=5).status_code == 429
        held_latency.set()
        assert [future.result().status_code for future in held] == [200, 200]
    assert fake.calls["throttled"] == 1


# -- one course, and enrolling users in it (for bulk jobs) ---------------------------------------


def post(fake: FakeCanvas, path: str, token: str, **form: str):
    return fake.dispatch("POST", path, {}, form, bearer(token))


def test_a_course_of_the_user_is_read_by_id(fake):
    token = fake.issue_token()["access_token"]
    course, _ = fake.add_courses(n=2)
    response = get(fake, f"/api/v1/courses/{course.id}", token)
    assert response.status == 200
    assert response.json()["name"] == course.name
    assert fake.calls["course"] == 1


def test_a_course_of_someone_else_is_a_permission_401_and_none_is_404(fake):
    token = fake.issue_token()["access_token"]
    (theirs,) = fake.add_courses(fake.add_user("Grace Hopper"), n=1)
    refused = get(fake, f"/api/v1/courses/{theirs.id}", token)
    assert refused.status == 401
    assert "WWW-Authenticate" not in refused.headers  # the token is fine: no refresh
    assert refused.json()["errors"][0]["message"] == "user not authorized to perform that action"
    assert get(fake, "/api/v1/courses/999", token).status == 404


def test_a_teacher_enrolls_a_user(fake):
    token = fake.issue_token()["access_token"]
    (course,) = fake.add_courses(n=1, enrollment="teacher")
    student = fake.add_user("Grace Hopper")
    form = {"enrollment[user_id]": str(student.id), "enrollment[type]": "StudentEnrollment"}
    response = post(fake, f"/api/v1/courses/{course.id}/enrollments", token, **form)
    assert response.status == 200
    body = response.json()
    assert (body["course_id"], body["user_id"], body["type"]) == (
        course.id,
        student.id,
        "StudentEnrollment",
    )
    assert body["enrollment_state"] == "invited"
    assert [(c.id, c.enrollment_type) for c in student.courses] == [(course.id, "student")]
    assert fake.calls["enroll"] == 1


@pytest.mark.parametrize(
    ("teacher", "form", "status", "message"),
    [
        (False, {}, 401, None),  # a student of the course may not enroll anyone
        (True, {"enrollment[type]": "Student"}, 400, "Invalid type"),
        (True, {"enrollment[user_id]": ""}, 400, "Can't create an enrollment without a user."),
        (True, {"enrollment[user_id]": "404"}, 404, None),
        (False, {"enrollment[type]": "Student"}, 400, "Invalid type"),  # checked first
    ],
)
def test_an_enrollment_canvas_refuses(fake, teacher, form, status, message):
    token = fake.issue_token()["access_token"]
    (course,) = fake.add_courses(n=1, enrollment="teacher" if teacher else "student")
    student = fake.add_user("Grace Hopper")
    form = {"enrollment[user_id]": str(student.id), **form}
    response = post(fake, f"/api/v1/courses/{course.id}/enrollments", token, **form)
    assert response.status == status
    assert "WWW-Authenticate" not in response.headers
    if message:
        assert response.json()["message"].startswith(message)
    assert student.courses == []


def test_an_enrollment_without_a_type_is_a_student_one_and_without_anything_is_400(fake):
    token = fake.issue_token()["access_token"]
    (course,) = fake.add_courses(n=1, enrollment="teacher")
    student = fake.add_user("Grace Hopper")
    path = f"/api/v1/courses/{course.id}/enrollments"
    assert post(fake, path, token).json() == {"message": "No parameters given"}
    made = post(fake, path, token, **{"enrollment[user_id]": str(student.id)})
    assert made.json()["type"] == "StudentEnrollment"


def test_enrolling_into_a_course_nobody_has_is_404(fake):
    token = fake.issue_token()["access_token"]
    assert post(fake, "/api/v1/courses/7/enrollments", token).status == 404


def test_the_course_calls_need_their_scopes(fake):
    fake.client.require_scopes = True
    token = fake.issue_token(scopes=["url:GET|/api/v1/courses/:id"])["access_token"]
    (course,) = fake.add_courses(n=1, enrollment="teacher")
    assert get(fake, f"/api/v1/courses/{course.id}", token).status == 200
    refused = post(fake, f"/api/v1/courses/{course.id}/enrollments", token)
    assert refused.status == 401
    assert refused.json()["errors"][0]["message"] == "Insufficient scopes on access token."
