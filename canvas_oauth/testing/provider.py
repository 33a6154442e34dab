"""The fake Canvas OAuth2 provider: pure logic, no HTTP library and no Django.

Adapters (``mock.py`` in-process, ``server.py`` over real sockets) turn HTTP requests into
``FakeCanvas.dispatch`` calls and put the ``FakeResponse`` back on the wire. Section numbers
in comments refer to ``canvas-oauth2-provider.md``, the spec this fake follows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import urlencode, urlsplit

from . import errors
from .clock import FakeClock
from .faults import DEFAULT_DELAY, FaultPlan, faulty_answer
from .pages import consent_page, login_page, oob_page
from .records import (
    SHARD_FACTOR,
    CodeGrant,
    FakeClient,
    FakeUser,
    PendingConsent,
    TokenRecord,
)
from .wire import (
    FakeResponse,
    basic_credentials,
    bearer_token,
    html_response,
    json_response,
    lower_keys,
    parse_body,
    redirect_response,
    split_target,
    text_response,
)

DEFAULT_BASE_URL = "https://canvas.example.edu"
DEFAULT_CLIENT_ID = "10000000000001"
DEFAULT_CLIENT_SECRET = "fake-canvas-secret-" + "x" * 45
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = 600
ACCESS_TOKEN_TTL = 3600
PUBLIC_CLIENT_TTL = 7200
USERS_SELF_SCOPE = "url:GET|/api/v1/users/:id"
RATE_LIMIT_HEADERS = {"X-Request-Cost": "0.05", "X-Rate-Limit-Remaining": "599.95"}
_SLUG_ALPHABET = string.ascii_letters + string.digits
_TRUTHY = frozenset({"1", "true", "t", "on", "yes", "y"})
_MAX_CLIENT_ID = 2**63 - 1

Handler = Callable[[dict[str, str], dict[str, str], dict[str, str]], FakeResponse]


class AuthorizationError(Exception):
    """Carry an answer of the authorization pages that was not a redirect to the client."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(f"Canvas answered {response.status}: {response.text[:200]!r}")
        self.response = response


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of ``verifier``: base64url(sha256), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeCanvas:
    """Play Canvas's OAuth2 provider and ``/api/v1/users/self`` for tests and demos."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        client_name: str = "Canvas OAuth test app",
        redirect_uris: list[str] | None = None,
        require_scopes: bool = False,
        allowed_scopes: Iterable[str] | None = None,
        public_client: bool = False,
        strict_pkce: bool = True,
        auto_approve: bool = False,
        shard: int = 1,
        clock: FakeClock | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
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
        self._consents: dict[str, PendingConsent] = {}
        self._faults = FaultPlan()
        self.client = self.add_client(
            client_id,
            client_secret,
            name=client_name,
            redirect_uris=redirect_uris,
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
        self, name: str, id: int | None = None, locale: str | None = "en", **extra: bool
    ) -> FakeUser:
        """Create a Canvas user; ``extra`` sets ``fake_student`` or ``may_authorize``."""
        with self._lock:
            user_id = id if id is not None else 1 + max((u.id for u in self.users), default=0)
            user = FakeUser(
                id=user_id,
                name=name,
                global_id=str(self.shard * SHARD_FACTOR + user_id),
                locale=locale,
                **extra,
            )
            self.users.append(user)
            return user

    def add_client(self, client_id: str, client_secret: str, **settings: object) -> FakeClient:
        """Register another developer key, for example to test "incorrect client"."""
        client = FakeClient(client_id, client_secret, **settings)  # type: ignore[arg-type]
        with self._lock:
            self.clients[client_id] = client
        return client

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward, so codes and tokens can expire."""
        self.clock.advance(seconds)

    # -- faults ----------------------------------------------------------------------------

    def misbehave(
        self, endpoint: str, mode: str, times: int | None = None, delay: float = DEFAULT_DELAY
    ) -> None:
        """Make ``endpoint`` fail in ``mode`` for the next ``times`` calls (None: until behave).

        Endpoints: "token", "revoke", "api", "authorize", or "*" for the first three.
        Modes: "slow" (the real answer after ``delay`` seconds), "wrong_type" (the real
        answer as text/plain), "error" (500 HTML), "unavailable" (503), "garbage" (200,
        not JSON), "html" (200 HTML page), "drop" (no answer at all), "missing_token"
        (200 JSON without ``access_token``) and "throttle" (Canvas's 403 rate limit).
        Only "slow" and "wrong_type" let the request change any state.
        """
        with self._lock:
            self._faults.add(endpoint, mode, times, delay)

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
            fault = self._faults.take(endpoint) if endpoint else None
            if fault is None:
                response = handler(query, form, headers)
            else:
                response = faulty_answer(fault, lambda: handler(query, form, headers))
            if endpoint:
                response.delay += self.latency.get(endpoint, 0.0) + self.latency.get("*", 0.0)
            if endpoint in ("token", "revoke", "api"):
                for name, value in RATE_LIMIT_HEADERS.items():
                    response.headers.setdefault(name, value)
            return response

    def _route(self, method: str, path: str) -> tuple[str, Handler]:
        """Pick the fault endpoint name and handler of a request."""
        routes: dict[tuple[str, str], tuple[str, Handler]] = {
            ("GET", "/login/oauth2/auth"): ("authorize", self._auth),
            ("POST", "/login/oauth2/accept"): ("authorize", self._accept),
            ("POST", "/login/oauth2/deny"): ("authorize", self._deny),
            ("POST", "/login/oauth2/token"): ("token", self._token),
            ("DELETE", "/login/oauth2/token"): ("revoke", self._revoke),
            ("GET", "/api/v1/users/self"): ("api", self._users_self),
        }
        path = path.rstrip("/") or "/"
        # Rails answers HEAD with the GET route; the adapters leave the body out.
        method = "GET" if method == "HEAD" else method
        if (method, path) in routes:
            return routes[method, path]
        if path in ("/login/oauth2/accept", "/login/oauth2/deny"):
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
        if endpoint == "authorize" and method == "GET":
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
        elif path.rstrip("/") == "/api/v1/users/self":
            self.calls["users_self"] += 1

    # -- GET /login/oauth2/auth and the consent page (§1) --------------------------------------

    def _auth(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Start an authorization: check the client, then redirect or show consent."""
        if "code" in query or "error" in query:
            return html_response(200, oob_page(query))
        client = self._find_client(query.get("client_id", ""))
        if client is None:
            return errors.oauth_error(401, "invalid_client", errors.UNKNOWN_CLIENT)
        redirect_uri = query.get("redirect_uri", "")
        if not self._redirect_allowed(client, redirect_uri):
            return errors.oauth_error(400, "invalid_request", errors.REDIRECT_MISMATCH)
        state = query.get("state")
        # ``scope`` wins over the deprecated ``scopes`` even when blank, as in Ruby.
        scopes = tuple((query["scope"] if "scope" in query else query.get("scopes", "")).split())
        method = query.get("code_challenge_method")
        # Only S256 counts; any other method silently yields a code without a challenge.
        challenge = query.get("code_challenge") if method == "S256" else None

        def back(error: str, description: str | None = None) -> FakeResponse:
            return self._redirect_back(
                redirect_uri, error=error, error_description=description, state=state
            )

        if client.require_scopes:
            missing = [scope for scope in scopes if scope not in client.allowed_scopes]
            if not scopes or missing:
                return back("invalid_scope", errors.INVALID_SCOPE + errors.to_sentence(missing))
        if not client.authorized_for_account:
            return back("unauthorized_client", errors.UNAUTHORIZED_CLIENT)
        if query.get("response_type") != "code":
            return back("unsupported_response_type", errors.UNSUPPORTED_RESPONSE_TYPE)
        prompt = query.get("prompt") or None
        if prompt not in (None, "none", "login"):
            return back("unsupported_prompt_type", errors.UNSUPPORTED_PROMPT)
        user = self.current_user
        approved = client.trusted or self.auto_approve
        if prompt == "none" and user is None:
            return back("login_required", errors.LOGIN_REQUIRED)
        if prompt == "none" and not approved:
            return back("interaction_required", errors.INTERACTION_REQUIRED)
        if user is None:
            return html_response(200, login_page())
        consent = PendingConsent(
            client=client,
            user=user,
            redirect_uri=redirect_uri,
            scopes=scopes,
            purpose=query.get("purpose") or client.name,
            state=state,
            challenge=challenge or None,
        )
        if approved:
            return self._issue_code(consent)
        if not user.may_authorize:
            # Canvas reads the state of the confirm request here, which has none (§1.3).
            return self._redirect_back(
                redirect_uri,
                error="client_not_allowed_for_user",
                error_description=errors.NOT_ALLOWED_FOR_USER,
            )
        csrf_token = secrets.token_urlsafe(32)
        self._consents[csrf_token] = consent
        page = consent_page(
            app_name=client.name,
            purpose=consent.purpose,
            user_name=user.name,
            scopes=scopes,
            csrf_token=csrf_token,
        )
        return html_response(200, page)

    def _accept(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Handle the consent page's Authorize button."""
        consent = self._take_consent(form)
        if isinstance(consent, FakeResponse):
            return consent
        return self._issue_code(consent)

    def _deny(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Handle the consent page's Cancel button: ``access_denied``, no description."""
        consent = self._take_consent(form)
        if isinstance(consent, FakeResponse):
            return consent
        return self._redirect_back(consent.redirect_uri, error="access_denied", state=consent.state)

    def _take_consent(self, form: dict[str, str]) -> PendingConsent | FakeResponse:
        """Spend the one-time CSRF token of a consent form, or answer 400 text."""
        token = form.get("custom_csrf_token", "")
        if not token:
            return text_response(400, errors.MISSING_CSRF)
        consent = self._consents.pop(token, None)
        if consent is None:
            return text_response(400, errors.INVALID_CSRF)
        return consent

    def _issue_code(self, consent: PendingConsent) -> FakeResponse:
        """Store a fresh code and redirect back with it."""
        code = secrets.token_hex(64)
        self._codes[code] = CodeGrant(
            code=code,
            client_id=consent.client.client_id,
            user=consent.user,
            scopes=consent.scopes,
            purpose=consent.purpose,
            expires_at=self.clock.now() + CODE_TTL,
            challenge=consent.challenge,
            issued_with_challenge=consent.challenge is not None,
        )
        return self._redirect_back(consent.redirect_uri, code=code, state=consent.state)

    def _redirect_back(self, redirect_uri: str, **params: str | None) -> FakeResponse:
        """Redirect like ``Provider.final_redirect``: no None values, keys sorted."""
        query = urlencode(sorted((k, v) for k, v in params.items() if v is not None))
        if redirect_uri == OOB_REDIRECT:
            return redirect_response(f"{self.base_url}/login/oauth2/auth?{query}")
        separator = "&" if "?" in redirect_uri else "?"
        return redirect_response(redirect_uri + separator + query)

    def _find_client(self, client_id: str) -> FakeClient | None:
        """Return the active developer key for ``client_id`` (a 64-bit integer)."""
        if not re.fullmatch(r"\d+", client_id) or int(client_id) > _MAX_CLIENT_ID:
            return None
        client = self.clients.get(client_id)
        return client if client is not None and client.active else None

    @staticmethod
    def _redirect_allowed(client: FakeClient, redirect_uri: str) -> bool:
        """Match ``redirect_uri`` like ``redirect_domain_matches?`` (§5.3)."""
        if not redirect_uri:
            return False
        if redirect_uri == OOB_REDIRECT or client.redirect_uris is None:
            return True
        if redirect_uri in client.redirect_uris:
            return True
        if not client.redirect_uris:
            return False
        registered, wanted = urlsplit(client.redirect_uris[0]), urlsplit(redirect_uri)
        host, wanted_host = registered.hostname or "", wanted.hostname or ""
        return (
            bool(host)
            and wanted.scheme == registered.scheme
            and (wanted_host == host or wanted_host.endswith("." + host))
        )

    # -- POST /login/oauth2/token (§2) -------------------------------------------------------

    @staticmethod
    def _grant_type(params: dict[str, str]) -> str:
        """Return the grant type, defaulting to authorization_code when a code is sent."""
        grant_type = params.get("grant_type", "")
        if not grant_type and params.get("code"):
            return "authorization_code"
        return grant_type

    def _token(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Exchange a code or a refresh token, checking in Canvas's order (§2.5)."""
        params = {**query, **form}
        grant_type = self._grant_type(params)
        if grant_type not in ("authorization_code", "refresh_token"):
            return errors.oauth_error(400, "unsupported_grant_type", errors.UNSUPPORTED_GRANT_TYPE)
        # The form wins, and id and secret each fall back to Basic auth on their own.
        basic_id, basic_secret = basic_credentials(headers)
        client = self._find_client(params.get("client_id") or basic_id)
        if client is None:
            return errors.oauth_error(401, "invalid_client", errors.UNKNOWN_CLIENT)
        secret = params.get("client_secret") or basic_secret
        with_pkce = grant_type == "authorization_code" and "code_verifier" in params
        public_without_secret = (
            client.public and (with_pkce or grant_type == "refresh_token") and not secret
        )
        if not public_without_secret and not hmac.compare_digest(
            secret.encode(), client.client_secret.encode()
        ):
            return errors.oauth_error(401, "invalid_client", errors.INVALID_CLIENT)
        if grant_type == "authorization_code":
            return self._exchange_code(client, params, with_pkce)
        return self._refresh(client, params)

    def _exchange_code(
        self, client: FakeClient, params: dict[str, str], with_pkce: bool
    ) -> FakeResponse:
        """Run the authorization_code grant, with or without PKCE."""
        code = params.get("code", "")
        if not code:
            return errors.oauth_error(400, "invalid_request", errors.CODE_REQUIRED)
        grant = self._live_code(code)
        if with_pkce:
            # The challenge is spent by the first attempt, right or wrong (§1.4).
            challenge = grant.challenge if grant else None
            if grant is not None:
                grant.challenge = None
            verifier = params["code_verifier"]
            if (
                not verifier
                or challenge is None
                or not hmac.compare_digest(s256(verifier), challenge)
            ):
                return errors.oauth_error(400, "invalid_grant", errors.INVALID_CODE_VERIFIER)
        if grant is None:
            return errors.oauth_error(400, "invalid_grant", errors.CODE_NOT_FOUND)
        if grant.client_id != client.client_id:
            return errors.oauth_error(400, "invalid_grant", errors.INCORRECT_CLIENT)
        if not with_pkce and grant.issued_with_challenge and self.strict_pkce:
            return errors.oauth_error(400, "invalid_grant", errors.CODE_VERIFIER_REQUIRED)
        del self._codes[code]
        if client.replace_tokens or params.get("replace_tokens", "").lower() in _TRUTHY:
            self._delete_tokens(lambda t: t.user is grant.user and t.client_id == client.client_id)
        record = self._create_token(client, grant.user, grant.scopes, grant.purpose)
        return json_response(200, self._token_json(record, with_refresh=True))

    def _refresh(self, client: FakeClient, params: dict[str, str]) -> FakeResponse:
        """Run the refresh_token grant; only public clients get a new refresh token."""
        refresh_token = params.get("refresh_token", "")
        if not refresh_token:
            return errors.oauth_error(400, "invalid_request", errors.REFRESH_TOKEN_REQUIRED)
        now = self.clock.now()
        record = next(
            (t for t in self._tokens if t.refresh_token == refresh_token and self._usable(t)),
            None,
        )
        if record is None:
            return errors.oauth_error(400, "invalid_request", errors.REFRESH_TOKEN_NOT_FOUND)
        if record.client_id != client.client_id:
            return errors.oauth_error(400, "invalid_grant", errors.INCORRECT_CLIENT)
        record.access_token = self._new_token_value()
        record.expires_at = now + ACCESS_TOKEN_TTL
        if client.public:
            record.refresh_token = self._new_token_value()
            record.permanent_expires_at = now + PUBLIC_CLIENT_TTL
        return json_response(200, self._token_json(record, with_refresh=client.public))

    def _live_code(self, code: str) -> CodeGrant | None:
        """Return the stored code unless it has expired (Redis would have dropped it)."""
        grant = self._codes.get(code)
        if grant is not None and grant.expires_at <= self.clock.now():
            del self._codes[code]
            return None
        return grant

    def _create_token(
        self, client: FakeClient, user: FakeUser, scopes: tuple[str, ...], purpose: str
    ) -> TokenRecord:
        """Store a new access token and its refresh token."""
        now = self.clock.now()
        record = TokenRecord(
            client_id=client.client_id,
            user=user,
            scopes=scopes,
            purpose=purpose,
            access_token=self._new_token_value(),
            refresh_token=self._new_token_value(),
            expires_at=now + ACCESS_TOKEN_TTL,
            permanent_expires_at=now + PUBLIC_CLIENT_TTL if client.public else None,
        )
        self._tokens.append(record)
        return record

    def _token_json(self, record: TokenRecord, *, with_refresh: bool) -> dict[str, object]:
        """Build the token response body, in the field order of ``Token#as_json``."""
        body: dict[str, object] = {
            "access_token": record.access_token,
            "token_type": "Bearer",
            "user": record.user.token_json(),
            "canvas_region": "unknown",
        }
        if with_refresh:
            body["refresh_token"] = record.refresh_token
        body["expires_in"] = round(record.expires_at - self.clock.now())
        return body

    def _new_token_value(self) -> str:
        """Return a token looking like hosted Canvas's: shard, tilde, 64-character slug."""
        return f"{self.shard}~" + "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(64))

    # -- tokens in use: DELETE /login/oauth2/token and the API (§3, §4) -----------------------

    def _usable(self, record: TokenRecord) -> bool:
        """Tell whether a token row still exists for a usable developer key."""
        client = self.clients.get(record.client_id)
        ends = record.permanent_expires_at
        return (
            not record.deleted
            and client is not None
            and client.active
            and (ends is None or ends > self.clock.now())
        )

    def _live_access(self, access_token: str) -> TokenRecord | None:
        """Return the token row whose access token may call the API right now."""
        for record in self._tokens:
            if record.access_token == access_token and self._usable(record):
                return record if record.expires_at > self.clock.now() else None
        return None

    def _delete_tokens(self, doomed: Callable[[TokenRecord], bool]) -> None:
        """Soft-delete the token rows ``doomed`` picks, killing both of their tokens."""
        for record in self._tokens:
            if doomed(record):
                record.deleted = True

    def _revoke(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Log out: delete the token the request authenticates with."""
        access_token = bearer_token(headers, {**query, **form})
        if not access_token:
            return json_response(400, {"message": errors.REVOKE_WITHOUT_TOKEN})
        record = self._live_access(access_token)
        if record is None:
            # Not an /api/ path, so Canvas renders its HTML error page (§3, inferred).
            return html_response(401, "<h1>Unauthorized</h1><p>Invalid access token.</p>")
        record.deleted = True
        return json_response(200, {})

    def _users_self(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Answer ``GET /api/v1/users/self`` for the token's user."""
        access_token = bearer_token(headers, query)
        if not access_token:
            return errors.unauthenticated()
        record = self._live_access(access_token)
        if record is None:
            return errors.invalid_access_token()
        client = self.clients[record.client_id]
        if client.require_scopes and USERS_SELF_SCOPE not in record.scopes:
            return errors.insufficient_scopes()
        return json_response(200, record.user.api_json())

    # -- test conveniences ---------------------------------------------------------------------

    def authorize(
        self, authorize_url: str, approve: bool = True, user: FakeUser | None = None
    ) -> str:
        """Do what a browser does with ``authorize_url`` and return where Canvas sends it.

        That is the client's callback URL with ``code`` and ``state`` (or ``error``).
        Answers that Canvas renders itself raise ``AuthorizationError``.
        """
        with self._lock:
            logged_in = self.current_user
            if user is not None:
                self.current_user = user
            try:
                response = self.handle("GET", authorize_url, {})
            finally:
                self.current_user = logged_in
            if response.status == 200 and b'name="custom_csrf_token"' in response.body:
                token = re.search(r'name="custom_csrf_token" value="([^"]+)"', response.text)
                button = "/login/oauth2/accept" if approve else "/login/oauth2/deny"
                form = {"custom_csrf_token": token.group(1)}  # type: ignore[union-attr]
                response = self.dispatch("POST", button, {}, form, {})
            if response.status != 302 or response.location is None:
                raise AuthorizationError(response)
            return response.location

    def issue_token(
        self, user: FakeUser | None = None, scopes: Iterable[str] = (), client_id: str | None = None
    ) -> dict[str, object]:
        """Mint a token without the dance and return the code exchange's JSON body."""
        with self._lock:
            owner = user or self.current_user or self.users[0]
            client = self.clients[client_id or self.client_id]
            record = self._create_token(client, owner, tuple(scopes), client.name)
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
