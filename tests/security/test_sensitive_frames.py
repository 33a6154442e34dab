"""Every function of the app that holds a code, a state, a verifier, a token or a secret
in a variable hides it from error reports (``sensitive_variables``).

Django's reports (the DEBUG page, the HTML admin e-mail) show each frame's variables. The
names below are the ones this app gives such values; the source is read with ``ast``, so a
new function holding one is caught without a crash to show it. The fake Canvas
(``canvas_oauth.testing``) is a test double and is not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import canvas_oauth

PACKAGE = Path(canvas_oauth.__file__).parent

SECRET_NAMES = frozenset(
    {
        "code",
        "state",
        "state_value",
        "verifier",
        "code_verifier",
        "access_token",
        "refresh_token",
        "client_secret",
        "secret",
        "plaintext",
        "answer",
        "stashed",
        "body",  # Canvas's token response
        "seen",  # the access token a refresh started from
    }
)


def held_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Return the parameters and the variables ``function`` itself assigns."""
    args = function.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def hidden_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str] | None:
    """Return the names ``sensitive_variables`` hides (None: all of them)."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if ast.unparse(target).endswith("sensitive_variables"):
            if call is None or not call.args:
                return None
            return {arg.value for arg in call.args if isinstance(arg, ast.Constant)}
    return set()


def exposed() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            hidden = hidden_names(node)
            if hidden is None:
                continue
            shown = sorted((held_names(node) & SECRET_NAMES) - hidden)
            if shown:
                where = path.relative_to(PACKAGE.parent)
                found.append(f"{where}:{node.lineno} {node.name}() shows {', '.join(shown)}")
    return found


def test_no_function_shows_a_secret_to_error_reports():
    assert exposed() == []
