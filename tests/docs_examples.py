"""Read the fenced ``python`` blocks of the documentation, so tests can run them.

Every python block in ``docs/`` is run by some test: a test names it with ``run_block`` or
``python_block`` (a page and a text only that block holds, usually its first line), and
``tests/docs/test_docs_examples.py`` fails for a block that no test names. A block that is not
Python to run is marked in the Markdown, on the line before its fence (blank lines allowed)::

    <!-- not run: the reason -->
"""

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

_FENCE = re.compile(r"^( *)```python\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
_NOT_RUN = re.compile(r"<!--\s*not run:\s*((?:(?!-->).)*?)\s*-->\s*\Z", re.DOTALL)

# (page, index of the block on the page) of the blocks run so far in this session.
EXECUTED: set[tuple[str, int]] = set()


@dataclass(frozen=True)
class Block:
    page: str
    index: int
    line: int  # of the opening fence, counted from 1
    source: str
    not_run: str | None  # the reason given by a `<!-- not run: … -->` marker


def pages() -> list[str]:
    """Return the Markdown pages of ``docs/`` (not its build output), relative to it."""
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def blocks(page: str) -> list[Block]:
    """Return the python blocks of ``docs/<page>``, dedented as a file would hold them."""
    text = (DOCS / page).read_text()
    found = []
    for index, match in enumerate(_FENCE.finditer(text)):
        indent, body = match.groups()
        source = "\n".join(line[len(indent) :] for line in body.splitlines()) + "\n"
        marker = _NOT_RUN.search(text[: match.start()].rstrip() + "\n")
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, index, line, source, marker[1] if marker else None))
    return found


def python_blocks(page: str) -> list[str]:
    """Return the sources of the python blocks of ``docs/<page>``."""
    return [block.source for block in blocks(page)]


def find_block(page: str, key: str) -> Block:
    """Return the one python block of ``docs/<page>`` that holds ``key``."""
    found = [b for b in blocks(page) if key in b.source]
    assert len(found) == 1, f"{page}: {len(found)} python blocks hold {key!r}"
    return found[0]


def python_block(page: str, key: str) -> str:
    """Return the source of the one python block of ``docs/<page>`` that holds ``key``."""
    return find_block(page, key).source


def run_block(page: str, key: str, namespace: dict) -> None:
    """Execute a block into ``namespace``, with tracebacks naming the docs page."""
    block = find_block(page, key)
    # Line numbers in tracebacks are the page's: pad the source down to the fence.
    source = "\n" * block.line + block.source
    exec(compile(source, str(DOCS / page), "exec"), namespace)
    EXECUTED.add((page, block.index))
