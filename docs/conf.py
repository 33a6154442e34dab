"""Sphinx configuration: Markdown (MyST) sources, autodoc against a configured Django."""

import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's canvas_oauth, not an installed copy
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

project = "canvas_oauth"
author = "canvas_oauth contributors"
copyright = "canvas_oauth contributors"

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "requirements.txt"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}

intersphinx_mapping = {}  # no network at build time
html_theme = "furo"
html_title = "canvas_oauth"
suppress_warnings = ["myst.xref_missing"] if os.environ.get("DOCS_LAX") else []
