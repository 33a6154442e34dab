"""``canvas_oauth_doctor``: every check, against the fake Canvas."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from canvas_oauth.models import CanvasDeveloperKey
from canvas_oauth.testing import FakeCanvas, LiveFakeCanvas, mock_canvas
from tests.conftest import made, store_token

pytestmark = pytest.mark.django_db


def doctor(*args, fails=False):
    """Run the command; return (report or text, stderr). ``fails``: expect exit status 1."""
    out, err = io.StringIO(), io.StringIO()
    if fails:
        with pytest.raises(CommandError) as raised:
            call_command("canvas_oauth_doctor", *args, stdout=out, stderr=err)
        assert raised.value.returncode == 1
    else:
        call_command("canvas_oauth_doctor", *args, stdout=out, stderr=err)
    text = out.getvalue()
    return (json.loads(text) if "--json" in args else text), err.getvalue()


def finding(report, check, domain=None):
    matches = [c for c in report["checks"] if c["check"] == check and c["domain"] == domain]
    assert len(matches) == 1, report
    return matches[0]


def assert_no_secret(settings, *outputs):
    for output in outputs:
        assert settings.CANVAS_OAUTH_CLIENT_SECRET not in json.dumps(output)


TOOL_CALLBACK = "https://tool.example.edu/oauth/oauth-callback"
LOCAL_CALLBACK = "http://localhost:8000/oauth/oauth-callback"
# The developer key of a deployment at tool.example.edu (and of its developer's machine).
TOOL_KEY = {"redirect_uris": [TOOL_CALLBACK, LOCAL_CALLBACK]}


@pytest.mark.parametrize("fake_canvas_options", [TOOL_KEY])
def test_a_healthy_deployment_passes(fake_canvas, settings):
    report, err = doctor("--json", "--base-url", "https://tool.example.edu")
    assert report["ok"] is True
    key = finding(report, "developer_key", "canvas.example.edu")
    assert key["status"] == "ok"
    assert key["details"] == {"http_status": 400, "error": "invalid_grant"}
    assert set(finding(report, "reachable", "canvas.example.edu")["details"]) == {"seconds"}
    assert finding(report, "https", "canvas.example.edu")["status"] == "ok"
    clock = finding(report, "clock", "canvas.example.edu")
    assert clock["status"] == "ok" and abs(clock["details"]["skew_seconds"]) <= 1
    assert finding(report, "redirect_uri")["details"] == {
        "redirect_uri": "https://tool.example.edu/oauth/oauth-callback",
        "source": "--base-url",
    }
    registered = finding(report, "redirect_uri_registered", "canvas.example.edu")
    assert registered["status"] == "ok"
    assert registered["details"] == {
        "redirect_uri": TOOL_CALLBACK,
        "http_status": 302,
        "error": "",
    }
    assert finding(report, "system_checks")["status"] == "ok"
    assert finding(report, "encryption_keys")["status"] == "ok"
    assert fake_canvas.calls["token:authorization_code"] == 1
    assert fake_canvas.calls["authorize"] == 1
    assert_no_secret(settings, report, err)


def test_the_json_report_has_the_documented_shape(fake_canvas):
    report, _ = doctor("--json")
    assert set(report) == {"ok", "checks"}
    for check in report["checks"]:
        assert set(check) == {"check", "domain", "status", "message", "details"}
        assert check["status"] in {"ok", "warning", "error", "skipped"}


@pytest.mark.parametrize("fake_canvas_options", [TOOL_KEY])
def test_text_output_says_each_check_and_the_verdict(fake_canvas, settings):
    text, err = doctor("--base-url", "https://tool.example.edu")
    assert "OK       canvas.example.edu developer_key: Canvas accepts client id" in text
    assert "WARNING  state_cache:" in text  # the tests' local-memory cache
    assert text.rstrip().endswith("All checks passed.")
    assert_no_secret(settings, text, err)


@pytest.mark.parametrize("fake_canvas_options", [{"client_secret": made("other secret")}])
def test_a_wrong_secret_fails_without_printing_it(fake_canvas, settings):
    report, err = doctor("--json", fails=True)
    key = finding(report, "developer_key", "canvas.example.edu")
    assert key["status"] == "error"
    assert "refused the client secret of client id 10000000000001" in key["message"]
    assert key["details"] == {"http_status": 401, "error": "invalid_client"}
    assert report["ok"] is False
    assert_no_secret(settings, report, err)
    assert made("other secret") not in json.dumps(report)


@pytest.mark.parametrize("fake_canvas_options", [{"client_id": "20000000000002"}])
def test_an_unknown_client_id_is_told_apart(fake_canvas):
    report, _ = doctor("--json", fails=True)
    key = finding(report, "developer_key", "canvas.example.edu")
    assert "does not know client id 10000000000001" in key["message"]


def test_canvas_down_fails_as_unreachable(fake_canvas, settings):
    fake_canvas.misbehave("token", "drop")
    report, err = doctor("--json", fails=True)
    reachable = finding(report, "reachable", "canvas.example.edu")
    assert reachable["status"] == "error"
    assert "did not answer within CANVAS_OAUTH_TIMEOUT" in reachable["message"]
    assert not [c for c in report["checks"] if c["check"] == "developer_key"]
    assert_no_secret(settings, report, err)


def test_an_answer_that_is_not_canvas_s_fails(fake_canvas):
    fake_canvas.misbehave("token", "unavailable")
    report, _ = doctor("--json", fails=True)
    key = finding(report, "developer_key", "canvas.example.edu")
    assert key["details"]["http_status"] == 503
    assert "neither 400 invalid_grant" in key["message"]


def test_plain_http_canvas_fails_and_is_not_sent_the_secret(settings, db):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = "http://canvas.example.edu"
    fake = FakeCanvas(
        base_url="http://canvas.example.edu",
        client_id=settings.CANVAS_OAUTH_CLIENT_ID,
        client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
    )
    with mock_canvas(fake):
        report, _ = doctor("--json", fails=True)
    https = finding(report, "https", "http://canvas.example.edu")
    assert https["status"] == "error"
    assert "clear text" in https["message"]
    assert fake.calls["token"] == 0


def test_a_loopback_canvas_over_http_is_fine(live_fake_canvas):
    report, _ = doctor("--json", "--domain", live_fake_canvas.base_url)
    domain = live_fake_canvas.base_url
    assert finding(report, "https", domain)["status"] == "ok"
    assert finding(report, "developer_key", domain)["status"] == "ok"
    assert finding(report, "clock", domain)["status"] == "ok"


def test_a_canvas_clock_two_minutes_ahead_fails(live_fake_canvas):
    live_fake_canvas.advance(120)
    report, _ = doctor("--json", fails=True)
    clock = finding(report, "clock", live_fake_canvas.base_url)
    assert clock["status"] == "error"
    assert 119 <= clock["details"]["skew_seconds"] <= 121
    assert "ahead of ours" in clock["message"]


def test_a_bad_developer_key_row_is_reported_not_raised(fake_canvas, settings):
    old = Fernet.generate_key().decode()
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [old]
    row = CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=made("west")
    )
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # old one lost
    report, err = doctor("--json", fails=True)
    key = finding(report, "developer_key", "canvas.west.edu")
    assert key["status"] == "error"
    assert f"pk={row.pk}" in key["message"] and "cannot be decrypted" in key["message"]
    rows = finding(report, "stored_rows")
    assert rows["details"]["developer_keys_undecryptable"] == 1
    assert rows["details"]["developer_key_pks"] == [row.pk]
    assert not [c for c in report["checks"] if c["domain"] == "canvas.west.edu"][1:]
    # The instance of the settings is still checked.
    assert finding(report, "developer_key", "canvas.example.edu")["status"] == "ok"
    assert made("west") not in json.dumps(report) + err


def test_a_developer_key_row_is_probed_with_its_own_key(fake_canvas):
    west = FakeCanvas(base_url="https://canvas.west.edu", client_id="30000000000003")
    CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=west.client_secret
    )
    with mock_canvas(west, fake_canvas):
        report, _ = doctor("--json", "--domain", "canvas.west.edu")
    assert finding(report, "developer_key", "canvas.west.edu")["status"] == "ok"
    assert [c["domain"] for c in report["checks"] if c["domain"]] == ["canvas.west.edu"] * 4
    assert fake_canvas.calls["token"] == 0


def test_stored_tokens_no_key_decrypts_are_counted(fake_canvas, settings, user, other_user):
    store_token(fake_canvas, user)
    settings.SECRET_KEY = "lost-the-old-key"  # derived keys change; no fallback
    store_token(fake_canvas, other_user)
    report, _ = doctor("--json", fails=True)
    rows = finding(report, "stored_rows")
    assert rows["status"] == "error"
    assert rows["details"]["tokens_sampled"] == 2
    assert rows["details"]["tokens_undecryptable"] == 1
    assert "1 of 2 sampled tokens" in rows["message"]


def test_unusable_encryption_keys_fail(fake_canvas, settings):
    settings.CANVAS_OAUTH_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    report, _ = doctor("--json", fails=True)
    assert finding(report, "encryption_keys")["status"] == "error"
    assert finding(report, "stored_rows")["status"] == "skipped"
    assert finding(report, "system_checks")["status"] == "error"  # E015


def test_a_failing_system_check_is_reported(fake_canvas, settings):
    settings.CANVAS_OAUTH_PURPOSE = 5
    report, _ = doctor("--json", fails=True)
    checks = finding(report, "system_checks")
    assert "canvas_oauth.E013" in checks["message"]


@pytest.mark.parametrize("fake_canvas_options", [TOOL_KEY])
@pytest.mark.parametrize(
    ("uri", "status"),
    [
        (TOOL_CALLBACK, "ok"),
        ("http://tool.example.edu/oauth/oauth-callback", "error"),
        (LOCAL_CALLBACK, "ok"),
    ],
)
def test_the_redirect_uri_setting_is_checked(fake_canvas, settings, uri, status):
    settings.CANVAS_OAUTH_REDIRECT_URI = uri
    report, _ = doctor("--json", fails=status == "error")
    assert finding(report, "redirect_uri")["status"] == status


def test_plain_http_on_loopback_passes_and_says_why(settings, fake_canvas):
    settings.CANVAS_OAUTH_REDIRECT_URI = "http://127.0.0.1:8000/oauth/oauth-callback"
    fake_canvas.client.redirect_uris.append(settings.CANVAS_OAUTH_REDIRECT_URI)
    report, _ = doctor("--json")
    message = finding(report, "redirect_uri")["message"]
    assert "plain http, accepted because the host is loopback" in message
    assert "any other host must use https" in message


def test_a_redirect_uri_the_key_does_not_list_fails_with_the_fix(fake_canvas, settings):
    # The fake's key lists http://testserver/oauth/oauth-callback only.
    text, err = doctor("--base-url", "https://tool.example.edu", fails=True)
    line = next(line for line in text.splitlines() if "redirect_uri_registered" in line)
    assert line.startswith("ERROR    canvas.example.edu redirect_uri_registered: ")
    assert f"Canvas refuses the redirect URI {TOOL_CALLBACK} for client id 10000000000001" in line
    assert '400 "redirect_uri does not match client settings"' in line
    assert f"Add {TOOL_CALLBACK} to the developer key's Redirect URIs" in line
    assert "All checks passed." not in text
    assert fake_canvas.calls["authorize"] == 1
    assert_no_secret(settings, text, err)


def test_the_redirect_uri_is_checked_against_a_live_fake_canvas(settings, db):
    fake = FakeCanvas(
        client_id=settings.CANVAS_OAUTH_CLIENT_ID,
        client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
        redirect_uris=[LOCAL_CALLBACK],
    )
    with LiveFakeCanvas(fake) as live:
        settings.CANVAS_OAUTH_CANVAS_DOMAIN = live.url
        report, _ = doctor("--json", "--base-url", "http://localhost:8000")
        assert finding(report, "redirect_uri_registered", live.url)["status"] == "ok"
        assert "plain http, accepted because" in finding(report, "https", live.url)["message"]
        report, _ = doctor("--json", "--base-url", "http://localhost:9000", fails=True)
    registered = finding(report, "redirect_uri_registered", live.url)
    assert registered["details"] == {
        "redirect_uri": "http://localhost:9000/oauth/oauth-callback",
        "http_status": 400,
        "error": "invalid_request",
    }


@pytest.mark.parametrize("fake_canvas_options", [{"client_id": "20000000000002"}])
def test_the_redirect_uri_is_not_asked_about_a_key_canvas_refuses(fake_canvas):
    report, _ = doctor("--json", "--base-url", "https://tool.example.edu", fails=True)
    assert not [c for c in report["checks"] if c["check"] == "redirect_uri_registered"]
    assert fake_canvas.calls["authorize"] == 0


@pytest.mark.parametrize("fake_canvas_options", [TOOL_KEY])
@pytest.mark.parametrize(
    ("mode", "status", "says"),
    [("unavailable", "warning", "neither a redirect"), ("drop", "warning", "Not checked")],
)
def test_an_authorize_endpoint_that_is_not_canvas_s_warns(fake_canvas, mode, status, says):
    fake_canvas.misbehave("authorize", mode)
    report, _ = doctor("--json", "--base-url", "https://tool.example.edu")
    registered = finding(report, "redirect_uri_registered", "canvas.example.edu")
    assert registered["status"] == status
    assert says in registered["message"]


def test_without_a_redirect_uri_or_base_url_it_is_skipped(fake_canvas):
    report, _ = doctor("--json")
    assert finding(report, "redirect_uri")["status"] == "skipped"


@pytest.mark.parametrize(
    ("alias", "status"),
    [("default", "warning"), ("db", "ok"), ("dummy", "error"), ("nope", "error")],
)
def test_the_popup_state_cache_must_be_shared(fake_canvas, settings, alias, status):
    settings.CACHES = {
        **settings.CACHES,
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    settings.CANVAS_OAUTH_STATE_CACHE = alias
    report, _ = doctor("--json", fails=status == "error")
    assert finding(report, "state_cache")["status"] == status


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--domain", "canvas.nowhere.edu"], "is not a configured Canvas instance"),
        (["--domain", "x:99999"], "is not a Canvas host or origin"),
        (["--base-url", "tool.example.edu"], "is not an origin"),
        (["--base-url", "https://[::1"], "is not an origin"),
        (["--sample", "-1"], "--sample must be 0 or more"),
    ],
)
def test_bad_arguments_get_a_clear_message(fake_canvas, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("canvas_oauth_doctor", *args, stdout=io.StringIO())


def test_sample_zero_reads_no_token_row(fake_canvas, user):
    store_token(fake_canvas, user)
    report, _ = doctor("--json", "--sample", "0")
    assert finding(report, "stored_rows")["details"]["tokens_sampled"] == 0


def test_a_missing_date_header_is_a_warning(fake_canvas, monkeypatch):
    answer = fake_canvas.handle

    def without_date(*args):
        response = answer(*args)
        response.headers.pop("Date")
        return response

    monkeypatch.setattr(fake_canvas, "handle", without_date)
    report, _ = doctor("--json")
    assert finding(report, "clock", "canvas.example.edu")["status"] == "warning"


def test_text_output_of_a_failure_ends_in_a_command_error(fake_canvas, settings):
    settings.CANVAS_OAUTH_REDIRECT_URI = "http://tool.example.edu/oauth/oauth-callback"
    with pytest.raises(CommandError, match=r"^1 check\(s\) failed\.$"):
        call_command("canvas_oauth_doctor", stdout=io.StringIO())


def test_no_instance_at_all_fails(settings, db):
    settings.CANVAS_OAUTH_CANVAS_DOMAIN = None
    report, _ = doctor("--json", fails=True)
    assert "No Canvas instance is configured" in finding(report, "instances")["message"]


def test_an_ill_formed_instances_setting_is_left_to_the_system_checks(fake_canvas, settings):
    settings.CANVAS_OAUTH_INSTANCES = {"canvas.east.edu": {"client_secret": made("east")}}
    report, _ = doctor("--json", fails=True)
    assert "canvas_oauth.E016" in finding(report, "system_checks")["message"]
    assert made("east") not in json.dumps(report)


def test_a_developer_key_row_with_a_broken_domain_is_reported(fake_canvas):
    row = CanvasDeveloperKey.objects.create(
        domain="canvas.west.edu", client_id="30000000000003", client_secret=made("west")
    )
    CanvasDeveloperKey.objects.filter(pk=row.pk).update(domain="canvas.west.edu/path")
    report, _ = doctor("--json", fails=True)
    key = finding(report, "developer_key", "canvas.west.edu/path")
    assert "its domain is not a Canvas host or origin" in key["message"]


@pytest.mark.parametrize("uri", ["/oauth/oauth-callback", "https://[::1/oauth/oauth-callback"])
def test_a_relative_redirect_uri_fails(fake_canvas, settings, uri):
    # The unclosed bracket passes check E012 (it starts with https://): a traceback before.
    settings.CANVAS_OAUTH_REDIRECT_URI = uri
    report, _ = doctor("--json", fails=True)
    assert "is not an absolute URL" in finding(report, "redirect_uri")["message"]


@pytest.mark.parametrize("status", [400, 401, 200])
def test_a_host_echoing_the_request_never_shows_the_secret(settings, db, status):
    import responses

    def echo(request):
        sent = request.body if isinstance(request.body, str) else request.body.decode()
        return status, {}, json.dumps({"error": sent, "error_description": sent})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, "https://canvas.example.edu/login/oauth2/token", echo)
        report, err = doctor("--json", fails=True)
        text, err_text = doctor(fails=True)
    key = finding(report, "developer_key", "canvas.example.edu")
    assert key["status"] == "error" and key["details"]["error"] == "other"
    assert "answered" in key["message"] and "other" in key["message"]
    assert_no_secret(settings, report, err, text, err_text)
