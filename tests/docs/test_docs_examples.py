"""Every python block in ``docs/`` is run by a test, or marked as not Python to run.

A test names the block it runs with ``run_block(page, key, …)`` (or a helper that passes
them on), the page and key as string literals or module-level constants such as ``PAGE``.
This test reads those calls from the test modules, so a new example without a test fails
here whichever tests a run selects.
"""

import ast
from pathlib import Path

import pytest

from tests.docs_examples import _NOT_RUN, blocks, find_block, pages

TESTS = Path(__file__).parents[1]


def _string(node, constants):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def named_blocks():
    """Return {(page, index): [test module, …]} for the blocks the tests name.

    A block is named by a call, or a tuple (a parametrize case), whose first two items are
    a docs page and a string: ``run_block(PAGE, "key", …)``, a helper of the module such
    as ``settings_from(PAGE, "key")``, or ``(PAGE, "key")``.
    """
    known = set(pages())
    named = {}
    for module in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(module.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            items = node.args if isinstance(node, ast.Call) else getattr(node, "elts", None)
            if not isinstance(node, (ast.Call, ast.Tuple)) or len(items) < 2:
                continue
            page, key = (_string(arg, constants) for arg in items[:2])
            if page in known and key:
                block = find_block(page, key)
                named.setdefault((page, block.index), []).append(module.name)
    return named


def test_every_python_block_is_run_by_a_test_or_marked():
    named = named_blocks()
    orphans = [
        f"docs/{block.page}:{block.line}: {block.source.splitlines()[0]}"
        for page in pages()
        for block in blocks(page)
        if (page, block.index) not in named and block.not_run is None
    ]
    assert not orphans, "python blocks no test runs (run one, or mark it not run):\n" + (
        "\n".join(orphans)
    )


def test_a_marked_block_is_not_also_run():
    named = named_blocks()
    both = [
        (block.page, block.line, named[(block.page, block.index)])
        for page in pages()
        for block in blocks(page)
        if block.not_run is not None and (block.page, block.index) in named
    ]
    assert not both


def test_marked_blocks_give_a_reason():
    marked = [block for page in pages() for block in blocks(page) if block.not_run is not None]
    assert all(block.not_run.strip() for block in marked)


@pytest.mark.parametrize(
    ("before", "reason"),
    [
        ("Text.\n\n<!-- not run: a fragment -->\n\n", "a fragment"),
        ("   <!-- not run:\n   spans lines -->\n", "spans lines"),
        ("<!-- not run: old -->\n```python\nx\n```\n<!-- other -->\n", None),
        ("<!-- not run: old -->\nSome text after it.\n", None),
        ("<!-- a comment -->\n", None),
    ],
)
def test_the_marker_must_come_right_before_the_fence(before, reason):
    found = _NOT_RUN.search(before.rstrip() + "\n")
    assert (found[1] if found else None) == reason
