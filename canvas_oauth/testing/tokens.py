"""The token endpoint: ``POST`` and ``DELETE /login/oauth2/token`` (§2, §3).

``POST`` runs the authorization_code grant (with or without PKCE) and the refresh_token
grant after authenticating the client by form or Basic auth; ``DELETE`` revokes the token
the request carries. Also mints token rows and their JSON, for ``FakeCanvas.issue_token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from . import errors
from .records import OOB_REDIRECT, CodeGrant, FakeClient, FakeUser, TokenRecord
from .store import ACCESS_TOKEN_TTL as ACCESS_TOKEN_TTL
from .store import Store
from .wire import FakeResponse, basic_credentials, bearer_token, html_response, json_response

PUBLIC_CLIENT_TTL = 7200
_TRUTHY = frozenset({"1", "true", "t", "on", "yes", "y"})


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of ``verifier``: base64url(sha256), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class TokenEndpoint(Store):
    """Exchange codes, refresh and revoke tokens; a mixin of ``FakeCanvas``."""

    strict_pkce: bool
    canvas_region: str
    token_error_redirects: bool

    @staticmethod
    def _grant_type(params: dict[str, str]) -> str:
        """Return the grant type, defaulting to authorization_code when a code is sent.

        Sent but blank still counts as sent, as in Ruby, where "" is truthy: a blank
        ``grant_type`` is unsupported, and a blank ``code`` still picks the code grant.
        """
        if "grant_type" not in params and "code" in params:
            return "authorization_code"
        return params.get("grant_type", "")

    def _token(
        self, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> FakeResponse:
        """Exchange a code or a refresh token; an older Canvas may redirect its refusal.

        With ``token_error_redirects`` (Canvas before the ``no_redirect_on_oauth_token_method``
        flag, §2.5, §9.3), a refused request that sent a ``redirect_uri`` other than oob
        gets a 302 there, with ``error`` and ``error_description`` added to its query.
        """
        params = {**query, **form}
        response = self._grant(params, headers)
        redirect_uri = params.get("redirect_uri", "")
        refused = response.status in (400, 401)
        if refused and self.token_error_redirects and redirect_uri not in ("", OOB_REDIRECT):
            return errors.redirected_oauth_error(response, redirect_uri)
        return response

    def _grant(self, params: dict[str, str], headers: dict[str, str]) -> FakeResponse:
        """Run the grant asked for, checking in Canvas's order (§2.5)."""
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
        if "code" not in params:
            return errors.oauth_error(400, "invalid_request", errors.CODE_REQUIRED)
        code = params["code"]
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
        reused = self._reuse_token(client, grant.user, grant.scopes, grant.purpose)
        if reused is not None:
            # Only the access token is new: the stored refresh token stays (§9.3).
            return json_response(200, self._token_json(reused, with_refresh=False))
        if client.replace_tokens or params.get("replace_tokens", "").lower() in _TRUTHY:
            self._delete_tokens(lambda t: t.user is grant.user and t.client_id == client.client_id)
        record = self._create_token(client, grant.user, grant.scopes, grant.purpose)
        return json_response(200, self._token_json(record, with_refresh=True))

    def _refresh(self, client: FakeClient, params: dict[str, str]) -> FakeResponse:
        """Run the refresh_token grant; only public clients get a new refresh token."""
        if "refresh_token" not in params:
            return errors.oauth_error(400, "invalid_request", errors.REFRESH_TOKEN_REQUIRED)
        refresh_token = params["refresh_token"]
        now = self.clock.now()
        record = next(
            (t for t in self._tokens if t.refresh_token == refresh_token and self._usable(t)),
            None,
        )
        if record is None:
            return errors.oauth_error(400, "invalid_request", errors.REFRESH_TOKEN_NOT_FOUND)
        if record.client_id != client.client_id:
            return errors.oauth_error(400, "invalid_grant", errors.INCORRECT_CLIENT)
        self._regenerate_access_token(record)
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
            expires_at=self._access_expiry(client),
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
            "canvas_region": self.canvas_region,
        }
        if with_refresh:
            body["refresh_token"] = record.refresh_token
        if self.clients[record.client_id].auto_expire_tokens:
            body["expires_in"] = round(record.expires_at - self.clock.now())
        return body

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
