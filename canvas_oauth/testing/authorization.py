"""The authorization endpoint: ``GET /login/oauth2/auth`` and the consent page (§1).

Checks the client and its redirect URI, answers ``prompt``, shows the consent page and
handles its Authorize (``POST /login/oauth2/accept``) and Cancel (``POST
/login/oauth2/deny``) buttons, then redirects back with a code or an error.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from . import errors
from .pages import consent_page, login_page, oob_page
from .records import CodeGrant, FakeClient, FakeUser, PendingConsent
from .store import Store
from .wire import FakeResponse, html_response, redirect_response, text_response

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = 600


class AuthorizationEndpoint(Store):
    """Answer the authorization pages a browser visits; a mixin of ``FakeCanvas``."""

    base_url: str
    auto_approve: bool
    current_user: FakeUser | None
    _consents: dict[str, PendingConsent]

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
