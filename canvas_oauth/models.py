"""Stored Canvas tokens: one row per (Django user, Canvas instance)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, models, router
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from canvas_oauth import conf
from canvas_oauth.canvas import TokenGrant
from canvas_oauth.fields import EncryptedTextField
from canvas_oauth.locks import patiently

__all__ = ["CanvasDeveloperKey", "CanvasOAuth2Token"]


def concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """Return the field of ``model`` that has a column, named ``name``."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise LookupError(f"{model.__name__}.{name} has no column")
    return field


def _fetch_one(connection: Any, sql: str, params: list[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


class CanvasOAuth2TokenManager(models.Manager["CanvasOAuth2Token"]):
    """The default manager, plus the hot-path read of one user's token."""

    # What get_oauth_token needs; the other columns load on first access, if ever.
    HOT_FIELDS = ("id", "user", "domain", "access_token", "expires", "scopes")
    # Per database alias: the SQL, the attribute names and the converters of the read.
    _plans: ClassVar[dict[str, tuple[str, list[str], list[tuple[int, list[Any], Any]]]]] = {}

    def get_for_user(self, user_pk: Any, domain: str) -> CanvasOAuth2Token | None:
        """Return the token row of (user, domain), or None: one precompiled SELECT.

        ``get_oauth_token`` runs on every page that talks to Canvas, and building and
        compiling a QuerySet costs more than the query itself (see bench/RESULTS.md).
        The row and its conversions are those of ``only(*HOT_FIELDS).get(user=…, domain=…)``.
        """
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        sql, attnames, converters = self._plan(alias)
        user_field = self.model._meta.get_field("user")
        params = [user_field.get_db_prep_value(user_pk, connection), domain]
        row = patiently(alias, lambda: _fetch_one(connection, sql, params))
        if row is None:
            return None
        values = list(row)
        for index, functions, expression in converters:
            for convert in functions:
                values[index] = convert(values[index], expression, connection)
        return self._build(alias, attnames, values)

    def _build(self, alias: str, attnames: list[str], values: list[Any]) -> CanvasOAuth2Token:
        """Return the instance ``model.from_db(alias, attnames, values)`` returns.

        ``Model.__init__`` costs as much as the rest of the read's Python work together
        (bench/RESULTS.md), and for a partial row all it does is set the loaded attributes
        and ``_state``, and send ``pre_init`` and ``post_init``. When nothing listens to
        those, that is done here.
        """
        model = self.model
        if pre_init.has_listeners(model) or post_init.has_listeners(model):
            return model.from_db(alias, attnames, values)
        row = model.__new__(model)
        row._state = ModelState()
        row._state.adding = False
        row._state.db = alias
        row.__dict__.update(zip(attnames, values, strict=True))
        return row

    def _plan(self, alias: str) -> tuple[str, list[str], list[tuple[int, list[Any], Any]]]:
        plan = self._plans.get(alias)
        if plan is None:
            connection = connections[alias]
            meta = self.model._meta
            fields = [concrete_field(self.model, name) for name in self.HOT_FIELDS]
            compiler = self.none().query.get_compiler(alias)
            quote = connection.ops.quote_name
            # Identifiers come from the model's meta; the values are parameters.
            sql = (
                f"SELECT {', '.join(quote(f.column) for f in fields)} "  # noqa: S608
                f"FROM {quote(meta.db_table)} "
                f"WHERE {quote(concrete_field(self.model, 'user').column)} = %s "
                f"AND {quote(concrete_field(self.model, 'domain').column)} = %s"
            )
            converters = []
            for index, field in enumerate(fields):
                expression = field.get_col(meta.db_table)
                found = compiler.get_converters([expression]).get(0)
                if found:
                    converters.append((index, found[0], found[1]))
            plan = self._plans[alias] = (sql, [f.attname for f in fields], converters)
        return plan


class CanvasOAuth2Token(models.Model):
    """A user's Canvas access token, with what is needed to refresh it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="canvas_oauth2_tokens",
    )
    domain = models.CharField(
        max_length=255,
        default=conf.default_domain,
        help_text="The Canvas instance: a host, or an origin for a non-https Canvas.",
    )
    # Read on every page that talks to Canvas: recent plaintexts stay in memory (crypto).
    access_token = EncryptedTextField(cache_decrypted=True)
    refresh_token = EncryptedTextField(blank=True)
    expires = models.DateTimeField(
        null=True, blank=True, help_text="When the access token expires; empty if never."
    )
    # NULL: not recorded (a row made by hand or by a data import), which is no scope drift;
    # "" is a token granted with no scopes asked for.
    scopes = models.TextField(  # noqa: DJ001 -- NULL and "" mean different things here
        null=True,
        blank=True,
        default=None,
        help_text="Space-separated scopes the token was granted; empty if not recorded.",
    )
    canvas_user_id = models.BigIntegerField(null=True, blank=True)
    canvas_user_global_id = models.CharField(max_length=64, blank=True, default="")
    canvas_user_name = models.CharField(max_length=255, blank=True, default="")
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)
    # The refresh in progress, if any (see canvas_oauth.claims): who holds it, and when it
    # lapses should its holder die.
    refresh_claim = models.CharField(max_length=32, blank=True, default="", editable=False)
    refresh_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CanvasOAuth2TokenManager()

    class Meta:
        verbose_name = "Canvas OAuth2 Token"
        verbose_name_plural = "Canvas OAuth2 Tokens"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "domain"], name="canvas_oauth_unique_user_domain"
            )
        ]

    def __str__(self) -> str:
        return f"Canvas token of {self.user_id} on {self.domain}"

    def __repr__(self) -> str:
        # The default repr is harmless, but say so explicitly: never show token values.
        return f"<CanvasOAuth2Token pk={self.pk} user={self.user_id} domain={self.domain!r}>"

    def expires_within(self, delta: timedelta) -> bool:
        """Tell whether the access token expires within ``delta`` from now (or has)."""
        if self.expires is None:
            return False
        return self.expires - timezone.now() <= delta

    @property
    def is_expired(self) -> bool:
        """Tell whether the access token has expired."""
        return self.expires_within(timedelta(0))

    @property
    def scope_list(self) -> list[str] | None:
        """Return the scopes this token was granted with, or None when they were not recorded."""
        return None if self.scopes is None else self.scopes.split()

    def apply_grant(self, grant: TokenGrant, now: datetime | None = None) -> None:
        """Take the values of a token response; a missing refresh token keeps the old one."""
        self.access_token = grant.access_token
        if grant.refresh_token:
            self.refresh_token = grant.refresh_token
        self.expires = grant.expires_at(now or timezone.now())
        if grant.user is not None:
            self.canvas_user_id = grant.user.id
            self.canvas_user_global_id = grant.user.global_id
            self.canvas_user_name = grant.user.name


class CanvasDeveloperKey(models.Model):
    """A developer key for one Canvas instance, for tools that add institutions at run time.

    Instances in settings take precedence over rows here.
    """

    domain = models.CharField(
        max_length=255,
        unique=True,
        help_text='The Canvas host ("canvas.example.edu"), or an origin for a non-https Canvas.',
    )
    client_id = models.CharField(max_length=64, help_text="The developer key's ID.")
    client_secret = EncryptedTextField(help_text="The developer key's secret.")
    scopes = models.TextField(blank=True, default="", help_text="Space-separated scopes.")
    enabled = models.BooleanField(default=True)
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Canvas developer key"

    def __str__(self) -> str:
        return f"{self.domain} ({self.client_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.domain = conf.domain_key(self.domain)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        try:
            self.domain = conf.domain_key(self.domain)
        except ValueError:
            raise ValidationError(
                {"domain": 'Use a host such as "canvas.example.edu" or an origin with no path.'}
            ) from None
