"""The reference pages cannot fall behind the code: every setting, check id and error."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from canvas_oauth import conf, exceptions
from canvas_oauth.testing import FakeCanvas, errors
from canvas_oauth.testing.server import build_parser
from tests.docs_examples import DOCS, python_blocks

CHECKS = Path(conf.__file__).with_name("checks.py").read_text()


def check_ids():
    # Each id is written out in full where it is raised, so that grep finds it there.
    assert not re.search(r"canvas_oauth\.[EW]\{|_error\(\s*\d", CHECKS), "an id built, not written"
    return set(re.findall(r"canvas_oauth\.[EW]\d{3}", CHECKS))


def test_every_setting_has_an_entry():
    page = (DOCS / "reference" / "settings.md").read_text()
    missing = [name for name in conf.DEFAULTS if f"## `{name}`" not in page]
    assert not missing


def test_every_check_id_is_listed():
    page = (DOCS / "reference" / "checks.md").read_text()
    ids = check_ids()
    assert len(ids) >= 30  # E001 to E024, W001 to W005 and W010 today
    assert not [id_ for id_ in sorted(ids) if f"`{id_}`" not in page]


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
def test_every_python_example_parses(page):
    for block in python_blocks(page):
        ast.parse(block)


def test_the_domain_forms_table_says_what_conf_does():
    page = (DOCS / "howto" / "several-instances.md").read_text()
    rows = re.findall(r"^\| `([^`]+)`[^|]*\| `([^`]+)` \| `([^`]+)` \|$", page, re.MULTILINE)
    assert len(rows) == 4
    for written, reached, stored in rows:
        assert conf.base_url(written) == reached
        assert conf.domain_key(written) == stored
    for refused in ["canvas.example.edu/login", "a@b", "x:99999", "ftp://x", "h?q=1"]:
        with pytest.raises(ValueError):
            conf.domain_key(refused)


def test_troubleshooting_covers_every_exception_and_check_id():
    page = (DOCS / "troubleshooting.md").read_text()
    names = [
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, exceptions.CanvasOAuthError)
    ]
    assert len(names) >= 16
    assert not [name for name in names if f"### `{name}`" not in page]
    assert not [id_ for id_ in sorted(check_ids()) if f"`{id_}`" not in page]


def test_troubleshooting_gives_each_exception_its_status_and_code():
    page = (DOCS / "troubleshooting.md").read_text()
    headings = re.findall(r"^### `(\w+)` \((\d+), `(\w+)`\)$", page, re.MULTILINE)
    assert len(headings) >= 16
    for name, status, code in headings:
        error = getattr(exceptions, name)
        assert (error.status_code, error.code) == (int(status), code), name


def test_troubleshooting_quotes_canvas_as_the_spec_and_the_fake_do():
    page = " ".join((DOCS / "troubleshooting.md").read_text().split())  # lines wrap
    fake = FakeCanvas()
    mismatch = fake.handle("GET", "/login/oauth2/auth?client_id=10000000000001", {})
    unknown = fake.handle("GET", "/login/oauth2/auth?client_id=1", {})
    for answer in (mismatch, unknown):
        assert answer.body.decode() in page
    assert errors.insufficient_scopes().body.decode() in page
    assert errors.INVALID_SCOPE.strip() in page
    assert errors.UNAUTHORIZED_CLIENT in page
    assert errors.RATE_LIMITED.strip() in page


def test_the_command_line_page_lists_every_option():
    page = (DOCS / "reference" / "fake-canvas-server.md").read_text()
    options = [o for action in build_parser()._actions for o in action.option_strings]
    assert len(options) >= 15
    assert not [option for option in options if f"`{option}" not in page]


def error_classes():
    """Every error, in the order the module defines them."""
    return [
        cls
        for cls in vars(exceptions).values()
        if inspect.isclass(cls) and issubclass(cls, exceptions.CanvasOAuthError)
    ]


def error_tree():
    """Draw the error tree; a class with two bases appears under each, naming the other."""
    classes, lines = error_classes(), []

    def draw(cls, parent, prefix, last):
        label = f"{cls.__name__} ({cls.status_code}, {cls.code})"
        others = [base.__name__ for base in cls.__bases__ if base not in (parent, Exception)]
        if parent is not None and others:
            label += f", also under {', '.join(others)}"
        lines.append(f"{prefix}{'└── ' if last else '├── '}{label}" if parent else label)
        children = [child for child in classes if cls in child.__bases__]
        inner = prefix + ("    " if last else "│   ") if parent else ""
        for i, child in enumerate(children):
            draw(child, cls, inner, i == len(children) - 1)

    draw(exceptions.CanvasOAuthError, None, "", True)
    return "\n".join(lines)


def test_the_error_tree_is_the_codes():
    page = (DOCS / "reference" / "errors.md").read_text()
    assert f"```text\n{error_tree()}\n```" in page


def test_every_error_has_its_row():
    page = (DOCS / "reference" / "errors.md").read_text()
    for cls in error_classes():
        bases = ", ".join(f"`{base.__name__}`" for base in cls.__bases__)
        assert f"| `{cls.__name__}` | {bases} | {cls.status_code} | `{cls.code}` |" in page
