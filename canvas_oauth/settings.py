"""Old-style access: ``from canvas_oauth import settings; settings.CANVAS_OAUTH_SCOPES``.

Values are looked up on every access through ``canvas_oauth.conf``.
"""

from typing import Any

from canvas_oauth import conf


def __getattr__(name: str) -> Any:
    return conf.get(name)


def __dir__() -> list[str]:
    return sorted(conf.DEFAULTS)
