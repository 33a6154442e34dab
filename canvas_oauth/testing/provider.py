"""The fake Canvas OAuth2 provider: pure logic, no HTTP library and no Django.

Adapters (``mock.py`` in-process, ``server.py`` over real sockets) turn HTTP requests into
``FakeCanvas.dispatch`` calls and put the ``FakeResponse`` back on the wire. Section numbers
in comments refer to ``canvas-oauth2-provider.md``, the spec this fake follows.

``FakeCanvas`` keeps the state, the lock, the routing and the test conveniences; each
endpoint lives in its own module as a small mixin class: ``authorization`` (the login and
consent pages), ``tokens`` (grants, client authentication, PKCE, refresh, revoke) and
``api`` (``users/:id`` and two paginated lists), all on ``store`` (client and token
lookups they share). Mixins, not functions taking the provider as an argument, because
the handlers read settings that tests change on a live fake (``current_user``,
``auto_approve``, ``strict_pkce``, ``base_url``) and the conveniences reuse the
endpoints' helpers; a mixin reads them from ``self`` as before, with no second state
object to keep in step and no import back into this module. Imports point one way:
provider -> endpoints -> store -> records; the request throttle (``throttle``) and
pagination (``pagination``) know nothing of the rest.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from random import Random
from urllib.parse import urlsplit

from . import errors
from .api import COURSES_SCOPE as COURSES_SCOPE
from .api import PAGE_VIEWS_SCOPE as PAGE_VIEWS_SCOPE
from .api import USERS_SELF_SCOPE as USERS_SELF_SCOPE
from .authorization import CODE_TTL as CODE_TTL
from .authorization import OOB_REDIRECT as OOB_REDIRECT
from .authorization import AuthorizationEndpoint
from .clock import FakeClock
from .courses import CourseEndpoint, call_name
from .faults import DEFAULT_DELAY, FaultPlan, faulty_answer
from .pagination import MAX_PER_PAGE
from .records import DEFAULT_REDIRECT_URI as DEFAULT_REDIRECT_URI
from .records import (
    SHARD_FACTOR,
    CodeGrant,
    FakeClient,
    FakeCourse,
    FakePageView,
    FakeUser,
    PendingConsent,
    TokenRecord,
)
from .throttle import RequestThrottle, Ticket
from .tokens import ACCESS_TOKEN_TTL as ACCESS_TOKEN_TTL
from .tokens import PUBLIC_CLIENT_TTL as PUBLIC_CLIENT_TTL
from .tokens import TokenEndpoint
from .tokens import s256 as s256
from .wire import (
    FakeResponse,
    bearer_token,
    http_date,
    lower_keys,
    parse_body,
    split_target,
    text_response,
)

DEFAULT_BASE_URL = "https://canvas.example.edu"
# Login, confirm, accept: no walk through the authorization pages takes more steps.
_MAX_PAGES = 5
DEFAULT_CLIENT_ID = "10000000000001"
DEFAULT_CLIENT_SECRET = "fake-canvas-secret-" + "x" * 45
# Hosted Canvas names the region of the user's shard; a self-hosted one says "unknown".
DEFAULT_REGION = "us-east-1"
# The endpoints whose answers carry the throttle's headers. Canvas leaves them off
# requests it knows by their session, like the browser's visits to the login pages.
THROTTLED_ENDPOINTS = ("token", "revoke", "api")

_API_CALLS = {
    "/api/v1/users/self": "users_self",
    "/api/v1/courses": "courses",
    "/api/v1/users/self/page_views": "page_views",
}
# canvasapi's CurrentUser names the user by number once it knows them: users/1/page_views.
_USER_PATH = re.compile(r"/api/v1/users/(self|\d+)(/page_views)?")

Handler = Callable[[dict[str, str], dict[str, str], dict[str, str]], FakeResponse]


class AuthorizationError(Exception):
    """Carry an answer of the authorization pages that was not a redirect to the client."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(f"Canvas answered {response.status}: {response.text[:200]!r}")
        self.response = response


class FakeCanvas(AuthorizationEndpoint, TokenEndpoint, CourseEndpoint):
    """Play Canvas's OAuth2 provider and a little of its API for tests and demos."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        client_name: str = "Canvas OAuth test app",
        redirect_uris: Iterable[str] = (DEFAULT_REDIRECT_URI,),
        legacy_redirect_uri: str | None = None,
        require_scopes: bool = False,
        allowed_scopes: Iterable[str] | None = None,
        public_client: bool = False,
        strict_pkce: bool = True,
        auto_approve: bool = False,
        shard: int = 1,
        clock: FakeClock | None = None,
        throttle: RequestThrottle | None = None,
        max_per_page: int = MAX_PER_PAGE,
        canvas_region: str = DEFAULT_REGION,
        scope_error_state: bool = True,
        token_error_redirects: bool = False,
        dead_token_detail: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Hosted Canvas's behaviour by default; each option brings back an older Canvas's.
        self.canvas_region = canvas_region
        self.scope_error_state = scope_error_state
        self.token_error_redirects = token_error_redirects
        self.dead_token_detail = dead_token_detail
        self.throttle = throttle or RequestThrottle()
        self.max_per_page = max_per_page
        self.strict_pkce = strict_pkce
        self.auto_approve = auto_approve
        self.shard = shard
        self.clock = clock or FakeClock()
        self.calls: Counter[str] = Counter()
        self.latency: dict[str, float] = {}
        self.last_token_request: dict[str, str] | None = None
        self.last_token_headers: dict[str, str] | None = None
        self.users: list[FakeUser] = []
        self.clients: dict[str, FakeClient] = {}
        # An RLock, because the test conveniences call dispatch while holding it.
        self._lock = threading.RLock()
        self._codes: dict[str, CodeGrant] = {}
        self._tokens: list[TokenRecord] = []
        self._sessions: dict[str, PendingConsent] = {}
        self._faults = FaultPlan()
        self._last_course_id = 0
        self.client = self.add_client(
            client_id,
            client_secret,
            name=client_name,
            redirect_uris=list(redirect_uris),
            redirect_uri=legacy_redirect_uri,
            require_scopes=require_scopes,
            allowed_scopes=list(allowed_scopes or ()),
            public=public_client,
        )
        self.current_user: FakeUser | None = self.add_user("Ada Lovelace")

    # -- setup -----------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """Return the id of the main developer key."""
        return self.client.client_id

    @property
    def client_secret(self) -> str:
        """Return the secret of the main developer key."""
        return self.client.client_secret

    def add_user(
        self,
        name: str,
        id: int | None = None,
        locale: str | None = "en",
        *,
        fake_student: bool = False,
        may_authorize: bool = True,
    ) -> FakeUser:
        """Create a Canvas user, a test student or one not allowed to authorize apps."""
        with self._lock:
            user_id = id if id is not None else 1 + max((u.id for u in self.users), default=0)
            user = FakeUser(
                id=user_id,
                name=name,
                global_id=str(self.shard * SHARD_FACTOR + user_id),
                locale=locale,
                fake_student=fake_student,
                may_authorize=may_authorize,
            )
            self.users.append(user)
            return user

    def add_courses(
        self, user: FakeUser | None = None, n: int = 1, enrollment: str = "student"
    ) -> list[FakeCourse]:
        """Enrol ``user`` (default: the first user) in ``n`` new courses, listed in id order."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            owner = user or self.users[0]
            added = []
            for _ in range(n):
                self._last_course_id += 1
                number = self._last_course_id
                added.append(FakeCourse(number, f"Course {number}", f"C{number}", 1, enrollment))
            owner.courses.extend(added)
            return added

    def add_page_views(self, user: FakeUser | None = None, n: int = 1) -> list[FakePageView]:
        """Record ``n`` page views for ``user`` (default: the first user); newest listed first."""
        if n < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            owner = user or self.users[0]
            start = len(owner.page_views)
            added = [
                FakePageView(
                    id=f"{owner.id:08x}-0000-4000-8000-{start + i:012x}",
                    url=f"{self.base_url}/courses/1/pages/page-{start + i}",
                    created_at=time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock.now() + start + i)
                    ),
                )
                for i in range(n)
            ]
            owner.page_views.extend(added)
            return added

    def add_client(self, client_id: str, client_secret: str, **settings: object) -> FakeClient:
        """Register another developer key, for example to test "incorrect client"."""
        # The options are FakeClient's own fields, each with its type; checked when called.
        client = FakeClient(client_id, client_secret, **settings)  # type: ignore[arg-type]
        with self._lock:
            self.clients[client_id] = client
        return client

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward, so codes and tokens can expire."""
        self.clock.advance(seconds)

    # -- faults ----------------------------------------------------------------------------

    def misbehave(
        self,
        endpoint: str,
        mode: str,
        times: int | None = None,
        delay: float = DEFAULT_DELAY,
        rate: float | None = None,
    ) -> None:
        """Make ``endpoint`` fail in ``mode`` for the next ``times`` calls (None: until behave).

        Endpoints: "token", "revoke", "api", "authorize", or "*" for the first three.
        Modes: "slow" (the real answer after ``delay`` seconds), "wrong_type" (the real
        answer as text/plain), "error" (500 HTML), "unavailable" (503), "garbage" (200,
        not JSON), "html" (200 HTML page), "drop" (no answer at all), "missing_token"
        (200 JSON without ``access_token``), "throttle" (Canvas's 403 rate limit) and
        "invalid_token" (the API's 401 for a dead token, with ``WWW-Authenticate``).
        Only "slow" and "wrong_type" let the request change any state.

        With ``rate`` (0 to 1) only that share of the calls fails, picked at random by
        ``fake.random`` (seed it for a repeatable run); ``times`` then counts the calls that
        failed. The rates of faults on one endpoint add up: ``rate=0.05`` for "error" and
        for "garbage" fail 10% of the calls, half of them each.
        """
        with self._lock:
            self._faults.add(endpoint, mode, times, delay, rate)

    @property
    def random(self) -> Random:
        """Return the random source that picks the calls faults with a ``rate`` hit."""
        return self._faults.random

    def behave(self) -> None:
        """Clear every injected fault."""
        with self._lock:
            self._faults.clear()

    # -- HTTP entry points -----------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> FakeResponse:
        """Answer a raw request: ``target`` is a path or URL with its query string."""
        path, query = split_target(target)
        return self.dispatch(method, path, query, parse_body(headers, body), headers)

    def dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        headers: dict[str, str],
    ) -> FakeResponse:
        """Answer one request; safe to call from many threads at once."""
        method = method.upper()
        headers = lower_keys(headers)
        with self._lock:
            endpoint, handler = self._route(method, path)
            self._record(endpoint, method, path, {**query, **form}, headers)
            ticket = None
            if endpoint in THROTTLED_ENDPOINTS:
                # Canvas keys the bucket by the token the request carries, valid or not.
                key = bearer_token(headers, {**query, **form})
                ticket = self.throttle.reserve(key, self.clock.now()) if key else None
            if ticket is not None and ticket.throttled:
                self.calls["throttled"] += 1
                response = errors.rate_limited()
            else:
                fault = self._faults.take(endpoint) if endpoint else None
                if fault is None:
                    response = handler(query, form, headers)
                else:
                    response = faulty_answer(fault, lambda: handler(query, form, headers))
            if endpoint and not (ticket is not None and ticket.throttled):
                # A refused request never reaches the app, whose time the latency stands for.
                response.delay += self.latency.get(endpoint, 0.0) + self.latency.get("*", 0.0)
            # Canvas's clock, as every real answer tells it; a test moves it with advance().
            response.headers.setdefault("Date", http_date(self.clock.now()))
            if endpoint in THROTTLED_ENDPOINTS:
                response.on_complete = lambda: self._settle(ticket, response)
                if not response.delay:
                    response.complete()
            return response

    def _settle(self, ticket: Ticket | None, response: FakeResponse) -> None:
        """Take a finished request's in-flight cost out of its bucket; stamp the headers.

        As Canvas's middleware does, a throttled answer gets no ``X-Request-Cost``, and its
        ``X-Rate-Limit-Remaining`` is the bucket's, written over the ``0.0`` of the refusal.
        A request without a token is not throttled here (Canvas would key it by IP, and all
        of the fake's clients share one); it reads as if it had a bucket of its own.
        """
        with self._lock:
            cost = float(self.throttle.request_cost)
            refused = ticket is not None and ticket.throttled
            if ticket is None:
                remaining = self.throttle.hwm - cost
            else:
                # A refused request never reached the app, so only its reservation counted.
                remaining = self.throttle.settle(ticket, 0.0 if refused else cost, self.clock.now())
            if not refused and response.body != errors.RATE_LIMITED.encode():
                response.headers["X-Request-Cost"] = repr(cost)
            if refused or "X-Rate-Limit-Remaining" not in response.headers:
                response.headers["X-Rate-Limit-Remaining"] = repr(float(remaining))

    def _route(self, method: str, path: str) -> tuple[str, Handler]:
        """Pick the fault endpoint name and handler of a request."""
        routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("GET", "/login/oauth2/auth"): ("authorize", self._auth),
            ("GET", "/login/oauth2/confirm"): ("authorize", self._confirm),
            ("POST", "/login/oauth2/accept"): ("authorize", self._accept),
            # Cancel is a link; only Canvas's oauth2_deny_post flag makes deny POST-only.
            ("GET", "/login/oauth2/deny"): ("authorize", self._deny),
            ("POST", "/login/oauth2/deny"): ("authorize", self._deny),
            ("GET", "/login"): ("authorize", self._login_page),
            ("POST", "/login"): ("authorize", self._login),
            ("POST", "/login/oauth2/token"): ("token", self._token),
            ("DELETE", "/login/oauth2/token"): ("revoke", self._revoke),
            ("GET", "/api/v1/courses"): ("api", self._courses),
        }
        path = path.rstrip("/") or "/"
        # Rails answers HEAD with the GET route; the adapters leave the body out.
        method = "GET" if method == "HEAD" else method
        if (method, path) in routes:
            return routes[method, path]
        user_route = _USER_PATH.fullmatch(path) if method == "GET" else None
        if user_route is not None:
            user_id, page_views = user_route.groups()
            handler = self._user_page_views if page_views else self._user
            return "api", lambda query, form, headers: handler(user_id, query, headers)
        course_handler = self._course_route(method, path)
        if course_handler is not None:
            return "api", course_handler
        if path.startswith("/login"):
            return "authorize", lambda *_: text_response(405, "Method Not Allowed")
        endpoint = "api" if path.startswith("/api/") else ""
        return endpoint, lambda *_: errors.not_found()

    def _record(
        self,
        endpoint: str,
        method: str,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
    ) -> None:
        """Count the call and remember token requests for the test to inspect."""
        if endpoint == "authorize" and path.rstrip("/") == "/login/oauth2/auth":
            self.calls["authorize"] += 1
        elif endpoint == "token":
            self.calls["token"] += 1
            grant_type = self._grant_type(params)
            if grant_type:
                self.calls["token:" + grant_type] += 1
            self.last_token_request = dict(params)
            self.last_token_headers = dict(headers)
        elif endpoint == "revoke":
            self.calls["revoke"] += 1
        elif endpoint == "api":
            path = path.rstrip("/")
            name = _API_CALLS.get(path) or call_name(method, path)
            user_route = _USER_PATH.fullmatch(path)
            if name is None and user_route is not None:
                name = "page_views" if user_route.group(2) else "users"
            if name:
                self.calls[name] += 1

    # -- test conveniences ---------------------------------------------------------------------

    def authorize(
        self, authorize_url: str, approve: bool = True, user: FakeUser | None = None
    ) -> str:
        """Do what a browser does with ``authorize_url`` and return where Canvas sends it.

        That is the client's callback URL with ``code`` and ``state`` (or ``error``). The
        walk follows Canvas's redirects with a cookie, as a browser would: it logs in at
        ``/login`` (as ``user``, or the logged-in user when ``force_login`` asks again),
        then presses Authorize, or Cancel when ``approve`` is false. ``user`` is logged in
        for this walk only. Answers that Canvas renders itself raise ``AuthorizationError``,
        and so does the login page when nobody is logged in and no ``user`` is given.
        """
        with self._lock:
            logged_in = self.current_user
            if user is not None:
                self.current_user = user
            try:
                return self._walk(authorize_url, approve)
            finally:
                self.current_user = logged_in

    def _walk(self, url: str, approve: bool) -> str:
        """Follow the authorization pages from ``url`` to the redirect that leaves Canvas."""
        cookies: dict[str, str] = {}

        def visit(method: str, target: str, form: dict[str, str] | None = None) -> FakeResponse:
            path, query = split_target(target)
            cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
            answer = self.dispatch(method, path, query, form or {}, {"Cookie": cookie})
            name, _, rest = answer.headers.get("Set-Cookie", "").partition("=")
            if name:
                cookies[name] = rest.split(";")[0]
            return answer

        response = visit("GET", url)
        for _ in range(_MAX_PAGES):
            target = response.location or ""
            path = urlsplit(target).path
            if response.status == 302 and target.startswith(self.base_url) and path == "/login":
                login = self.current_user
                if login is None:
                    raise AuthorizationError(visit("GET", target))
                response = visit("POST", "/login", {"user_id": str(login.id)})
            elif response.status == 302 and target == self.base_url + "/login/oauth2/confirm":
                response = visit("GET", target)
            elif response.status == 200 and b'name="custom_csrf_token"' in response.body:
                if not approve:
                    response = visit("GET", "/login/oauth2/deny")
                    continue
                token = re.search(r'name="custom_csrf_token" value="([^"]+)"', response.text)
                if token is None:
                    raise AssertionError("Canvas's consent page has no CSRF token")
                form = {"custom_csrf_token": token.group(1)}
                response = visit("POST", "/login/oauth2/accept", form)
            else:
                break
        if response.status != 302 or response.location is None:
            raise AuthorizationError(response)
        return response.location

    def issue_token(
        self,
        user: FakeUser | None = None,
        scopes: Iterable[str] = (),
        client_id: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, object]:
        """Mint a token without the dance and return the code exchange's JSON body.

        ``purpose`` defaults to the key's name, as for a dance that sends none.
        """
        with self._lock:
            owner = user or self.current_user or self.users[0]
            client = self.clients[client_id or self.client_id]
            record = self._create_token(client, owner, tuple(scopes), purpose or client.name)
            return self._token_json(record, with_refresh=True)

    def is_live(self, access_token: str) -> bool:
        """Tell whether ``access_token`` would be accepted by the API right now."""
        with self._lock:
            return self._live_access(access_token) is not None

    def expire_access_tokens(self) -> None:
        """Expire every access token now; their refresh tokens keep working."""
        with self._lock:
            now = self.clock.now()
            for record in self._tokens:
                record.expires_at = min(record.expires_at, now)

    def revoke_all(self, user: FakeUser | None = None) -> None:
        """Delete every token, or every token of ``user``, as if revoked in Canvas."""
        with self._lock:
            self._delete_tokens(lambda record: user is None or record.user is user)

    def live_tokens(self, user: FakeUser | None = None) -> list[TokenRecord]:
        """Return the token rows that still exist, optionally only those of ``user``."""
        with self._lock:
            return [
                record
                for record in self._tokens
                if self._usable(record) and (user is None or record.user is user)
            ]
