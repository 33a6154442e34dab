"""The admin never shows a token value or a developer key's secret."""

import pytest

from canvas_oauth.models import CanvasOAuth2Token
from tests.conftest import store_token

URL = "/admin/canvas_oauth/canvasoauth2token/"


@pytest.fixture
def admin_browser(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def token(fake_canvas, user):
    return store_token(fake_canvas, user, canvas_user_name="Ada Lovelace")


def secrets_of(token):
    fresh = CanvasOAuth2Token.objects.get(pk=token.pk)
    return [fresh.access_token.encode(), fresh.refresh_token.encode()]


def test_changelist_shows_who_and_when_but_no_token(admin_browser, token):
    page = admin_browser.get(URL)
    assert page.status_code == 200
    for column in (b"ada", b"Ada Lovelace", b"canvas.example.edu", b"Expired"):
        assert column in page.content
    for secret in secrets_of(token):
        assert secret not in page.content
    assert b"fernet$" not in page.content


def test_detail_page_shows_no_token_and_cannot_edit(admin_browser, token):
    page = admin_browser.get(f"{URL}{token.pk}/change/")
    assert page.status_code == 200
    for secret in secrets_of(token):
        assert secret not in page.content
    assert b"fernet$" not in page.content
    assert b'name="access_token"' not in page.content
    assert b"Save" not in page.content
    posted = admin_browser.post(f"{URL}{token.pk}/change/", {"access_token": "x"})
    assert posted.status_code == 403


def test_no_add_page(admin_browser, token):
    assert admin_browser.get(f"{URL}add/").status_code == 403


@pytest.mark.parametrize("term", ["ada", "ada@example.edu"])
def test_search_by_username_and_email(admin_browser, token, other_user, fake_canvas, term):
    store_token(fake_canvas, other_user)
    page = admin_browser.get(URL, {"q": term})
    assert b"ada" in page.content
    assert b"grace" not in page.content


def test_changelist_query_count_does_not_grow_with_rows(
    admin_browser, fake_canvas, django_user_model, django_assert_max_num_queries
):
    for i in range(30):
        store_token(fake_canvas, django_user_model.objects.create_user(f"u{i}"))
    with django_assert_max_num_queries(12):
        assert admin_browser.get(URL).status_code == 200


def test_revoke_action_revokes_at_canvas_and_deletes(admin_browser, token, fake_canvas):
    access = CanvasOAuth2Token.objects.get(pk=token.pk).access_token
    response = admin_browser.post(
        URL, {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )
    assert b"Revoked 1 token(s) at Canvas." in response.content
    assert not fake_canvas.is_live(access)
    assert not CanvasOAuth2Token.objects.exists()


def test_revoke_action_reports_canvas_failures(admin_browser, token, fake_canvas):
    fake_canvas.misbehave("revoke", "unavailable")
    response = admin_browser.post(
        URL, {"action": "revoke_selected", "_selected_action": [token.pk]}, follow=True
    )
    assert b"could not be told about" in response.content
    assert not CanvasOAuth2Token.objects.exists()


def test_filter_by_canvas_domain(admin_browser, token, other_user, settings):
    from canvas_oauth.models import CanvasDeveloperKey

    CanvasOAuth2Token.objects.create(
        user=other_user, domain="canvas.west.edu", access_token="a", refresh_token="r"
    )
    CanvasDeveloperKey.objects.create(domain="canvas.west.edu", client_id="2", client_secret="s")
    page = admin_browser.get(URL)
    assert b">ada<" in page.content and b">grace<" in page.content
    assert b"?domain=canvas.west.edu" in page.content
    assert b"?domain=canvas.example.edu" in page.content
    west = admin_browser.get(URL, {"domain": "canvas.west.edu"})
    assert b">grace<" in west.content
    assert b">ada<" not in west.content


KEYS_URL = "/admin/canvas_oauth/canvasdeveloperkey/"
NORTH_SECRET = "north-secret-" + "n" * 51


@pytest.fixture
def developer_key(db):
    from canvas_oauth.models import CanvasDeveloperKey

    return CanvasDeveloperKey.objects.create(
        domain="canvas.north.edu", client_id="30000000000033", client_secret=NORTH_SECRET
    )


def staff_browser(client, django_user_model, *codenames):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("staff", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(staff)
    return client


def test_view_only_staff_sees_whether_a_secret_is_set_but_never_the_secret(
    client, django_user_model, developer_key
):
    viewer = staff_browser(client, django_user_model, "view_canvasdeveloperkey")
    page = viewer.get(f"{KEYS_URL}{developer_key.pk}/change/")
    assert page.status_code == 200
    assert b"canvas.north.edu" in page.content
    assert NORTH_SECRET.encode() not in page.content
    assert b"Secret set" in page.content
    assert b"icon-yes" in page.content


def test_editor_sees_whether_a_secret_is_set_but_never_the_secret(
    client, django_user_model, developer_key
):
    editor = staff_browser(
        client, django_user_model, "view_canvasdeveloperkey", "change_canvasdeveloperkey"
    )
    page = editor.get(f"{KEYS_URL}{developer_key.pk}/change/")
    assert NORTH_SECRET.encode() not in page.content
    assert b'name="client_secret"' in page.content
    assert b"Secret set" in page.content


def key_form(domain, secret=""):
    return {
        "domain": domain,
        "client_id": "30000000000033",
        "client_secret": secret,
        "scopes": "",
        "enabled": "on",
    }


def test_moving_a_key_to_another_domain_needs_the_secret_again(
    client, django_user_model, developer_key, user, settings
):
    from canvas_oauth.testing import FakeCanvas, mock_canvas

    editor = staff_browser(client, django_user_model, "change_canvasdeveloperkey")
    moved = editor.post(
        f"{KEYS_URL}{developer_key.pk}/change/", key_form("http://attacker.example")
    )
    assert moved.status_code == 200
    assert b"Enter the secret again" in moved.content
    developer_key.refresh_from_db()
    assert developer_key.domain == "canvas.north.edu"

    # The dance a user would then start goes nowhere near the attacker's host.
    attacker = FakeCanvas(base_url="http://attacker.example", client_id="30000000000033")
    settings.CANVAS_OAUTH_INSTANCE_RESOLVER = "canvas_oauth.instances.session_domain"
    client.force_login(user)
    session = client.session
    session["canvas_oauth_domain"] = "http://attacker.example"
    session.save()
    with mock_canvas(attacker):
        assert client.get("/canvas/").status_code == 400
    assert attacker.calls.total() == 0


def test_moving_a_key_with_its_secret_works_and_same_domain_keeps_it(
    client, django_user_model, developer_key
):
    editor = staff_browser(client, django_user_model, "change_canvasdeveloperkey")
    url = f"{KEYS_URL}{developer_key.pk}/change/"
    assert editor.post(url, key_form("https://Canvas.North.edu/")).status_code == 302
    developer_key.refresh_from_db()
    assert developer_key.client_secret == NORTH_SECRET
    assert editor.post(url, key_form("canvas.south.edu", "south-secret")).status_code == 302
    developer_key.refresh_from_db()
    assert (developer_key.domain, developer_key.client_secret) == (
        "canvas.south.edu",
        "south-secret",
    )


def test_history_says_the_secret_changed_only_when_one_was_typed(
    client, django_user_model, developer_key
):
    from django.contrib.admin.models import LogEntry

    editor = staff_browser(client, django_user_model, "change_canvasdeveloperkey")
    url = f"{KEYS_URL}{developer_key.pk}/change/"
    editor.post(url, key_form("canvas.north.edu") | {"client_id": "30000000000034"})
    editor.post(url, key_form("canvas.north.edu", "new-north-secret"))
    first, second = (e.get_change_message() for e in LogEntry.objects.order_by("pk"))
    assert "ecret" not in first
    assert "ecret" in second
    assert "new-north-secret" not in second


def test_a_key_whose_secret_no_key_decrypts_can_be_given_its_secret_again(
    admin_browser, developer_key, settings
):
    from cryptography.fernet import Fernet

    from canvas_oauth.models import CanvasDeveloperKey

    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old one lost
    url = f"{KEYS_URL}{developer_key.pk}/change/"
    assert admin_browser.get(KEYS_URL).status_code == 200
    page = admin_browser.get(url)
    assert page.status_code == 200
    form = {
        "domain": "canvas.north.edu",
        "client_id": "30000000000033",
        "client_secret": "a-new-secret",
        "scopes": "",
        "enabled": "on",
    }
    assert admin_browser.post(url, form).status_code == 302
    assert CanvasDeveloperKey.objects.get().client_secret == "a-new-secret"


@pytest.mark.parametrize(
    "url, query",
    [
        (KEYS_URL, {"client_secret__startswith": "fernet$"}),
        (KEYS_URL, {"client_secret": "x"}),
        (URL, {"access_token__regex": "^fernet"}),
        (URL, {"refresh_token__contains": "a"}),
        (URL, {"access_token__isnull": "False"}),
    ],
)
@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_lists_cannot_be_filtered_on_encrypted_columns(
    client, django_user_model, admin_user, developer_key, token, url, query, who
):
    if who == "viewer":
        browser = staff_browser(
            client, django_user_model, "view_canvasdeveloperkey", "view_canvasoauth2token"
        )
    else:
        client.force_login(admin_user)
        browser = client
    assert browser.get(url).status_code == 200
    assert browser.get(url, query).status_code == 400
    assert browser.get(url, {"domain": "canvas.example.edu"}).status_code == 200


@pytest.mark.parametrize(
    "url, query",
    [
        (URL, {"domain": "canvas.example.edu\x00"}),  # the Canvas domain filter
        (URL, {"domain": "a\x00b"}),
        (URL, {"domain__exact": "a\x00b"}),
        (KEYS_URL, {"domain": "a\x00b"}),
        (KEYS_URL, {"client_id__startswith": "1\x00"}),
    ],
)
def test_a_nul_in_a_list_filter_is_a_400_on_every_database(admin_browser, token, url, query):
    # PostgreSQL refuses a NUL in a query (DataError): a 500 before.
    assert admin_browser.get(url, query).status_code == 400
    assert admin_browser.get(url, {"domain": "canvas.example.edu"}).status_code == 200
