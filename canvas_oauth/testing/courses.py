"""One course, and enrolling a user in it: ``GET /api/v1/courses/:id`` and
``POST /api/v1/courses/:course_id/enrollments``, for bulk jobs to run against.

As Canvas answers them (``courses_controller.rb`` ``show``, ``enrollments_api_controller.rb``
``create``): a course nobody has is ``404``; one the token's user is not enrolled in is
``401`` without ``WWW-Authenticate`` (a missing permission, not a dead token), as is
enrolling someone into a course the user does not teach. An enrollment's parameters are
checked first (``400``: none given, a type that is not one of Canvas's, no
``enrollment[user_id]``; no type means ``StudentEnrollment``), then the permission, then
the user (``404`` when unknown).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import errors
from .api import ApiEndpoint
from .records import FakeCourse, FakeUser
from .wire import FakeResponse, json_response

COURSE_SCOPE = "url:GET|/api/v1/courses/:id"
ENROLL_SCOPE = "url:POST|/api/v1/courses/:course_id/enrollments"
ENROLLMENT_TYPES = (
    "StudentEnrollment",
    "TeacherEnrollment",
    "TaEnrollment",
    "ObserverEnrollment",
    "DesignerEnrollment",
)
# EnrollmentsApiController's @@errors, joined with ", " when several apply.
NO_PARAMETERS = "No parameters given"
BAD_TYPE = "Invalid type"
MISSING_USER_ID = (
    "Can't create an enrollment without a user. Include enrollment[user_id] to create an enrollment"
)
COURSE_PATH = re.compile(r"/api/v1/courses/(\d+)")
ENROLLMENTS_PATH = re.compile(r"/api/v1/courses/(\d+)/enrollments")


def not_authorized() -> FakeResponse:
    """Canvas's answer to a live token whose user may not do this."""
    return errors.api_error(
        "user not authorized to perform that action", challenge=False, status="unauthorized"
    )


def call_name(method: str, path: str) -> str | None:
    """Return the ``fake.calls`` key of a course call: "course" or "enroll"."""
    if method == "GET" and COURSE_PATH.fullmatch(path):
        return "course"
    if method == "POST" and ENROLLMENTS_PATH.fullmatch(path):
        return "enroll"
    return None


class CourseEndpoint(ApiEndpoint):
    """Answer the single-course calls too; a mixin of ``FakeCanvas``."""

    users: list[FakeUser]
    _last_enrollment_id = 0

    def _course_route(
        self, method: str, path: str
    ) -> Callable[[dict[str, str], dict[str, str], dict[str, str]], FakeResponse] | None:
        """Return the handler of a course path, or None."""
        if method == "GET" and (match := COURSE_PATH.fullmatch(path)):
            course_id = int(match[1])
            return lambda query, form, headers: self._course(course_id, query, headers)
        if method == "POST" and (match := ENROLLMENTS_PATH.fullmatch(path)):
            course_id = int(match[1])
            return lambda query, form, headers: self._enroll(course_id, {**query, **form}, headers)
        return None

    def _find_course(self, course_id: int) -> FakeCourse | None:
        return next((c for u in self.users for c in u.courses if c.id == course_id), None)

    def _course(
        self, course_id: int, query: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        record = self._api_token(query, headers, COURSE_SCOPE)
        if isinstance(record, FakeResponse):
            return record
        course = next((c for c in record.user.courses if c.id == course_id), None)
        if course is None:
            return not_authorized() if self._find_course(course_id) else errors.not_found()
        return json_response(200, course.api_json(record.user))

    def _enroll(
        self, course_id: int, params: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        record = self._api_token(params, headers, ENROLL_SCOPE)
        if isinstance(record, FakeResponse):
            return record
        course = self._find_course(course_id)
        if course is None:
            return errors.not_found()  # the course is found before anything is read
        # Canvas checks the parameters, then the permission, then looks the user up.
        if not any(key.startswith("enrollment[") for key in params):
            return json_response(400, {"message": NO_PARAMETERS})
        kind = params.get("enrollment[type]") or "StudentEnrollment"
        problems = [] if kind in ENROLLMENT_TYPES else [BAD_TYPE]
        user_id = params.get("enrollment[user_id]", "")
        if not user_id:
            problems.append(MISSING_USER_ID)
        if problems:
            return json_response(400, {"message": ", ".join(problems)})
        teaches = any(
            c.id == course_id and c.enrollment_type == "teacher" for c in record.user.courses
        )
        if not teaches:
            return not_authorized()
        student = next((u for u in self.users if str(u.id) == user_id), None)
        if student is None:
            return errors.not_found()
        role = kind.removesuffix("Enrollment").lower()
        if not any(c.id == course_id for c in student.courses):
            student.courses.append(
                FakeCourse(course.id, course.name, course.course_code, course.account_id, role)
            )
        self._last_enrollment_id += 1
        return json_response(
            200,
            {
                "id": self._last_enrollment_id,
                "course_id": course_id,
                "user_id": student.id,
                "type": kind,
                "role": kind,
                "enrollment_state": params.get("enrollment[enrollment_state]", "invited"),
            },
        )
