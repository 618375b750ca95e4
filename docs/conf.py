"""Sphinx configuration of the fastrnn API reference (build: see docs/README.md)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # document the checkout, not an installed copy

project = "fastrnn"
author = "fastrnn developers"
copyright = "fastrnn developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections state types and shapes
autodoc_default_options = {"members": True, "undoc-members": False}
exclude_patterns = ["_build", "README.md"]
html_theme = "alabaster"
suppress_warnings = ["config.cache"]
