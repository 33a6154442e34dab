"""The reference's Public API page and each module's ``__all__`` say the same thing."""

import importlib
import pkgutil
import re

import pytest

import canvas_oauth
from tests.docs_examples import DOCS

PAGE = "reference/public-api.md"
_ROW = re.compile(r"^\| `(canvas_oauth[\w.]*)` \| ([^|]*) \|", re.MULTILINE)

# What projects written for the original app (1.x) import, or patch in their tests: its
# README's names and those the upgrade notes promise (tests/compat/ runs such projects).
ORIGINAL = {
    "canvas_oauth.oauth": [
        "get_oauth_token",
        "refresh_oauth_token",
        "handle_missing_token",
        "oauth_callback",
        "render_oauth_error",
    ],
    "canvas_oauth.middleware": ["OAuthMiddleware", "handle_missing_token", "render_oauth_error"],
    "canvas_oauth.canvas": [
        "get_oauth_login_url",
        "get_access_token",
        "AUTHORIZE_URL_PATTERN",
        "ACCESS_TOKEN_URL_PATTERN",
    ],
    "canvas_oauth.exceptions": [
        "CanvasOAuthError",
        "MissingTokenError",
        "InvalidOAuthStateError",
        "InvalidOAuthReturnError",
    ],
    "canvas_oauth.models": ["CanvasOAuth2Token"],
    "canvas_oauth.settings": ["get_required_setting"],
    "canvas_oauth.urls": ["urlpatterns"],
}


def public_names():
    """Return the page's table: each public module with the names it lists."""
    rows = _ROW.findall((DOCS / PAGE).read_text())
    return {module: re.findall(r"`(\w+)`", names) for module, names in rows}


def package_modules():
    """Return the name of every module of the package, migrations left out."""
    found = pkgutil.walk_packages(canvas_oauth.__path__, "canvas_oauth.")
    return sorted(info.name for info in found if ".migrations" not in info.name)


PUBLIC = public_names()


def test_the_page_lists_the_original_apps_modules_and_the_new_ones():
    assert set(ORIGINAL) | {"canvas_oauth.api", "canvas_oauth.tokens", "canvas_oauth.testing"} <= (
        set(PUBLIC)
    )
    assert set(PUBLIC) <= set(package_modules())


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_a_public_modules_all_is_what_the_page_lists(module):
    exported = importlib.import_module(module).__all__
    assert len(set(exported)) == len(exported)
    assert sorted(exported) == sorted(PUBLIC[module])


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_import_star_gives_exactly_the_public_names(module):
    namespace = {}
    exec(f"from {module} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(PUBLIC[module])


def test_no_internal_module_has_an_all():
    """``__all__`` means public: a module the page leaves out declares none."""
    internal = [name for name in package_modules() if name not in PUBLIC]
    assert "canvas_oauth.conf" in internal
    declaring = [name for name in internal if hasattr(importlib.import_module(name), "__all__")]
    assert not declaring


@pytest.mark.parametrize("module", sorted(ORIGINAL))
def test_the_original_apps_names_are_public(module):
    assert set(ORIGINAL[module]) <= set(importlib.import_module(module).__all__)
