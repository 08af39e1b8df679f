"""Deprecated: the builder's old name. Use ``keyglide.builder``.

The builder was the package ``keyglide.build`` until SDK 1.5: a directory named ``build/``,
which common ``.gitignore`` templates, formatters and IDEs skip as build output. It is now
``keyglide.builder``; this module keeps ``keyglide.build`` and its submodules
(``keyglide.build.recipe`` and the others) importable, as the same module objects, with a
``DeprecationWarning``, until SDK 2.0.
"""

import importlib
import sys
import warnings

from keyglide.builder import *  # noqa: F403 (the same names, from their new home)
from keyglide.builder import __all__  # noqa: F401

warnings.warn(
    "keyglide.build is deprecated and goes in SDK 2.0: import keyglide.builder instead",
    DeprecationWarning,
    stacklevel=2,
)

# `import keyglide.build.recipe` finds the submodule here: the import system looks a name up
# in sys.modules once the parent is imported.
for _stage in (
    "count",
    "estimate",
    "inputs",
    "network",
    "pipeline",
    "quantize",
    "recipe",
    "rerank",
    "write",
):
    sys.modules[f"{__name__}.{_stage}"] = importlib.import_module(f"keyglide.builder.{_stage}")
