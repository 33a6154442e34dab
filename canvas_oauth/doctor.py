"""Will the dance work here? A deployment's check-up, for ``canvas_oauth_doctor``.

Each finding names a check, says ``ok``, ``warning``, ``error`` or ``skipped``, and
explains itself in a sentence that never holds a secret, a token or a key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core import checks as django_checks
from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DatabaseError, connections, router
from django.urls import NoReverseMatch, reverse
from django.views.decorators.debug import sensitive_variables

from canvas_oauth import canvas, conf, crypto, instances
from canvas_oauth.exceptions import (
    CanvasOAuthError,
    CanvasUnavailableError,
    DeveloperKeyUnreadableError,
)
from canvas_oauth.instances import CanvasInstance
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token

OK, WARNING, ERROR, SKIPPED = "ok", "warning", "error", "skipped"
# Canvas signs LTI launches and we compare expiry times with its clock: a minute of drift
# is what the issue allows before reporting it.
MAX_CLOCK_SKEW = timedelta(minutes=1)
# Said wherever plain http passes: only loopback is exempt from https.
LOOPBACK_EXEMPT = (
    "plain http, accepted because the host is loopback (localhost, 127.0.0.0/8 or ::1); "
    "any other host must use https."
)
# Undecryptable rows named in the report, at most: enough to find them, short enough to read.
LISTED_PKS = 20


class UnknownDomainError(Exception):
    """``--domain`` names no configured Canvas instance."""


@dataclass(frozen=True)
class Finding:
    """The outcome of one check, for the whole site (``domain`` None) or one instance."""

    check: str
    status: str
    message: str
    domain: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the finding as the ``--json`` report shows it."""
        return {
            "check": self.check,
            "domain": self.domain,
            "status": self.status,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class Report:
    """Every finding of one run; ``ok`` unless one of them is an error."""

    findings: list[Finding]

    @property
    def ok(self) -> bool:
        """Tell whether no check failed (warnings and skipped checks do not fail)."""
        return all(f.status != ERROR for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        """Return the machine-readable report of ``--json``."""
        return {"ok": self.ok, "checks": [f.as_json() for f in self.findings]}


def examine(domain: str | None = None, base_url: str | None = None, sample: int = 100) -> Report:
    """Check the site, then each configured Canvas instance (or only ``domain``).

    ``base_url`` is the site's origin, to build the redirect URI from when
    ``CANVAS_OAUTH_REDIRECT_URI`` is unset. ``sample`` rows of the token table from each end
    are decrypted (0: none). Raise ``UnknownDomainError`` when ``domain`` is not configured.
    """
    targets = _instances(domain)
    redirect = _redirect_uri(base_url)
    findings = [
        _system_checks(),
        _encryption_keys(),
        _tables(),
        _stored_rows(sample),
        _state_cache(),
        redirect,
    ]
    for key, instance, problem in targets:
        checked = _instance(key, instance, problem)
        findings.extend(checked)
        findings.extend(_redirect_registered(key, instance, redirect, checked))
    if not targets:
        findings.append(
            Finding(
                "instances",
                ERROR,
                "No Canvas instance is configured: set CANVAS_OAUTH_CANVAS_DOMAIN with its "
                "client id and secret, CANVAS_OAUTH_INSTANCES, or add a CanvasDeveloperKey.",
            )
        )
    return Report(findings)


def _instances(domain: str | None) -> list[tuple[str, CanvasInstance | None, str]]:
    """Return (domain, instance, problem) for each instance; a row that cannot be used has
    no instance and says why."""
    try:
        configured = dict(instances.configured())
    except (KeyError, TypeError, ValueError, AttributeError):
        configured = {}  # ill-formed settings: canvas_oauth.E016 says which
    found: list[tuple[str, CanvasInstance | None, str]] = [
        (key, instance, "") for key, instance in configured.items()
    ]
    rows = CanvasDeveloperKey.objects.filter(enabled=True).order_by("domain")
    try:
        for row in rows.exclude(domain__in=list(configured)):
            found.append(_row_instance(row))
    except DatabaseError:
        pass  # no table yet: _stored_rows reports it
    if domain is None:
        return found
    try:
        key = conf.domain_key(domain)
    except ValueError:
        raise UnknownDomainError(f"{domain!r} is not a Canvas host or origin.") from None
    chosen = [entry for entry in found if entry[0] == key]
    if not chosen:
        raise UnknownDomainError(
            f"{key!r} is not a configured Canvas instance (settings or an enabled "
            "CanvasDeveloperKey)."
        )
    return chosen


def _row_instance(row: CanvasDeveloperKey) -> tuple[str, CanvasInstance | None, str]:
    try:
        return row.domain, instances.from_key(row), ""
    except DeveloperKeyUnreadableError:
        problem = "its client secret cannot be decrypted with the configured keys"
    except CanvasOAuthError:  # EncryptionKeyError: the keys themselves are unusable
        problem = "its client secret cannot be read while the encryption keys are unusable"
    except ValueError:
        problem = "its domain is not a Canvas host or origin"
    return row.domain, None, f"The CanvasDeveloperKey row (pk={row.pk}) cannot be used: {problem}."


def _instance(key: str, instance: CanvasInstance | None, problem: str) -> list[Finding]:
    """Check one instance: https, then (if sound) whether Canvas answers, and then what its
    answer says of the developer key and of Canvas's clock."""
    if instance is None:
        return [Finding("developer_key", ERROR, problem, key)]
    scheme, netloc = conf.parse_domain(instance.domain)
    origin = f"{scheme}://{netloc}"
    https = _https(key, origin, scheme)
    if https.status == ERROR:
        return [https]
    reachable, probe = _reachable(key, origin, instance)
    if probe is None:
        return [https, reachable]
    return [
        https,
        reachable,
        _developer_key(key, origin, instance.client_id, probe),
        _clock(key, probe.clock_skew),
    ]


def _https(key: str, origin: str, scheme: str) -> Finding:
    if scheme == "http" and not conf.is_loopback(urlsplit(origin).hostname):
        return Finding(
            "https",
            ERROR,
            f"Canvas is reached at {origin} over plain http: the client secret, codes and "
            "tokens would cross the network in clear text. Not probed, for that reason.",
            key,
        )
    if scheme == "https":
        return Finding("https", OK, f"Canvas is reached at {origin}.", key)
    return Finding("https", OK, f"Canvas is reached at {origin}: {LOOPBACK_EXEMPT}", key)


def _reachable(
    key: str, origin: str, instance: CanvasInstance
) -> tuple[Finding, canvas.KeyProbe | None]:
    """Send Canvas the key probe; return the finding, and the probe when Canvas answered."""
    timeout = conf.settings.timeout
    started = time.monotonic()
    try:
        probe = instance.client().probe_key()
    except CanvasUnavailableError as exc:
        message = (
            f"{origin} did not answer within CANVAS_OAUTH_TIMEOUT ({timeout} s): {exc.message}"
        )
        return Finding("reachable", ERROR, message, key), None
    elapsed = round(time.monotonic() - started, 3)
    message = f"{origin} answered in {elapsed} s."
    return Finding("reachable", OK, message, key, {"seconds": elapsed}), probe


# The developer key's verdict by the probe's (verdict, Canvas's description); a description
# of None stands for any. An answer matching none is KEY_NOT_UNDERSTOOD.
KEY_VERDICTS: dict[tuple[str, str | None], tuple[str, str]] = {
    ("valid", None): (
        OK,
        "Canvas accepts client id {client_id} and its secret (it refused only the made-up "
        "code: 400 invalid_grant).",
    ),
    ("invalid_client", "unknown client"): (
        ERROR,
        "Canvas does not know client id {client_id}, or the key is off (401 invalid_client).",
    ),
    ("invalid_client", None): (
        ERROR,
        "Canvas refused the client secret of client id {client_id} (401 invalid_client).",
    ),
}
KEY_NOT_UNDERSTOOD = (
    ERROR,
    "Canvas answered {http_status} {error}, neither 400 invalid_grant (a live key) nor 401 "
    "invalid_client (a wrong one). Is {origin} a Canvas?",
)


def _developer_key(key: str, origin: str, client_id: str, probe: canvas.KeyProbe) -> Finding:
    status, template = KEY_VERDICTS.get(
        (probe.verdict, probe.description),
        KEY_VERDICTS.get((probe.verdict, None), KEY_NOT_UNDERSTOOD),
    )
    message = template.format(
        client_id=client_id,
        http_status=probe.http_status,
        error=probe.error or "(no OAuth error)",
        origin=origin,
    )
    details = {"http_status": probe.http_status, "error": probe.error}
    return Finding("developer_key", status, message, key, details)


def _redirect_registered(
    key: str, instance: CanvasInstance | None, redirect: Finding, checked: list[Finding]
) -> list[Finding]:
    """Ask Canvas whether the instance's key lists the redirect URI (none when unknown).

    Checked only when the site's redirect URI is known and sound and Canvas accepted the
    key: a key Canvas does not know answers 401 before any redirect URI is looked at.
    """
    key_ok = any(f.check == "developer_key" and f.status == OK for f in checked)
    if instance is None or redirect.status != OK or not key_ok:
        return []
    uri = redirect.details["redirect_uri"]
    details: dict[str, Any] = {"redirect_uri": uri}
    try:
        probe = instance.client().probe_redirect_uri(uri)
    except CanvasUnavailableError as exc:
        message = f"Not checked: Canvas did not answer the authorize URL ({exc.message})"
        return [Finding("redirect_uri_registered", WARNING, message, key, details)]
    details.update(http_status=probe.http_status, error=probe.error)
    client_id = instance.client_id
    if probe.verdict == "registered":
        message = f"The developer key {client_id} lists {uri} (Canvas sent the browser on)."
        return [Finding("redirect_uri_registered", OK, message, key, details)]
    if probe.verdict == "mismatch":
        message = (
            f"Canvas refuses the redirect URI {uri} for client id {client_id}: 400 "
            f'"{probe.description}". Users would see that error on Canvas instead of the '
            f"consent page. Add {uri} to the developer key's Redirect URIs (Canvas: Admin > "
            "Developer Keys > edit the key), exactly as written here, or set "
            "CANVAS_OAUTH_REDIRECT_URI to a URI the key lists."
        )
        return [Finding("redirect_uri_registered", ERROR, message, key, details)]
    message = (
        f"Canvas answered the authorize URL with {probe.http_status} "
        f"{probe.error or '(no OAuth error)'}, neither a redirect (a listed URI) nor "
        "Canvas's 400 for an unlisted one."
    )
    return [Finding("redirect_uri_registered", WARNING, message, key, details)]


def _clock(key: str, skew: timedelta | None) -> Finding:
    if skew is None:
        return Finding("clock", WARNING, "Canvas sent no readable Date header.", key)
    seconds = round(skew.total_seconds())
    details = {"skew_seconds": seconds}
    if abs(skew) > MAX_CLOCK_SKEW:
        way = "ahead of" if seconds > 0 else "behind"
        return Finding(
            "clock",
            ERROR,
            f"Canvas's clock is {abs(seconds)} s {way} ours (more than a minute): check NTP.",
            key,
            details,
        )
    return Finding(
        "clock", OK, f"Canvas's clock is within a minute of ours ({seconds} s).", key, details
    )


def _system_checks() -> Finding:
    messages = [m for m in django_checks.run_checks() if not m.is_silenced()]
    details = {
        "messages": [
            {"id": m.id, "serious": m.is_serious(), "message": str(m.msg)} for m in messages
        ]
    }
    ids = ", ".join(str(m.id) for m in messages)
    if any(m.is_serious() for m in messages):
        return Finding("system_checks", ERROR, f"System checks fail: {ids}.", None, details)
    if messages:
        return Finding("system_checks", WARNING, f"System checks warn: {ids}.", None, details)
    return Finding("system_checks", OK, "System checks pass.")


def _encryption_keys() -> Finding:
    problem = crypto.keys_problem(conf.settings.encryption_keys)
    if problem:
        return Finding("encryption_keys", ERROR, problem)
    if conf.settings.encryption_keys:
        count = len(conf.settings.encryption_keys)
        return Finding("encryption_keys", OK, f"{count} key(s) in CANVAS_OAUTH_ENCRYPTION_KEYS.")
    return Finding("encryption_keys", OK, "Keys derived from SECRET_KEY and its fallbacks.")


def _tables() -> Finding:
    """Name the tables, and the columns of them, that the database lacks.

    A table built by other migrations (the 1.x ones, kept through ``MIGRATION_MODULES``)
    exists but lacks columns; every read of it fails until this app's migrations run.
    """
    missing_tables: list[str] = []
    missing_columns: dict[str, list[str]] = {}
    for model in (CanvasOAuth2Token, CanvasDeveloperKey):
        table = model._meta.db_table
        connection = connections[router.db_for_read(model)]
        try:
            with connection.cursor() as cursor:
                if table not in connection.introspection.table_names(cursor):
                    missing_tables.append(table)
                    continue
                description = connection.introspection.get_table_description(cursor, table)
        except DatabaseError as exc:
            return Finding("tables", ERROR, f"The tables cannot be read ({type(exc).__name__}).")
        present = {column.name.lower() for column in description}
        lacking = [f.column for f in model._meta.concrete_fields if f.column.lower() not in present]
        if lacking:
            missing_columns[table] = lacking
    if not missing_tables and not missing_columns:
        return Finding("tables", OK, "The tables have every column this version reads.")
    problems = [f"{table} is missing" for table in missing_tables] + [
        f"{table} lacks {', '.join(columns)}" for table, columns in missing_columns.items()
    ]
    return Finding(
        "tables",
        ERROR,
        f"{'; '.join(problems)}. Run `python manage.py migrate canvas_oauth` (remove "
        "canvas_oauth from MIGRATION_MODULES first if it is there: the upgrade from 1.x "
        "keeps every token).",
        None,
        {"missing_tables": missing_tables, "missing_columns": missing_columns},
    )


@sensitive_variables("keys", "secret")
def _stored_rows(sample: int) -> Finding:
    if crypto.keys_problem(conf.settings.encryption_keys):
        return Finding("stored_rows", SKIPPED, "Not checked: the encryption keys are unusable.")
    try:
        bad_tokens, tokens_read = _undecryptable_tokens(sample)
        keys = list(CanvasDeveloperKey.objects.values_list("pk", "client_secret"))
    except DatabaseError as exc:
        return Finding(
            "stored_rows",
            ERROR,
            f"The tables cannot be read ({type(exc).__name__}); has `migrate` run?",
        )
    bad_keys = [pk for pk, secret in keys if not _decrypts(secret)]
    details = {
        "tokens_sampled": tokens_read,
        "tokens_undecryptable": len(bad_tokens),
        "token_pks": bad_tokens[:LISTED_PKS],
        "developer_keys": len(keys),
        "developer_keys_undecryptable": len(bad_keys),
        "developer_key_pks": bad_keys[:LISTED_PKS],
    }
    summary = (
        f"{len(bad_tokens)} of {tokens_read} sampled tokens and {len(bad_keys)} of "
        f"{len(keys)} developer keys cannot be decrypted"
    )
    if bad_tokens or bad_keys:
        pks = ", ".join(str(pk) for pk in [*bad_tokens, *bad_keys][:LISTED_PKS])
        return Finding(
            "stored_rows",
            ERROR,
            f"{summary} (pk {pks}). Was a key removed from CANVAS_OAUTH_ENCRYPTION_KEYS "
            "or SECRET_KEY_FALLBACKS too early?",
            None,
            details,
        )
    return Finding("stored_rows", OK, f"{summary}.", None, details)


def _undecryptable_tokens(sample: int) -> tuple[list[int], int]:
    """Return the pks of sampled token rows no key decrypts, and how many were read.

    The oldest rows were written under the oldest keys, the newest under the current one:
    both ends of the table are read.
    """
    if sample <= 0:
        return [], 0
    rows = CanvasOAuth2Token.objects.values_list("pk", "access_token", "refresh_token")
    read = {}
    for pk, *stored in [*rows.order_by("pk")[:sample], *rows.order_by("-pk")[:sample]]:
        read[pk] = all(_decrypts(value) for value in stored)
    return sorted(pk for pk, fine in read.items() if not fine), len(read)


@sensitive_variables()
def _decrypts(stored: str | None) -> bool:
    try:
        crypto.decrypt(stored or "")
    except crypto.DecryptionError:
        return False
    return True


def _state_cache() -> Finding:
    alias = conf.settings.state_cache
    try:
        cache = caches[alias]
    except (InvalidCacheBackendError, TypeError):
        return Finding(
            "state_cache", ERROR, f"CANVAS_OAUTH_STATE_CACHE names no cache in CACHES: {alias!r}."
        )
    if isinstance(cache, DummyCache):
        return Finding(
            "state_cache",
            ERROR,
            f"The cache {alias!r} is a DummyCache: it keeps nothing, so popup dances never "
            "finish and a callback's state cannot be claimed once.",
        )
    if isinstance(cache, LocMemCache):
        return Finding(
            "state_cache",
            WARNING,
            f"The cache {alias!r} is local memory, private to each process: with more than "
            "one worker, the LTI popup dance breaks (the popup's callback and the page's "
            "claim reach different workers). Use Redis or the database cache.",
        )
    return Finding("state_cache", OK, f"The cache {alias!r} ({type(cache).__name__}) is shared.")


def _redirect_uri(base_url: str | None) -> Finding:
    configured = conf.settings.redirect_uri
    if configured:
        uri, source = configured, "CANVAS_OAUTH_REDIRECT_URI"
    elif base_url:
        try:
            uri, source = base_url.rstrip("/") + reverse("canvas-oauth-callback"), "--base-url"
        except NoReverseMatch:
            return Finding(
                "redirect_uri", ERROR, "canvas_oauth.urls is not in the URLconf: no callback."
            )
    else:
        return Finding(
            "redirect_uri",
            SKIPPED,
            "Built from each request: set CANVAS_OAUTH_REDIRECT_URI, or pass --base-url, to "
            "check it.",
        )
    details = {"redirect_uri": str(uri), "source": source}
    try:
        parts = urlsplit(str(uri))
        absolute = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [ of an IPv6 address
        absolute = False
    if not absolute:
        return Finding(
            "redirect_uri", ERROR, f"{uri!r} ({source}) is not an absolute URL.", None, details
        )
    if parts.scheme == "http" and not conf.is_loopback(parts.hostname):
        return Finding(
            "redirect_uri",
            ERROR,
            f"{uri} ({source}) is plain http: Canvas would send codes there in clear text.",
            None,
            details,
        )
    if parts.scheme == "http":
        return Finding("redirect_uri", OK, f"{uri} ({source}): {LOOPBACK_EXEMPT}", None, details)
    return Finding("redirect_uri", OK, f"{uri} ({source}).", None, details)
