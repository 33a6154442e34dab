"""Read the fenced ``python`` blocks of the documentation, so tests can run them."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

_FENCE = re.compile(r"^( *)```python\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)


def python_blocks(page: str) -> list[str]:
    """Return the python blocks of ``docs/<page>``, dedented as a file would hold them."""
    text = (DOCS / page).read_text()
    blocks = []
    for indent, body in _FENCE.findall(text):
        lines = body.splitlines()
        blocks.append("\n".join(line[len(indent) :] for line in lines) + "\n")
    return blocks


def python_block(page: str, first_line: str) -> str:
    """Return the one python block of ``docs/<page>`` that starts with ``first_line``."""
    found = [b for b in python_blocks(page) if b.startswith(first_line)]
    assert len(found) == 1, f"{page}: {len(found)} python blocks start with {first_line!r}"
    return found[0]


def run_block(page: str, first_line: str, namespace: dict) -> None:
    """Execute a block into ``namespace``, with tracebacks naming the docs page."""
    source = python_block(page, first_line)
    exec(compile(source, str(DOCS / page), "exec"), namespace)
