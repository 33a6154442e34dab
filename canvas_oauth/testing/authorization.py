"""The authorization endpoint and the browser pages around it (§1, §8.3).

Follows ``oauth2_provider_controller.rb`` and ``provider.rb``: ``GET /login/oauth2/auth``
checks the client and its redirect URI, keeps the request in the browser's Canvas session
and sends the browser on with a 302: to ``/login`` when nobody is logged in (or
``force_login`` / ``prompt=login`` ask for it), to ``/login/oauth2/confirm`` for consent,
or straight back with a code when no consent is needed. The consent page's Authorize
button posts to ``/login/oauth2/accept``; its Cancel link is a GET to
``/login/oauth2/deny``. The session lives in a ``canvas_session`` cookie.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from . import errors
from .pages import consent_page, logged_in_page, login_page, oob_page
from .records import OOB_REDIRECT as OOB_REDIRECT
from .records import CodeGrant, FakeClient, FakeUser, PendingConsent
from .store import Store
from .wire import FakeResponse, html_response, redirect_response, text_response

CODE_TTL = 600
SESSION_COOKIE = "canvas_session"
# What GET /login/oauth2/auth passes on to the login page (``login_url(params.permit(...))``).
_LOGIN_PARAMS = ("authentication_provider", "canvas_login", "force_login")


class AuthorizationEndpoint(Store):
    """Answer the authorization pages a browser visits; a mixin of ``FakeCanvas``."""

    base_url: str
    auto_approve: bool
    scope_error_state: bool
    current_user: FakeUser | None
    users: list[FakeUser]
    _sessions: dict[str, PendingConsent]

    def _auth(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Start an authorization: check the client, then send the browser on."""
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
        pending = PendingConsent(
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            purpose=query.get("purpose") or client.name,
            state=state,
            challenge=challenge or None,
        )
        session_id = self._session_id(headers) or secrets.token_urlsafe(24)
        self._sessions[session_id] = pending
        response = self._after_auth(pending, session_id, query)
        response.headers["Set-Cookie"] = f"{SESSION_COOKIE}={session_id}; path=/; HttpOnly"
        return response

    def _after_auth(
        self, pending: PendingConsent, session_id: str, query: dict[str, str]
    ) -> FakeResponse:
        """Answer a valid authorization request, in the order of Canvas's ``auth`` action."""
        client = pending.client

        def back(error: str, description: str, state: str | None = pending.state) -> FakeResponse:
            return self._final_redirect(
                session_id, error=error, error_description=description, state=state
            )

        if client.require_scopes:
            missing = [scope for scope in pending.scopes if scope not in client.allowed_scopes]
            if not pending.scopes or missing:
                # Older controllers raised InvalidScopeError, redirected without state (§1.3).
                state = pending.state if self.scope_error_state else None
                description = errors.INVALID_SCOPE + errors.to_sentence(missing)
                return back("invalid_scope", description, state)
        if not client.authorized_for_account:
            return back("unauthorized_client", errors.UNAUTHORIZED_CLIENT)
        if query.get("response_type") != "code":
            return back("unsupported_response_type", errors.UNSUPPORTED_RESPONSE_TYPE)
        login_params = {name: query[name] for name in _LOGIN_PARAMS if name in query}
        # Ruby's case on params[:prompt]: only a missing prompt is "none given"; "" is not.
        prompt = query.get("prompt")
        user = self.current_user
        if prompt == "none":
            if user is None:
                return back("login_required", errors.LOGIN_REQUIRED)
            if not self._authorized_token(pending, user):
                return back("interaction_required", errors.INTERACTION_REQUIRED)
            return self._issue_code(session_id, user)
        if prompt == "login":
            login_params["force_login"] = "true"
        elif prompt is not None:
            return back("unsupported_prompt_type", errors.UNSUPPORTED_PROMPT)
        if user is None or "force_login" in login_params:
            if "unique_id" in query:
                login_params["pseudonym_session[unique_id]"] = query["unique_id"]
            return redirect_response(self._login_url(login_params))
        return self._confirmation_redirect(session_id, user)

    def _confirmation_redirect(self, session_id: str, user: FakeUser) -> FakeResponse:
        """Send a logged-in browser to consent, or back with a code if none is needed."""
        if self._authorized_token(self._sessions[session_id], user):
            return self._issue_code(session_id, user)
        return redirect_response(self.base_url + "/login/oauth2/confirm")

    def _authorized_token(self, pending: PendingConsent, user: FakeUser) -> bool:
        """Tell whether Canvas grants without asking: a trusted key or a reusable token.

        Never for the out-of-band redirect (``Provider#authorized_token?``). A reusable
        token is one the key's ``force_token_reuse`` lets Canvas hand out again; asking
        already gives it a new access token, as Canvas's lookup does (``_reuse_token``).
        """
        if pending.redirect_uri == OOB_REDIRECT:
            return False
        client = pending.client
        if client.trusted:
            return True
        return self._reuse_token(client, user, pending.scopes, pending.purpose) is not None

    def _login_page(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Show the login form: one button per Canvas user of the fake."""
        return html_response(200, login_page(self.users))

    def _login(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Log the browser in as the user picked, then go on with a pending authorization."""
        wanted = form.get("user_id", "")
        user = next((u for u in self.users if str(u.id) == wanted), None)
        if user is None:
            return text_response(400, "Unknown user_id: pick one of the login page's users")
        self.current_user = user
        session_id = self._session_id(headers)
        if session_id in self._sessions:
            return self._confirmation_redirect(session_id, user)
        return html_response(200, logged_in_page(user.name))

    def _confirm(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Show the consent page for the session's pending authorization."""
        session_id = self._session_id(headers)
        pending = self._sessions.get(session_id) if session_id else None
        user = self.current_user
        if pending is None or session_id is None or user is None:
            # Canvas flashes "Must submit new OAuth2 request" and sends the browser to log in.
            return redirect_response(self.base_url + "/login")
        if not (pending.client.trusted or user.may_authorize):
            # Canvas reads the state of the confirm request here, which has none (§1.3).
            return self._final_redirect(
                session_id,
                error="client_not_allowed_for_user",
                error_description=errors.NOT_ALLOWED_FOR_USER,
            )
        if self.auto_approve:
            # The fake's shortcut: as if the user pressed Authorize at once.
            return self._issue_code(session_id, user)
        pending.csrf_token = secrets.token_hex(24)
        page = consent_page(
            app_name=pending.client.name,
            purpose=pending.purpose,
            user_name=user.name,
            scopes=pending.scopes,
            csrf_token=pending.csrf_token,
        )
        return html_response(200, page)

    def _accept(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Handle the consent page's Authorize button, checking its one-time CSRF token."""
        session_id = self._session_id(headers)
        pending = self._sessions.get(session_id) if session_id else None
        if pending is None or session_id is None or self.current_user is None:
            return text_response(400, errors.MISSING_SESSION)
        if not pending.csrf_token:
            return text_response(400, errors.MISSING_CSRF)
        if form.get("custom_csrf_token") != pending.csrf_token:
            return text_response(400, errors.INVALID_CSRF)
        pending.csrf_token = None
        return self._issue_code(session_id, self.current_user)

    def _deny(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Handle the consent page's Cancel link: ``access_denied``, no description."""
        session_id = self._session_id(headers)
        pending = self._sessions.get(session_id) if session_id else None
        if pending is None or session_id is None:
            return text_response(400, errors.MISSING_SESSION)
        return self._final_redirect(session_id, error="access_denied", state=pending.state)

    def _issue_code(self, session_id: str, user: FakeUser) -> FakeResponse:
        """Store a fresh code for the session's authorization and redirect back with it."""
        pending = self._sessions[session_id]
        code = secrets.token_hex(64)
        self._codes[code] = CodeGrant(
            code=code,
            client_id=pending.client.client_id,
            user=user,
            scopes=pending.scopes,
            purpose=pending.purpose,
            expires_at=self.clock.now() + CODE_TTL,
            challenge=pending.challenge,
            issued_with_challenge=pending.challenge is not None,
        )
        return self._final_redirect(session_id, code=code, state=pending.state)

    def _final_redirect(self, session_id: str, **params: str | None) -> FakeResponse:
        """Redirect like ``Provider.final_redirect``: no None values, keys sorted.

        Like Canvas, this ends the session's authorization.
        """
        redirect_uri = self._sessions.pop(session_id).redirect_uri
        query = urlencode(sorted((k, v) for k, v in params.items() if v is not None))
        if redirect_uri == OOB_REDIRECT:
            return redirect_response(f"{self.base_url}/login/oauth2/auth?{query}")
        separator = "&" if "?" in redirect_uri else "?"
        return redirect_response(redirect_uri + separator + query)

    def _login_url(self, params: dict[str, str]) -> str:
        """Return the login page's URL with what the authorization passes on, sorted."""
        query = urlencode(sorted(params.items()))
        return f"{self.base_url}/login" + (f"?{query}" if query else "")

    @staticmethod
    def _session_id(headers: dict[str, str]) -> str | None:
        """Return the Canvas session id the browser's cookie carries, if any."""
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and value:
                return value
        return None

    @staticmethod
    def _redirect_allowed(client: FakeClient, redirect_uri: str) -> bool:
        """Match ``redirect_uri`` like ``redirect_domain_matches?`` (§5.3).

        An exact entry of the key's list; else the legacy lenient rule, against the key's
        legacy single redirect URI only: same scheme, same host or a subdomain of it.
        """
        if not redirect_uri:
            return False
        if redirect_uri == OOB_REDIRECT or redirect_uri in client.redirect_uris:
            return True
        if not client.redirect_uri:
            return False
        registered, wanted = urlsplit(client.redirect_uri), urlsplit(redirect_uri)
        host, wanted_host = registered.hostname or "", wanted.hostname or ""
        return (
            bool(host)
            and bool(wanted_host)
            and wanted.scheme == registered.scheme
            and (wanted_host == host or wanted_host.endswith("." + host))
        )
