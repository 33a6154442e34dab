"""The small HTML pages the fake Canvas shows to a browser."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from .records import FakeUser

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 32rem; margin: 4rem auto; color: #2d3b45; }}
form {{ display: inline; }}
button {{ font-size: 1rem; padding: .5rem 1rem; margin-right: .5rem; }}
#authorize {{ background: #0374b5; color: #fff; border: 0; }}
</style></head>
<body>
<p><strong>Fake Canvas</strong></p>
{content}
</body>
</html>
"""


def page(title: str, content: str) -> str:
    """Wrap ``content`` (already escaped HTML) in a standalone page."""
    return _PAGE.format(title=escape(title), content=content)


def consent_page(
    *, app_name: str, purpose: str, user_name: str, scopes: Iterable[str], csrf_token: str
) -> str:
    """Render the consent page: Authorize POSTs to accept, Cancel is a link to deny."""
    token = escape(csrf_token)
    scope_items = "".join(f"<li><code>{escape(scope)}</code></li>" for scope in scopes)
    scope_list = f'<ul id="scopes">{scope_items}</ul>' if scope_items else ""
    content = f"""<h1>{escape(app_name)} is requesting access to your account.</h1>
<p id="purpose">{escape(purpose)}</p>
<p>You are logged in as <span id="user">{escape(user_name)}</span>.</p>
{scope_list}
<form method="post" action="/login/oauth2/accept">
<input type="hidden" name="custom_csrf_token" value="{token}">
<button type="submit" id="authorize">Authorize</button>
</form>
<a href="/login/oauth2/deny" id="cancel">Cancel</a>"""
    return page("Authorize " + app_name, content)


def oob_page(params: dict[str, str]) -> str:
    """Render the landing page of the out-of-band flow, which shows the code or error."""
    rows = "".join(
        f'<dt>{escape(name)}</dt><dd id="{escape(name)}">{escape(value)}</dd>'
        for name, value in sorted(params.items())
        if name in {"code", "error", "error_description", "state"}
    )
    return page("Authorization", f"<h1>Authorization</h1><dl>{rows}</dl>")


def login_page(users: Iterable[FakeUser]) -> str:
    """Render the login page: a button per user, since the fake asks for no password."""
    buttons = "".join(
        f'<form method="post" action="/login">'
        f'<input type="hidden" name="user_id" value="{user.id}">'
        f'<button type="submit" id="login-{user.id}">Log in as {escape(user.name)}</button>'
        f"</form>"
        for user in users
    )
    return page("Log In to Canvas", f'<h1 id="login">Log In to Canvas</h1>{buttons}')


def logged_in_page(user_name: str) -> str:
    """Render what a login with no authorization pending ends on."""
    return page("Dashboard", f'<h1 id="dashboard">Logged in as {escape(user_name)}</h1>')


def error_page(status: int, title: str) -> str:
    """Render a server error page, as a proxy or a failing Canvas would."""
    return page(title, f"<h1>{status} {escape(title)}</h1>")
