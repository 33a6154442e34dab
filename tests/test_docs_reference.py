"""The reference pages cannot fall behind the code: every setting, check id and error."""

import ast
import inspect
import re
from pathlib import Path

import pytest

from canvas_oauth import conf, exceptions
from tests.docs_examples import DOCS, python_blocks

CHECKS = Path(conf.__file__).with_name("checks.py").read_text()


def check_ids():
    ids = set(re.findall(r"canvas_oauth\.[EW]\d{3}", CHECKS))
    ids |= {f"canvas_oauth.E{int(n):03d}" for n in re.findall(r"_error\(\s*(\d+)", CHECKS)}
    # Ids handed to _error through a loop variable: `(8, "CANVAS_OAUTH_…", …)` tuples.
    ids |= {f"canvas_oauth.E{int(n):03d}" for n in re.findall(r"\((\d+), \"CANVAS_OAUTH_", CHECKS)}
    return ids


def test_every_setting_has_an_entry():
    page = (DOCS / "reference" / "settings.md").read_text()
    missing = [name for name in conf.DEFAULTS if f"## `{name}`" not in page]
    assert not missing


def test_every_check_id_is_listed():
    page = (DOCS / "reference" / "checks.md").read_text()
    ids = check_ids()
    assert len(ids) >= 27  # E001 to E024 and W001 to W003 today
    assert not [id_ for id_ in sorted(ids) if f"`{id_}`" not in page]


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
def test_every_python_example_parses(page):
    for block in python_blocks(page):
        ast.parse(block)


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
