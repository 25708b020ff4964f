"""Sphinx configuration for the fmzokx documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

project = "fmzokx"
author = "the fmzokx engineers"
copyright = "2026, the fmzokx engineers"
# The one version: fmzokx.__version__ (pyproject.toml reads it too).
from fmzokx import __version__ as release  # noqa: E402, F401  (Sphinx reads it)

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "fmzokx_methods"]
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
# custom.css (alabaster links it when present): wrap long code lines instead of cutting
# them off at the edge of the text column.
html_static_path = ["_static"]
