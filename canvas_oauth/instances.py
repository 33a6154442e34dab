"""The Canvas instances this site may talk to, and which one a request is for.

Secrets and tokens are only ever sent to a domain on this allow-list. It is made of the
single-domain settings (``CANVAS_OAUTH_CANVAS_DOMAIN`` with its client id and secret),
``CANVAS_OAUTH_INSTANCES``, and the enabled ``CanvasDeveloperKey`` rows in the database, in
that order of precedence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import conf, crypto
from canvas_oauth.canvas import CanvasClient
from canvas_oauth.exceptions import DeveloperKeyUnreadableError, UnknownCanvasInstanceError
from canvas_oauth.models import CanvasDeveloperKey

__all__ = ["lti_launch_domain", "resolve", "session_domain", "single_domain"]

logger = logging.getLogger(__name__)

SESSION_KEY = "canvas_oauth_domain"
# Where a tool keeps the claims of the LTI 1.3 launch that brought the user in.
LTI_LAUNCH_ATTRIBUTE = "lti_launch"
LTI_LAUNCH_SESSION_KEY = "canvas_oauth_lti_launch"
LTI_CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"


@dataclass(frozen=True, repr=False)
class CanvasInstance:
    """One Canvas instance and this site's developer key there."""

    domain: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ()
    purpose: str | None = None
    force_login: bool = False
    replace_tokens: bool = False
    pkce: bool = True

    def __repr__(self) -> str:
        return f"CanvasInstance({self.domain!r}, client_id={self.client_id!r})"

    def client(self) -> CanvasClient:
        """Return a client that speaks to this instance with this key."""
        return CanvasClient(
            base_url=conf.base_url(self.domain),
            client_id=self.client_id,
            client_secret=self.client_secret,
            timeout=conf.settings.timeout,
            connect_timeout=conf.settings.connect_timeout,
        )


def from_options(domain: str, options: dict[str, Any]) -> CanvasInstance:
    """Build an instance from a ``CANVAS_OAUTH_INSTANCES`` entry; unset options use the
    single-domain settings' values."""
    s = conf.settings
    return CanvasInstance(
        domain=conf.domain_key(domain),
        client_id=str(options["client_id"]),
        client_secret=options["client_secret"],
        scopes=tuple(options.get("scopes", s.scopes) or ()),
        purpose=options.get("purpose", s.purpose),
        force_login=bool(options.get("force_login", s.force_login)),
        replace_tokens=bool(options.get("replace_tokens", s.replace_tokens)),
        pkce=bool(options.get("pkce", s.pkce)),
    )


@conf.memoized
def configured() -> dict[str, CanvasInstance]:
    """Return the instances configured in settings, by stored domain form."""
    s = conf.settings
    found: dict[str, CanvasInstance] = {}
    for domain, options in (s.instances or {}).items():
        instance = from_options(domain, options)
        found[instance.domain] = instance
    if s.canvas_domain and s.client_id and s.client_secret:
        single = from_options(
            s.canvas_domain, {"client_id": s.client_id, "client_secret": s.client_secret}
        )
        found[single.domain] = single
    return found


def get(domain: str) -> CanvasInstance:
    """Return the allow-listed instance for ``domain``.

    Raise ``UnknownCanvasInstanceError`` for any other domain: nothing is sent there.
    """
    key = _stored_form(domain)
    instance = configured().get(key)
    if instance is not None:
        return instance
    row = CanvasDeveloperKey.objects.filter(domain=key, enabled=True).first()
    if row is None:
        raise UnknownCanvasInstanceError(domain=key)
    return from_key(row)


@sensitive_variables("options")
def from_key(row: CanvasDeveloperKey) -> CanvasInstance:
    """Build an instance from a ``CanvasDeveloperKey`` row.

    Raise ``DeveloperKeyUnreadableError`` when no configured key decrypts its secret.
    """
    try:
        options: dict[str, Any] = {"client_id": row.client_id, "client_secret": row.client_secret}
    except crypto.DecryptionError:
        logger.error(
            "The client secret of CanvasDeveloperKey pk=%s (%s) cannot be decrypted with the "
            "configured keys; canvas_oauth_doctor lists such rows",
            row.pk,
            row.domain,
        )
        raise DeveloperKeyUnreadableError() from None
    if row.scopes:
        options["scopes"] = row.scopes.split()
    return from_options(row.domain, options)


def domain_for(domain: object = None, request: HttpRequest | None = None) -> str:
    """Return the stored form of the Canvas domain a caller means: ``domain`` when given,
    else the one ``request`` is for (see ``resolve``), else the default instance's.

    Raise ``UnknownCanvasInstanceError`` when there is none, or it is not a host or origin.
    Whether it is allow-listed is ``get``'s to say.
    """
    if domain:
        return _stored_form(domain)
    if request is not None:
        return resolve(request)
    return _stored_form(conf.default_domain())


def resolve(request: HttpRequest) -> str:
    """Return the Canvas domain ``request`` is for, by the configured resolver."""
    domain = _resolver(conf.settings.instance_resolver)(request) or conf.default_domain()
    if not domain:
        raise UnknownCanvasInstanceError(
            "This page does not say which Canvas to connect to. Please launch it from Canvas."
        )
    return _stored_form(domain)


def _stored_form(domain: object) -> str:
    """Return ``conf.domain_key(domain)``; bad input raises ``UnknownCanvasInstanceError``.

    Such a value comes from a request, a resolver or a caller: a 400, not a crash.
    """
    if not isinstance(domain, str):
        raise UnknownCanvasInstanceError()
    try:
        return conf.domain_key(domain)
    except ValueError:
        raise UnknownCanvasInstanceError(domain=domain) from None


@lru_cache(maxsize=8)
def _resolver(path: str) -> Callable[[HttpRequest], str | None]:
    resolver: Callable[[HttpRequest], str | None] = import_string(path)
    return resolver


def single_domain(request: HttpRequest) -> str | None:
    """Resolver: always the configured domain (the default)."""
    return conf.default_domain() or None


def session_domain(request: HttpRequest) -> str | None:
    """Resolver: the domain the site stored in ``request.session["canvas_oauth_domain"]``."""
    value = request.session.get(SESSION_KEY)
    return value if isinstance(value, str) and value else None


def lti_launch_domain(request: HttpRequest) -> str | None:
    """Resolver: the Canvas of the LTI 1.3 launch that brought the user in.

    Reads the launch claims from ``request.lti_launch`` or from the session key
    ``canvas_oauth_lti_launch``: the custom claim ``canvas_api_domain`` (set it to
    ``$Canvas.api.domain`` in the tool's configuration), else the issuer's host when
    that host is itself an allow-listed instance.
    """
    claims = getattr(request, LTI_LAUNCH_ATTRIBUTE, None)
    if claims is None:
        claims = request.session.get(LTI_LAUNCH_SESSION_KEY)
    if not isinstance(claims, dict):
        return None
    custom = claims.get(LTI_CUSTOM_CLAIM)
    domain = custom.get("canvas_api_domain") if isinstance(custom, dict) else None
    if isinstance(domain, str):
        return domain
    issuer = claims.get("iss")
    if isinstance(issuer, str):
        try:
            host = urlsplit(issuer).netloc
            if host and conf.domain_key(host) in configured():
                return host
        except ValueError:  # not a URL, or no host: this claim names no Canvas
            pass
    return None
