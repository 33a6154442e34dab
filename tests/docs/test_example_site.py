"""The example site and ``make demo``'s runner, without servers or a browser.

The site's settings are never loaded into this process (the suite runs on
``tests.settings``): ``manage.py`` runs in a subprocess against a temporary database.
"""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from canvas_oauth.testing.provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

EXAMPLE = Path(__file__).resolve().parents[2] / "example"
CANVAS_VARS = ("CANVAS_OAUTH_CLIENT_ID", "CANVAS_OAUTH_CLIENT_SECRET", "CANVAS_OAUTH_CANVAS_DOMAIN")


def load(name, path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


run_demo = load("canvas_oauth_example_run_demo", EXAMPLE / "run_demo.py")

REAL = {
    "CANVAS_OAUTH_CLIENT_ID": "170000000000042",
    "CANVAS_OAUTH_CLIENT_SECRET": "real-secret",
    "CANVAS_OAUTH_CANVAS_DOMAIN": "canvas.example.edu",
}


def manage(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVAS_OAUTH_")}
    env.update(DJANGO_SETTINGS_MODULE="demo_site.settings", DEMO_DATABASE=str(tmp_path / "db"))
    return subprocess.run(
        run_demo.manage(*args), env=env, capture_output=True, text=True, timeout=60
    )


def test_site_passes_checks_and_migrates(tmp_path):
    check = manage(tmp_path, "check", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr
    migrate = manage(tmp_path, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    assert "canvas_oauth" in migrate.stdout
    user = manage(tmp_path, "demo_user", "demo", "pw")
    assert user.stdout.strip() == "Created user 'demo'", user.stderr


def test_fake_canvas_by_default():
    config = run_demo.demo_config({})
    assert config.fake
    assert config.canvas_domain == "http://127.0.0.1:8001"
    # The fake's developer key lists the demo site's callback, and nothing else.
    assert config.callback_url == "http://127.0.0.1:8000/oauth/oauth-callback"
    assert (config.client_id, config.client_secret) == (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert config.site_url == "http://127.0.0.1:8000/"


def test_real_canvas_when_all_three_settings_are_set():
    config = run_demo.demo_config(REAL)
    assert not config.fake
    assert config.client_id == REAL["CANVAS_OAUTH_CLIENT_ID"]
    assert config.client_secret == REAL["CANVAS_OAUTH_CLIENT_SECRET"]
    assert config.canvas_domain == "canvas.example.edu"
    assert run_demo.partially_set(REAL) == []


@pytest.mark.parametrize("missing", CANVAS_VARS)
def test_fake_canvas_unless_all_three_are_set(missing):
    environ = {**REAL, missing: " "}
    config = run_demo.demo_config(environ)
    assert config.fake
    assert config.client_id == DEFAULT_CLIENT_ID
    assert missing not in run_demo.partially_set(environ)
    assert len(run_demo.partially_set(environ)) == 2


def test_ports_come_from_the_environment():
    config = run_demo.demo_config({"DEMO_SITE_PORT": "9000", "DEMO_CANVAS_PORT": "9001"})
    assert config.site_url == "http://127.0.0.1:9000/"
    assert config.canvas_domain == "http://127.0.0.1:9001"


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1"])
def test_bad_port_stops_the_demo(value):
    with pytest.raises(SystemExit, match="DEMO_SITE_PORT"):
        run_demo.demo_config({"DEMO_SITE_PORT": value})


def test_site_environment_carries_the_canvas_settings():
    config = run_demo.demo_config({})
    shell = {"PATH": "/bin", "DJANGO_SETTINGS_MODULE": "tests.settings", **REAL}
    env = run_demo.site_environ(config, shell)
    assert env["PATH"] == "/bin"
    assert env["DJANGO_SETTINGS_MODULE"] == "demo_site.settings"
    assert env["CANVAS_OAUTH_CANVAS_DOMAIN"] == config.canvas_domain
    assert env["CANVAS_OAUTH_CLIENT_SECRET"] == DEFAULT_CLIENT_SECRET


def test_settings_defaults_match_the_fake_canvas(monkeypatch):
    for name in CANVAS_VARS:
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location(
        "canvas_oauth_example_settings", EXAMPLE / "demo_site" / "settings.py"
    )
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    assert settings.CANVAS_OAUTH_CLIENT_ID == DEFAULT_CLIENT_ID
    assert settings.CANVAS_OAUTH_CLIENT_SECRET == DEFAULT_CLIENT_SECRET
    fake_domain = run_demo.demo_config({}).canvas_domain
    assert fake_domain == settings.CANVAS_OAUTH_CANVAS_DOMAIN


def test_a_busy_site_port_is_reported():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not run_demo.port_is_free(listener.getsockname()[1])
