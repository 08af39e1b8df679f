"""The default English langdb: built once from installed data, kept in a per-user cache.

``keyglide.open()`` with no path lands here. The recipe (``langdb/recipes/en-default.toml``,
shipped in the package as ``keyglide/recipes/en-default.toml``) builds an order-2 model from
the English word and word-pair frequency lists of the ``symspellpy`` package, installed by
name (``pip install 'keyglide[en]'``), never downloaded at run time. The inputs' sha256 and
the output's sha256 are recorded in the recipe, so a rebuild on any machine is verified to be
the same bytes; a mismatch is refused rather than silently used.

The cache directory is ``$KEYGLIDE_CACHE_DIR``, else ``$XDG_CACHE_HOME/keyglide``, else
``~/.cache/keyglide``. The file name carries the SDK version and the expected hash, so
different SDK versions never share (or overwrite) a cached file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tomllib
from importlib import resources
from pathlib import Path

from keyglide._version import __version__
from keyglide.errors import BuildError, DefaultLangDBUnavailable

RECIPE_NAME = "en-default.toml"


def recipe_path() -> Path:
    """The default recipe as shipped in the package."""
    return Path(str(resources.files("keyglide") / "recipes" / RECIPE_NAME))


def cache_dir() -> Path:
    if os.environ.get("KEYGLIDE_CACHE_DIR"):
        return Path(os.environ["KEYGLIDE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "keyglide"


# The one line a first use reports (``keyglide`` shows it on stderr; an application routes
# or silences it with the logging module).
_log = logging.getLogger("keyglide")


def expected_sha256(recipe: Path | None = None) -> str:
    with open(recipe or recipe_path(), "rb") as f:
        return tomllib.load(f)["output"]["sha256"]


def default_langdb_path(*, progress=True) -> Path:
    """The path of the default English langdb, building it on first use."""
    expected = expected_sha256()
    path = cache_dir() / f"en-default-{__version__}-{expected[:16]}.langdb"
    if path.exists():
        return path
    return build_default(path, expected, progress=progress)


def build_default(path: Path, expected: str, *, progress=True) -> Path:
    from keyglide.builder import Recipe, build

    if _missing_data_package():
        raise DefaultLangDBUnavailable(
            "the default English langdb is built from the 'symspellpy' package's frequency "
            "lists, which is not installed: run  pip install 'keyglide[en]'  "
            "or open a langdb file by path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        _log.info("building the default English langdb into %s (once)", path)
    recipe = Recipe.from_toml(recipe_path())
    result = build(recipe, path, source_commit=None, progress=False)
    if result.sha256 != expected:
        path.unlink(missing_ok=True)
        raise BuildError(
            f"the default English langdb built here has sha256 {result.sha256}, but its recipe "
            f"expects {expected}: the installed symspellpy data or builder differs from the "
            f"release's. Reinstall with  pip install --force-reinstall 'keyglide[en]'"
        )
    return path


def _missing_data_package() -> bool:
    # find_spec locates the package without running its code.
    return importlib.util.find_spec("symspellpy") is None
