"""The README's example is the install page's step 6, which ``test_docs_settings`` runs.

The README is not under ``docs/``, so no test runs its blocks directly: each python block
there must be a block of ``docs/install.md`` as written, and that page's blocks are run.
"""

import re
from pathlib import Path

import pytest

from tests.docs_examples import python_blocks

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_blocks():
    text = README.read_text()
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)]


def test_the_readme_has_an_example():
    assert any("canvas_session(request)" in block for block in readme_blocks())


@pytest.mark.parametrize("block", readme_blocks())
def test_each_readme_example_is_on_the_install_page(block):
    assert block in python_blocks("install.md")
