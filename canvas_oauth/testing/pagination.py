"""Canvas's list pagination: ``page``, ``per_page`` and the ``Link`` header (spec §8.1).

Read from ``lib/api.rb`` (``per_page_for``, ``paginate_collection!``,
``build_links_hash``): ``per_page`` defaults to 10 and is clamped to 1..max; the links
repeat the request's query minus ``page``, ``per_page``, ``access_token`` and ``api_key``,
and come in the order current, next, prev, first, last. Numbered lists answer a page past
the end with ``[]`` (Canvas keeps that for old clients); bookmarked lists, like the page
views, name their pages ``first`` and ``bookmark:<opaque>`` and have no ``prev`` or ``last``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

PER_PAGE = 10
MAX_PER_PAGE = 100  # Api::MAX_PER_PAGE in current Canvas; older versions read a Setting of 50
_EXCLUDED = frozenset({"page", "per_page", "access_token", "api_key"})
_LINK_ORDER = ("current", "next", "prev", "first", "last")
_RUBY_INT = re.compile(r"\s*([-+]?\d+)")


class PageNotFound(Exception):
    """The ``page`` parameter names no page; Canvas answers 404."""


@dataclass
class Page:
    """One page of a list: its items and the ``Link`` header that goes with them."""

    items: list[object]
    link: str


def ruby_to_i(value: str) -> int:
    """Read an integer the way Ruby's ``String#to_i`` does: leading digits, else 0."""
    match = _RUBY_INT.match(value)
    return int(match.group(1)) if match else 0


def per_page(query: dict[str, str], maximum: int = MAX_PER_PAGE) -> int:
    """Return the page size asked for, clamped to 1..``maximum``; blank counts as 0."""
    if "per_page" not in query:
        return min(PER_PAGE, maximum)
    return min(max(ruby_to_i(query["per_page"]), 1), maximum)


def numbered_page(
    items: Sequence[object], url: str, query: dict[str, str], maximum: int = MAX_PER_PAGE
) -> Page:
    """Cut ``items`` into numbered pages and return the one ``query`` asks for."""
    size = per_page(query, maximum)
    number = 1
    if "page" in query:
        number = ruby_to_i(query["page"])
        if number < 1:
            raise PageNotFound(query["page"])
    last = max(1, math.ceil(len(items) / size))
    links: dict[str, object] = {"current": number}
    if number < last:
        links["next"] = number + 1
    if number > 1:
        links["prev"] = number - 1
    links["first"] = 1
    if number <= last:
        # A page past the end is made up on the spot, without a count, so it has no last.
        links["last"] = last
    start = (number - 1) * size
    return Page(list(items[start : start + size]), _link_header(url, query, links, size))


def bookmarked_page(
    items: Sequence[object], url: str, query: dict[str, str], maximum: int = MAX_PER_PAGE
) -> Page:
    """Return the page of ``items`` a ``first`` or ``bookmark:`` page parameter points at."""
    size = per_page(query, maximum)
    page = query.get("page", "first")
    start = 0 if page == "first" else _read_bookmark(page)
    links: dict[str, object] = {"current": page}
    if start + size < len(items):
        links["next"] = _bookmark(start + size)
    links["first"] = "first"
    return Page(list(items[start : start + size]), _link_header(url, query, links, size))


def _bookmark(position: int) -> str:
    """Write an opaque bookmark: unpadded base64url JSON, like Canvas's ``bookmark:WzEwXQ``."""
    encoded = base64.urlsafe_b64encode(json.dumps([position]).encode()).rstrip(b"=")
    return "bookmark:" + encoded.decode("ascii")


def _read_bookmark(page: str) -> int:
    """Read back a bookmark this module wrote, or refuse the page."""
    prefix, _, encoded = page.partition(":")
    try:
        if prefix != "bookmark":
            raise ValueError(page)
        decoded = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        (position,) = decoded
        if not isinstance(position, int) or position < 0:
            raise ValueError(page)
    except (ValueError, TypeError, binascii.Error) as error:
        raise PageNotFound(page) from error
    return position


def _link_header(url: str, query: dict[str, str], links: dict[str, object], size: int) -> str:
    """Build the ``Link`` header: Rails' sorted ``to_query`` of the kept parameters first."""
    kept = urlencode(sorted((k, v) for k, v in query.items() if k not in _EXCLUDED))
    base = url + "?" + (kept + "&" if kept else "")
    return ",".join(
        f'<{base}page={links[rel]}&per_page={size}>; rel="{rel}"'
        for rel in _LINK_ORDER
        if rel in links
    )
