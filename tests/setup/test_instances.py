"""Several Canvas instances: an allow-list, a resolver, tokens per (user, domain)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.utils.html import escape

from canvas_oauth import instances
from canvas_oauth.checks import check_settings
from canvas_oauth.exceptions import MissingTokenError, UnknownCanvasInstanceError
from canvas_oauth.models import CanvasDeveloperKey, CanvasOAuth2Token
from canvas_oauth.oauth import get_oauth_token
from canvas_oauth.testing import FakeCanvas, mock_canvas
from canvas_oauth.tokens import get_token_for_user
from tests.conftest import callback_path

EAST = "canvas.east.edu"
WEST = "canvas.west.edu"
SECRET_EAST = "east-secret-" + "e" * 52
SECRET_WEST = "west-secret-" + "w" * 52

TWO_INSTANCES = {
    "CANVAS_OAUTH_CLIENT_ID": None,
    "CANVAS_OAUTH_CLIENT_SECRET": None,
    "CANVAS_OAUTH_CANVAS_DOMAIN": None,
    "CANVAS_OAUTH_INSTANCES": {
        EAST: {"client_id": "10000000000011", "client_secret": SECRET_EAST},
        WEST: {
            "client_id": "20000000000022",
            "client_secret": SECRET_WEST,
            "scopes": ["url:GET|/api/v1/users/:id"],
            "purpose": "West tools",
        },
    },
    "CANVAS_OAUTH_INSTANCE_RESOLVER": "canvas_oauth.instances.session_domain",
}


@pytest.fixture
def two_canvases():
    east = FakeCanvas(
        base_url=f"https://{EAST}", client_id="10000000000011", client_secret=SECRET_EAST
    )
    west = FakeCanvas(
        base_url=f"https://{WEST}", client_id="20000000000022", client_secret=SECRET_WEST
    )
    with override_settings(**TWO_INSTANCES), mock_canvas(east, west):
        yield east, west


def use_domain(client, domain):
    session = client.session
    session["canvas_oauth_domain"] = domain
    session.save()


def connect(client, fake):
    to_canvas = client.get("/canvas/")
    assert to_canvas["Location"].startswith(fake.base_url + "/login/oauth2/auth?")
    return client.get(callback_path(fake.authorize(to_canvas["Location"])))


def test_the_two_instances_pass_the_checks(two_canvases):
    assert check_settings() == []


def test_each_instance_gets_its_own_dance_and_token(browser, user, two_canvases):
    east, west = two_canvases
    use_domain(browser, EAST)
    assert connect(browser, east)["Location"] == "/canvas/"
    use_domain(browser, WEST)
    assert connect(browser, west)["Location"] == "/canvas/"
    assert east.last_token_request["client_secret"] == SECRET_EAST
    assert west.last_token_request["client_secret"] == SECRET_WEST
    tokens = {t.domain: t for t in CanvasOAuth2Token.objects.filter(user=user)}
    assert set(tokens) == {EAST, WEST}
    assert east.is_live(tokens[EAST].access_token)
    assert west.is_live(tokens[WEST].access_token)
    assert tokens[WEST].scope_list == ["url:GET|/api/v1/users/:id"]
    assert browser.get("/canvas/").status_code == 200


def test_per_instance_options_reach_canvas(browser, two_canvases):
    use_domain(browser, WEST)
    query = parse_qs(urlsplit(browser.get("/canvas/")["Location"]).query)
    assert query["client_id"] == ["20000000000022"]
    assert query["scope"] == ["url:GET|/api/v1/users/:id"]
    assert query["purpose"] == ["West tools"]


def test_refresh_goes_to_the_tokens_own_instance(rf, user, two_canvases):
    east, west = two_canvases
    body = west.issue_token()
    CanvasOAuth2Token.objects.create(
        user=user,
        domain=WEST,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        scopes="url:GET|/api/v1/users/:id",
        expires="2000-01-01T00:00:00Z",
    )
    request = rf.get("/")
    request.user = user
    assert west.is_live(get_oauth_token(request, domain=WEST))
    assert west.calls["token:refresh_token"] == 1
    assert east.calls["token"] == 0


def test_a_domain_off_the_list_gets_an_error_and_nothing_leaves(browser, two_canvases):
    east, west = two_canvases
    use_domain(browser, "evil.example")
    response = browser.get("/canvas/")
    assert response.status_code == 400
    assert b"not set up to connect to the Canvas instance &quot;evil.example&quot;." in (
        response.content
    )
    response = browser.get("/oauth/authorize", {"domain": "evil.example", "next": "/"})
    assert response.status_code == 400
    assert east.calls.total() == west.calls.total() == 0


@pytest.mark.parametrize(
    "domain",
    [
        "evil<script>alert(1)<.example",  # a host to urlsplit: refused as not configured
        "<script>alert(1)</script>",  # not a host at all
    ],
)
def test_the_refused_domain_is_named_escaped(browser, two_canvases, domain):
    use_domain(browser, domain)
    response = browser.get("/canvas/")
    assert response.status_code == 400
    assert b"<script>" not in response.content
    assert b"the Canvas instance &quot;" in response.content
    assert escape(domain.lower()).encode() in response.content.lower()


def test_a_long_refused_domain_is_cut_short():
    error = UnknownCanvasInstanceError(domain="a" * 10_000 + ".example\n")
    assert len(error.domain) == 255
    assert "\n" not in error.message


def test_no_domain_at_all_asks_for_a_launch(browser, two_canvases):
    response = browser.get("/canvas/")
    assert response.status_code == 400
    assert b"launch it from Canvas" in response.content


def test_a_stored_token_for_a_removed_instance_is_not_sent_anywhere(rf, user, two_canvases):
    CanvasOAuth2Token.objects.create(
        user=user,
        domain="gone.example.edu",
        access_token="a",
        refresh_token="r",
        expires="2000-01-01T00:00:00Z",
    )
    request = rf.get("/")
    request.user = user
    with pytest.raises(UnknownCanvasInstanceError):
        get_oauth_token(request, domain="gone.example.edu")


def test_developer_key_in_the_database(browser, user, db):
    fake = FakeCanvas(
        base_url="https://canvas.north.edu",
        client_id="30000000000033",
        client_secret="north-" + "n" * 58,
    )
    CanvasDeveloperKey.objects.create(
        domain="https://Canvas.North.edu/",
        client_id="30000000000033",
        client_secret="north-" + "n" * 58,
    )
    with (
        override_settings(CANVAS_OAUTH_INSTANCE_RESOLVER="canvas_oauth.instances.session_domain"),
        mock_canvas(fake),
    ):
        use_domain(browser, "canvas.north.edu")
        assert connect(browser, fake)["Location"] == "/canvas/"
    assert CanvasOAuth2Token.objects.get(user=user).domain == "canvas.north.edu"
    CanvasDeveloperKey.objects.update(enabled=False)
    with pytest.raises(UnknownCanvasInstanceError):
        instances.get("canvas.north.edu")


def test_developer_key_secret_is_encrypted_and_write_only(admin_client, db):
    from django.db import connection

    admin_client.post(
        "/admin/canvas_oauth/canvasdeveloperkey/add/",
        {
            "domain": "canvas.north.edu",
            "client_id": "30000000000033",
            "client_secret": "north-secret-value",
            "scopes": "",
            "enabled": "on",
        },
    )
    key = CanvasDeveloperKey.objects.get()
    assert key.client_secret == "north-secret-value"
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM canvas_oauth_canvasdeveloperkey")
        assert "north-secret-value" not in cursor.fetchone()[0]
    page = admin_client.get(f"/admin/canvas_oauth/canvasdeveloperkey/{key.pk}/change/")
    assert b"north-secret-value" not in page.content
    admin_client.post(
        f"/admin/canvas_oauth/canvasdeveloperkey/{key.pk}/change/",
        {
            "domain": "canvas.north.edu",
            "client_id": "30000000000034",
            "client_secret": "",
            "scopes": "",
            "enabled": "on",
        },
    )
    key.refresh_from_db()
    assert (key.client_id, key.client_secret) == ("30000000000034", "north-secret-value")
    missing = admin_client.post(
        "/admin/canvas_oauth/canvasdeveloperkey/add/",
        {"domain": "canvas.south.edu", "client_id": "1", "client_secret": "", "enabled": "on"},
    )
    assert b"Enter the developer key" in missing.content
    bad = admin_client.post(
        "/admin/canvas_oauth/canvasdeveloperkey/add/",
        {"domain": "https://x.edu/path", "client_id": "1", "client_secret": "s", "enabled": "on"},
    )
    assert b"origin with no path" in bad.content


def test_lti_launch_resolver(rf, settings):
    settings.CANVAS_OAUTH_INSTANCES = TWO_INSTANCES["CANVAS_OAUTH_INSTANCES"]
    request = rf.get("/")
    request.session = {}
    request.lti_launch = {
        "iss": "https://canvas.instructure.com",
        instances.LTI_CUSTOM_CLAIM: {"canvas_api_domain": WEST},
    }
    assert instances.lti_launch_domain(request) == WEST
    request.lti_launch = {"iss": f"https://{EAST}"}
    assert instances.lti_launch_domain(request) == EAST
    request.lti_launch = {"iss": "https://canvas.instructure.com"}  # not on the list
    assert instances.lti_launch_domain(request) is None
    del request.lti_launch
    request.session = {instances.LTI_LAUNCH_SESSION_KEY: {"iss": f"https://{EAST}"}}
    assert instances.lti_launch_domain(request) == EAST
    request.session = {}
    assert instances.lti_launch_domain(request) is None


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ([EAST], "canvas_oauth.E016"),
        ({"https://x.edu/path": {"client_id": "1", "client_secret": "s"}}, "canvas_oauth.E016"),
        ({EAST: "10000000000011"}, "canvas_oauth.E016"),
        ({EAST: {"client_id": "abc", "client_secret": "s"}}, "canvas_oauth.E016"),
        ({EAST: {"client_id": "1"}}, "canvas_oauth.E016"),
        ({EAST: {"client_id": "1", "client_secret": "s", "scopes": "a b"}}, "canvas_oauth.E016"),
    ],
)
def test_bad_instances_mapping_is_reported(value, check_id):
    with override_settings(CANVAS_OAUTH_INSTANCES=value):
        assert [m.id for m in check_settings()] == [check_id]


def test_bad_resolver_is_reported(settings):
    settings.CANVAS_OAUTH_INSTANCE_RESOLVER = "nowhere.resolver"
    assert [m.id for m in check_settings()] == ["canvas_oauth.E017"]


def test_token_for_a_user_outside_a_request(user, fake_canvas):
    from tests.conftest import store_token

    with pytest.raises(MissingTokenError) as missing:
        get_token_for_user(user)
    assert missing.value.authorize_url == "/oauth/authorize?domain=canvas.example.edu"
    token = store_token(fake_canvas, user, expires_in=-5)
    fake_canvas.expire_access_tokens()
    access = get_token_for_user(user)
    assert access != token.access_token and fake_canvas.is_live(access)


def test_one_instance_in_the_mapping_is_the_default_for_a_row_made_without_a_domain(user, settings):
    # A row made by hand (or by code written for the original, which had no domain) gets
    # the default instance, the one the token service then looks in.
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = None
    settings.CANVAS_OAUTH_INSTANCES = {
        EAST: {"client_id": "10000000000011", "client_secret": SECRET_EAST}
    }
    token = CanvasOAuth2Token.objects.create(user=user, access_token="a", refresh_token="r")
    assert token.domain == EAST
    assert get_token_for_user(user) == "a"


def test_a_default_domain_that_is_no_host_is_no_default(browser, settings):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = "canvas.example.edu/login"  # check E004 says so
    response = browser.get("/canvas/")
    assert response.status_code == 400
    assert b"launch it from Canvas" in response.content


def test_a_single_instance_entry_that_is_no_host_is_no_default(browser, settings):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = None
    settings.CANVAS_OAUTH_INSTANCES = {  # check E016 says so
        "canvas.east.edu/login": {"client_id": "10000000000011", "client_secret": SECRET_EAST}
    }
    response = browser.get("/canvas/")
    assert response.status_code == 400
    assert b"launch it from Canvas" in response.content


def test_authorize_url_from_a_task_starts_the_right_dance(browser, user, fake_canvas):
    with pytest.raises(MissingTokenError) as missing:
        get_token_for_user(user)
    to_canvas = browser.get(missing.value.authorize_url)
    assert to_canvas["Location"].startswith("https://canvas.example.edu/login/oauth2/auth?")


@pytest.mark.django_db(transaction=True)
def test_aget_oauth_token_in_an_async_view(async_client, fake_canvas, django_user_model):
    from asgiref.sync import async_to_sync

    from tests.conftest import store_token

    user = django_user_model.objects.create_user("async", "a@x.edu", "pw")

    async def visit():
        await async_client.aforce_login(user)
        return await async_client.get("/async/canvas/")

    missing = async_to_sync(visit)()
    assert missing.status_code == 302
    token = store_token(fake_canvas, user, expires_in=-5)
    fake_canvas.expire_access_tokens()
    page = async_to_sync(visit)()
    assert page.status_code == 200
    assert fake_canvas.calls["token:refresh_token"] == 1
    assert CanvasOAuth2Token.objects.get(pk=token.pk).access_token in page.content.decode()


def test_silent_fallback_stays_on_the_instance_it_was_for(browser, two_canvases):
    _, west = two_canvases
    use_domain(browser, EAST)
    to_west = browser.get(f"/oauth/authorize?domain={WEST}&prompt=none&next=/canvas/")
    location = west.authorize(to_west["Location"])
    assert "error=interaction_required" in location
    again = browser.get(callback_path(location))
    assert again["Location"].startswith(west.base_url + "/login/oauth2/auth?")
    assert "prompt" not in parse_qs(urlsplit(again["Location"]).query)
