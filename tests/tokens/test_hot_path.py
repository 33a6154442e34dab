"""The hot-path read: what its shortcuts keep equal to the long way, and what they keep in memory.

``get_oauth_token`` reads one row per request (bench/RESULTS.md measures it against a
plain SELECT). Its row is built without ``Model.__init__`` when no signal would see the
difference, and the access tokens it decrypts are remembered for a while, per process and
per key set. These tests hold both to "nothing a user can tell apart".
"""

import pytest
from cryptography.fernet import Fernet
from django.db.models.signals import post_init
from django.views.debug import ExceptionReporter

from canvas_oauth import conf, crypto
from canvas_oauth.exceptions import MissingTokenError
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token
from tests.conftest import made, store_token

pytestmark = pytest.mark.django_db

FIELDS = CanvasOAuth2Token.objects.HOT_FIELDS


def long_way(token):
    """The row as ``only(*HOT_FIELDS).get(...)`` builds it, through ``Model.__init__``."""
    return CanvasOAuth2Token.objects.only(*FIELDS).get(user=token.user_id, domain=token.domain)


def test_the_hot_row_is_the_one_django_builds(fake_canvas, user):
    token = store_token(fake_canvas, user, scopes="url:GET|/api/v1/courses")
    hot = CanvasOAuth2Token.objects.get_for_user(user.pk, token.domain)
    django_row = long_way(token)
    assert hot.__dict__.keys() - {"_state"} == django_row.__dict__.keys() - {"_state"}
    assert (hot._state.adding, hot._state.db) == (django_row._state.adding, django_row._state.db)
    assert hot.get_deferred_fields() == django_row.get_deferred_fields()
    assert (hot.access_token, hot.expires, hot.scope_list) == (
        django_row.access_token,
        django_row.expires,
        django_row.scope_list,
    )
    # A deferred column loads on first access, and a save writes what was loaded only.
    assert hot.canvas_user_name == django_row.canvas_user_name
    hot.expires = None
    hot.save()
    assert CanvasOAuth2Token.objects.get(pk=token.pk).expires is None


def test_a_post_init_receiver_still_sees_the_hot_row(fake_canvas, user):
    token = store_token(fake_canvas, user)
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=CanvasOAuth2Token)
    try:
        hot = CanvasOAuth2Token.objects.get_for_user(user.pk, token.domain)
    finally:
        post_init.disconnect(receiver, sender=CanvasOAuth2Token)
    assert seen == [hot]


def request_for(rf, user):
    request = rf.get("/")
    request.user = user
    return request


def test_a_remembered_token_is_forgotten_when_the_keys_change(rf, fake_canvas, user, settings):
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    token = store_token(fake_canvas, user)
    assert get_oauth_token(request_for(rf, user)) == token.access_token  # now in memory
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]  # the old key is gone
    with pytest.raises(MissingTokenError):
        get_oauth_token(request_for(rf, user))
    assert CanvasOAuth2Token.objects.filter(pk=token.pk).exists()  # kept for the key's return


def test_memory_holds_a_bounded_number_of_values(monkeypatch):
    monkeypatch.setattr(crypto, "RECENT_PLAINTEXTS", 3)
    stored = [crypto.encrypt(f"token-{n}") for n in range(5)]
    conf._memo.clear()  # as a change of keys does: a new, empty memory of the new size
    try:
        assert [crypto.decrypt_cached(v) for v in stored] == [f"token-{n}" for n in range(5)]
        assert repr(crypto._recent()) == "<recent plaintexts: 3 of 3>"
    finally:
        conf._memo.clear()


def test_a_value_no_key_decrypts_is_not_remembered(settings):
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    foreign = crypto.PREFIX + Fernet(Fernet.generate_key()).encrypt(b"elsewhere").decode()
    for _ in range(2):
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt_cached(foreign)
    assert repr(crypto._recent()) == "<recent plaintexts: 0 of 1024>"


def test_remembered_values_stay_out_of_error_reports(rf, settings):
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    recent = crypto._recent()
    assert crypto.decrypt_cached(crypto.encrypt(made("remembered"))) == made("remembered")
    try:
        raise RuntimeError(f"boom near {recent!r}")
    except RuntimeError as exc:
        report = ExceptionReporter(rf.get("/"), type(exc), exc, exc.__traceback__)
        text = report.get_traceback_text()
    assert "recent plaintexts: 1 of 1024" in text
    assert made("remembered") not in text


@pytest.mark.parametrize("setting", ["SECRET_KEY", "SECRET_KEY_FALLBACKS"])
def test_a_remembered_token_is_forgotten_when_the_secret_key_changes(
    rf, fake_canvas, user, settings, setting
):
    # Without CANVAS_OAUTH_ENCRYPTION_KEYS the keys come from SECRET_KEY and its fallbacks.
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = None
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, ["old-" + "k" * 50]
    if setting == "SECRET_KEY":
        token = store_token(fake_canvas, user)  # under the new key
    else:
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "old-" + "k" * 50, []
        token = store_token(fake_canvas, user)  # under the old one, kept as a fallback
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-" + "k" * 50, ["old-" + "k" * 50]
    assert get_oauth_token(request_for(rf, user)) == token.access_token  # now in memory
    if setting == "SECRET_KEY":
        settings.SECRET_KEY = "other-" + "k" * 50
    else:
        settings.SECRET_KEY_FALLBACKS = []  # the old key dropped
    with pytest.raises(MissingTokenError):
        get_oauth_token(request_for(rf, user))


def test_refresh_tokens_and_client_secrets_are_never_remembered(fake_canvas, user, settings):
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key()]
    token = store_token(fake_canvas, user)
    key = CanvasDeveloperKey.objects.create(
        domain="other.example.edu", client_id="10000000000009", client_secret=made("secret")
    )
    assert CanvasOAuth2Token.objects.get(pk=token.pk).refresh_token == token.refresh_token
    assert CanvasDeveloperKey.objects.get(pk=key.pk).client_secret == made("secret")
    assert repr(crypto._recent()) == "<recent plaintexts: 0 of 1024>"
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token == token.access_token
    assert repr(crypto._recent()) == "<recent plaintexts: 1 of 1024>"
