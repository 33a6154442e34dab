"""The records the fake Canvas keeps: users, developer keys, codes and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

# Canvas global ids are shard * 10**13 + local id; hosted tokens carry the shard as a prefix.
SHARD_FACTOR = 10**13
# The callback canvas_oauth sends under Django's test client, mounted at "oauth/" as the
# README says; the redirect URI a developer key lists unless the test says otherwise.
DEFAULT_REDIRECT_URI = "http://testserver/oauth/oauth-callback"
# The out-of-band redirect: Canvas shows the code on its own page.
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"


@dataclass
class FakeUser:
    """A Canvas user the fake browser can be logged in as."""

    id: int
    name: str
    global_id: str
    locale: str | None = "en"
    fake_student: bool = False
    may_authorize: bool = True
    courses: list[FakeCourse] = field(default_factory=list, repr=False)
    page_views: list[FakePageView] = field(default_factory=list, repr=False)

    def token_json(self) -> dict[str, object]:
        """Return the ``user`` object of a token response."""
        return {
            "id": self.id,
            "name": self.name,
            "global_id": self.global_id,
            "effective_locale": self.locale or "en",
            "fake_student": self.fake_student,
        }

    def api_json(self) -> dict[str, object]:
        """Return the body of ``GET /api/v1/users/self``."""
        first, _, last = self.name.rpartition(" ")
        sortable = f"{last}, {first}" if first else self.name
        return {
            "id": self.id,
            "name": self.name,
            "sortable_name": sortable,
            "short_name": self.name,
            "locale": self.locale,
            "effective_locale": self.locale or "en",
        }


@dataclass
class FakeCourse:
    """A course a user is enrolled in, as ``GET /api/v1/courses`` lists it."""

    id: int
    name: str
    course_code: str
    account_id: int = 1
    enrollment_type: str = "student"

    def api_json(self, user: FakeUser) -> dict[str, object]:
        """Return the course as Canvas's Courses API shows it to ``user``."""
        return {
            "id": self.id,
            "name": self.name,
            "course_code": self.course_code,
            "workflow_state": "available",
            "account_id": self.account_id,
            "root_account_id": 1,
            "enrollment_term_id": 1,
            "default_view": "modules",
            "is_public": False,
            "enrollments": [
                {
                    "type": self.enrollment_type,
                    "role": self.enrollment_type.capitalize() + "Enrollment",
                    "user_id": user.id,
                    "enrollment_state": "active",
                }
            ],
        }


@dataclass
class FakePageView:
    """A page the user visited, as ``GET /api/v1/users/self/page_views`` lists it."""

    id: str
    url: str
    created_at: str

    def api_json(self, user: FakeUser) -> dict[str, object]:
        """Return the page view as Canvas's Users API shows it."""
        return {
            "id": self.id,
            "url": self.url,
            "created_at": self.created_at,
            "http_method": "get",
            "interaction_seconds": 5.0,
            "participated": False,
            "links": {"user": user.id},
        }


@dataclass
class FakeClient:
    """A developer key: the OAuth client registered in the fake Canvas."""

    client_id: str
    client_secret: str
    name: str = "Canvas OAuth test app"
    # The key's "Redirect URIs" list (exact matches), and its legacy single "Redirect URI"
    # field, which also accepts any URL on the same scheme and host or a subdomain (§5.3).
    redirect_uris: list[str] = field(default_factory=lambda: [DEFAULT_REDIRECT_URI])
    redirect_uri: str | None = None
    require_scopes: bool = False
    allowed_scopes: list[str] = field(default_factory=list)
    public: bool = False
    trusted: bool = False
    active: bool = True
    authorized_for_account: bool = True
    replace_tokens: bool = False
    force_token_reuse: bool = False
    # Set on every key Canvas creates now; without it tokens do not expire, and the
    # token response has no expires_in.
    auto_expire_tokens: bool = True


@dataclass
class CodeGrant:
    """An authorization code waiting to be exchanged."""

    code: str
    client_id: str
    user: FakeUser
    scopes: tuple[str, ...]
    purpose: str
    expires_at: float
    challenge: str | None = None
    issued_with_challenge: bool = False


@dataclass
class TokenRecord:
    """One Canvas ``AccessToken`` row: an access token and its refresh token."""

    client_id: str
    user: FakeUser
    scopes: tuple[str, ...]
    purpose: str
    access_token: str
    refresh_token: str
    expires_at: float
    permanent_expires_at: float | None = None
    deleted: bool = False


@dataclass
class PendingConsent:
    """What a browser's Canvas session remembers of an authorization (``session[:oauth2]``)."""

    client: FakeClient
    redirect_uri: str
    scopes: tuple[str, ...]
    purpose: str
    state: str | None
    challenge: str | None
    csrf_token: str | None = None
