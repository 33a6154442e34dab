"""A read-only admin for Canvas tokens, and the developer-key editor.

Token values and client secrets appear on no admin page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from canvas_oauth import conf, crypto, instances, tokens
from canvas_oauth.fields import EncryptedTextField
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token

if TYPE_CHECKING:
    # Generic in django-stubs only (the model each one edits); not at run time.
    _TokenAdmin = admin.ModelAdmin[CanvasOAuth2Token]
    _KeyAdmin = admin.ModelAdmin[CanvasDeveloperKey]
    _KeyForm = forms.ModelForm[CanvasDeveloperKey]
else:
    _TokenAdmin = _KeyAdmin = admin.ModelAdmin
    _KeyForm = forms.ModelForm


class DomainFilter(admin.SimpleListFilter):
    """Filter by Canvas instance, listing the configured ones.

    Django's default filter would scan the whole token table (``SELECT DISTINCT``) on every
    page; the configured instances are known without touching it.
    """

    title = "Canvas domain"
    parameter_name = "domain"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[CanvasOAuth2Token]
    ) -> list[tuple[str, str]]:
        domains = set(instances.configured())
        domains.update(CanvasDeveloperKey.objects.values_list("domain", flat=True))
        return [(domain, domain) for domain in sorted(domains)]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[CanvasOAuth2Token]
    ) -> QuerySet[CanvasOAuth2Token]:
        value = self.value()
        if not value:
            return queryset
        try:
            conf.domain_key(value)
        except ValueError:
            # A NUL is a DataError (a 500) on PostgreSQL: a bad domain is a 400 here too.
            raise DisallowedModelAdminLookup("Not a Canvas host or origin") from None
        return queryset.filter(domain=value)


def filters_encrypted_field(model: type[Model], lookup: str) -> bool:
    """Tell whether the admin lookup ``lookup`` (``field__part__…``) reads an encrypted
    column, here or across a relation."""
    opts = model._meta
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return False  # a transform or a lookup such as "startswith"
        if isinstance(field, EncryptedTextField):
            return True
        if field.related_model is None or isinstance(field.related_model, str):
            return False
        opts = field.related_model._meta
    return False


class RefuseEncryptedLookups:
    """Admin mixin: no list may be filtered on an encrypted column, whoever asks.

    ``?access_token__regex=…`` or ``?client_secret__startswith=…`` would answer questions
    about the ciphertext: an oracle. Django answers a refused lookup with a 400.
    """

    model: Any  # the ModelAdmin's

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if filters_encrypted_field(self.model, lookup):
            return False
        if isinstance(value, str) and "\x00" in value:
            return False  # PostgreSQL refuses a NUL in a query: a 400, not a 500
        allowed: bool = super().lookup_allowed(lookup, value, request)  # type: ignore[misc]
        return allowed


@admin.register(CanvasOAuth2Token)
class CanvasOAuth2TokenAdmin(RefuseEncryptedLookups, _TokenAdmin):
    list_display = [
        "user",
        "canvas_user_name",
        "domain",
        "expires",
        "expired",
        "created_on",
        "updated_on",
    ]
    list_filter = [DomainFilter]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email", "canvas_user_name"]
    # Listed explicitly so that a new field never shows up here by accident.
    fields = (
        "user",
        "domain",
        "canvas_user_id",
        "canvas_user_global_id",
        "canvas_user_name",
        "scopes",
        "expires",
        "created_on",
        "updated_on",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]
    show_full_result_count = False

    @admin.display(boolean=True, description="Expired")
    def expired(self, obj: CanvasOAuth2Token) -> bool:
        return obj.is_expired

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CanvasOAuth2Token]:
        # The list never needs the encrypted columns; don't fetch them.
        return super().get_queryset(request).defer("access_token", "refresh_token")

    @admin.action(
        description="Revoke selected tokens at Canvas and delete them", permissions=["delete"]
    )
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[CanvasOAuth2Token]) -> None:
        confirmed = failed = 0
        for token in queryset.only(
            "pk", "user", "domain", "access_token", "refresh_token", "expires"
        ):
            if tokens.revoke(token) is tokens.Revocation.REVOKED:
                confirmed += 1
            else:
                failed += 1
        if confirmed:
            self.message_user(request, f"Revoked {confirmed} token(s) at Canvas.", messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                f"Deleted {failed} token(s) that Canvas could not be told about; see the logs.",
                messages.WARNING,
            )


class DeveloperKeyForm(_KeyForm):
    # Write-only: the stored secret is never sent to the browser; blank keeps it.
    client_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave blank to keep the current secret. Moving the key to another "
        "domain needs it again.",
    )

    class Meta:
        model = CanvasDeveloperKey
        # Not "client_secret": the form would read (decrypt) the stored secret only to
        # leave it out of the page, and a secret no key decrypts would make the page a 500
        # where the admin comes to enter it again. clean() sets a new one.
        fields = ["domain", "client_id", "scopes", "enabled"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("client_secret"):
            self.instance.client_secret = cleaned["client_secret"]
        elif not self.instance.pk:
            self.add_error("client_secret", "Enter the developer key's secret.")
        elif self._moves_domain(cleaned.get("domain")):
            # Whoever may edit a key need not know its secret; without this, they could
            # point the key at their own host and have the secret sent there.
            self.add_error(
                "client_secret", "Enter the secret again to move the key to another domain."
            )
        # Otherwise the row keeps the secret it has, still encrypted, never read.
        return cleaned

    def _moves_domain(self, domain: str | None) -> bool:
        if domain is None:  # invalid or missing: reported on the domain field
            return False
        try:
            return conf.domain_key(domain) != self.instance.domain
        except ValueError:
            return True


@admin.register(CanvasDeveloperKey)
class CanvasDeveloperKeyAdmin(RefuseEncryptedLookups, _KeyAdmin):
    form = DeveloperKeyForm
    list_display = ["domain", "client_id", "enabled", "updated_on"]
    list_filter = ["enabled"]
    search_fields = ["domain", "client_id"]
    readonly_fields = ["secret_set"]
    # The form's own write-only field, never filled from the row (see DeveloperKeyForm).
    exclude = ["client_secret"]

    def get_fields(
        self, request: HttpRequest, obj: CanvasDeveloperKey | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ("domain", "client_id", "client_secret", "scopes", "enabled")
        # A read-only page renders the model's attribute, which is the decrypted secret.
        editable = ("client_secret",) if self.has_change_permission(request, obj) else ()
        return ("domain", "client_id", *editable, "secret_set", "scopes", "enabled")

    @admin.display(boolean=True, description="Secret set")
    def secret_set(self, obj: CanvasDeveloperKey) -> bool | None:
        try:
            return bool(obj.client_secret)
        except crypto.DecryptionError:
            return None  # "unknown": set, but no configured key decrypts it
