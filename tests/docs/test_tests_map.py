"""The map of ``tests/`` in the development docs is the folders as they are."""

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
PAGE = TESTS.parent / "docs" / "development.md"


def mapped_folders():
    return set(re.findall(r"^\| `tests/(\w+)/` \|", PAGE.read_text(), re.M))


def test_every_test_file_is_in_a_folder_of_the_map():
    folders = mapped_folders()
    for module in TESTS.rglob("test_*.py"):
        where = module.relative_to(TESTS).parts
        assert len(where) == 2 and where[0] in folders, module


def test_every_folder_of_the_map_exists_and_holds_tests():
    for folder in mapped_folders():
        assert any((TESTS / folder).glob("test_*.py")), folder
