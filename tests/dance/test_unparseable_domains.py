"""A Canvas domain that is not a host or an origin gets a 400, never a 500."""

import pytest
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import path
from django.utils.html import escape

from canvas_oauth import conf, instances
from canvas_oauth.api import CanvasSession
from canvas_oauth.exceptions import MAX_DOMAIN_SHOWN, UnknownCanvasInstanceError, bounded_text
from canvas_oauth.models import CanvasDeveloperKey
from canvas_oauth.oauth import get_oauth_token
from canvas_oauth.tokens import get_token_for_user
from tests.urls import urlpatterns as site_urlpatterns

UNPARSEABLE = [
    "x:99999",
    "ftp://x",
    "[::1",
    "a@b",
    "h/path",
    "javascript:alert(1)",
    # PostgreSQL refuses a NUL in a query (DataError); urlsplit drops a tab or newline.
    "a\x00b",
    "canvas.example.edu\x00",
    "canvas.example\t.edu",
    "canvas.example.edu\n.evil",
    "a\x7fb",
    # C1 controls and Unicode line separators: new lines to str.splitlines and log readers.
    "a\x85b",
    "canvas.example.edu\u2028evil",
    "a\u2029b",
]


def named_domain_page(request):
    return HttpResponse(get_oauth_token(request, domain=request.GET["domain"]))


urlpatterns = [path("named/", named_domain_page), *site_urlpatterns]


def assert_refused(response, fake, domain):
    assert response.status_code == 400
    shown = escape(bounded_text(domain, MAX_DOMAIN_SHOWN))  # control characters as spaces
    named = f"not set up to connect to the Canvas instance &quot;{shown}&quot;."
    assert named.encode() in response.content
    assert fake.calls.total() == 0


@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_authorize_view(browser, fake_canvas, domain):
    assert_refused(
        browser.get("/oauth/authorize", {"domain": domain, "next": "/"}), fake_canvas, domain
    )
    popup = browser.get("/oauth/authorize", {"domain": domain, "popup": "1"})
    assert_refused(popup, fake_canvas, domain)
    silent = browser.get("/oauth/authorize", {"domain": domain, "prompt": "none"})
    assert_refused(silent, fake_canvas, domain)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_get_oauth_token_through_the_middleware(browser, fake_canvas, domain):
    assert_refused(browser.get("/named/", {"domain": domain}), fake_canvas, domain)


@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_session_resolver(browser, fake_canvas, settings, domain):
    settings.CANVAS_OAUTH_INSTANCE_RESOLVER = "canvas_oauth.instances.session_domain"
    session = browser.session
    session[instances.SESSION_KEY] = domain
    session.save()
    assert_refused(browser.get("/canvas/"), fake_canvas, domain)


@pytest.mark.parametrize(
    "claims",
    [{instances.LTI_CUSTOM_CLAIM: {"canvas_api_domain": value}} for value in UNPARSEABLE]
    + [{"iss": "https://[::1"}],
)
def test_lti_launch_resolver(browser, fake_canvas, settings, claims):
    settings.CANVAS_OAUTH_INSTANCE_RESOLVER = "canvas_oauth.instances.lti_launch_domain"
    session = browser.session
    session[instances.LTI_LAUNCH_SESSION_KEY] = claims
    session.save()
    response = browser.get("/canvas/")
    if "iss" in claims:  # an issuer that is not a host is ignored: the default applies
        assert response.status_code == 302
    else:
        assert_refused(
            response, fake_canvas, claims[instances.LTI_CUSTOM_CLAIM]["canvas_api_domain"]
        )


@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_token_service_outside_a_request(user, fake_canvas, domain):
    with pytest.raises(UnknownCanvasInstanceError):
        get_token_for_user(user, domain=domain)
    assert fake_canvas.calls.total() == 0


@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_api_session(user, fake_canvas, domain):
    with pytest.raises(UnknownCanvasInstanceError):
        CanvasSession.for_user(user, domain)
    assert fake_canvas.calls.total() == 0


@pytest.mark.parametrize("domain", UNPARSEABLE)
def test_developer_key_form(db, domain):
    key = CanvasDeveloperKey(domain=domain, client_id="1", client_secret="s")
    with pytest.raises(ValidationError):
        key.full_clean()


@pytest.mark.parametrize("domain", ["a\x85b", "canvas.example.edu\u2028x", "a\u2029b", "a\x9bb"])
def test_c1_controls_and_line_separators_are_no_host(domain):
    with pytest.raises(ValueError):
        conf.domain_key(domain)
    shown = bounded_text(domain)  # on one line: the character is a space there
    assert len(shown) == len(domain) and shown.isprintable()
