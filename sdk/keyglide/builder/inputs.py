"""Resolving a recipe's inputs: locating each input's files (paths, list files, package
resources, ``${KEYGLIDE_CORPORA}``), reading list and checksums files, and hashing every
file while checking that it is UTF-8 and has the sha256 the recipe expects.

The recipe's keys that name files are described in ``keyglide.builder.recipe``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyglide.errors import BuildError

if TYPE_CHECKING:
    from keyglide.builder.recipe import Input, Recipe

CORPORA_VARIABLE = "KEYGLIDE_CORPORA"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class InputFile:
    """A resolved input file: its recorded name, where it is, and what it holds."""

    name: str
    path: Path
    kind: str
    order: int
    size: int
    sha256: str


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


# ---------------------------------------------------------------------------------------------
# Locating and hashing input files


def _resolve_input(recipe: Recipe, item: Input) -> list[InputFile]:
    order = item.order if item.order is not None else recipe.order
    if item.package is not None:
        path = _package_resource(item.package, item.resource)
        named = [(f"{item.package}/{item.resource}", path)]
    elif item.list is not None:
        list_path = _expand(recipe, item.list)
        directory = (
            _expand(recipe, item.directory) if item.directory is not None else list_path.parent
        )
        named = [(name, directory / name) for name in _read_list(recipe, item.list, list_path)]
    else:
        named = [(Path(p).name, _expand(recipe, p)) for p in item.paths]
    expected = _expected_hashes(recipe, item, named)
    files = []
    for name, path in named:
        size, digest = _hash_file(recipe, path, _original(item, name))
        want = expected.get(name)
        if want is not None and want != digest:
            raise BuildError(
                f"input {name} ({path}) has sha256 {digest}, but the recipe expects {want}: "
                f"the file is not the one the recipe was written for"
            )
        files.append(
            InputFile(name=name, path=path, kind=item.kind, order=order, size=size, sha256=digest)
        )
    return files


def _expected_hashes(recipe: Recipe, item: Input, named: list[tuple[str, Path]]) -> dict[str, str]:
    expected: dict[str, str] = {}
    if item.sha256 is not None:
        expected[named[0][0]] = item.sha256
    if item.checksums is not None:
        listed = _read_checksums(recipe, item.checksums)
        for name, path in named:
            digest = listed.get(name, listed.get(path.name))
            if digest is None:
                raise BuildError(
                    f"input {name} is not listed in the checksums file {item.checksums}"
                )
            if name in expected and expected[name] != digest:
                raise BuildError(f"input {name}: 'sha256' and the checksums file disagree")
            expected[name] = digest
    return expected


def _read_checksums(recipe: Recipe, written: str) -> dict[str, str]:
    path = _expand(recipe, written)
    listed: dict[str, str] = {}
    for n, line in enumerate(_read_text(recipe, written, path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not _is_sha256(parts[0].lower()):
            raise BuildError(f"{path}:{n}: expected 'SHA256  NAME'")
        listed[parts[1].strip().lstrip("*")] = parts[0].lower()
    return listed


def _read_list(recipe: Recipe, written: str, path: Path) -> list[str]:
    names = []
    for line in _read_text(recipe, written, path).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.append(line)
    if not names:
        raise BuildError(f"the list {path} names no files")
    return names


def _read_text(recipe: Recipe, written: str, path: Path) -> str:
    from keyglide.errors import InvalidText
    from keyglide.textfile import decode_utf8

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BuildError(_missing_message(recipe, path, written)) from None
    try:
        return decode_utf8(data, str(path))
    except InvalidText as e:
        raise BuildError(str(e)) from None


def _hash_file(recipe: Recipe, path: Path, written: str) -> tuple[int, str]:
    """(size, sha256) of an input file, which must be UTF-8 (every kind of input is text):
    a ``BuildError`` names the file and the offset of its first byte that is not."""
    from keyglide.textfile import Utf8Check, invalid_utf8_message

    digest = hashlib.sha256()
    check = Utf8Check()
    size = 0
    head = b""
    problem = None
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                if not head:
                    head = chunk[:4096]
                digest.update(chunk)
                size += len(chunk)
                problem = problem or check.feed(chunk)
    except (FileNotFoundError, IsADirectoryError):
        raise BuildError(_missing_message(recipe, path, written)) from None
    problem = problem or check.finish()
    if problem is not None:
        raise BuildError(invalid_utf8_message(str(path), head, *problem))
    return size, digest.hexdigest()


def _original(item: Input, name: str) -> str:
    """The text the recipe wrote for a file, to say where a missing path came from."""
    if item.list is not None:
        return item.directory or item.list
    return next((p for p in item.paths if Path(p).name == name), name)


def _missing_message(recipe: Recipe, path: Path, written: str) -> str:
    message = f"corpus file not found: {path}"
    if "${" + CORPORA_VARIABLE + "}" in written:
        root = _corpora_dir(recipe)
        source = (
            f"from ${CORPORA_VARIABLE}"
            if os.environ.get(CORPORA_VARIABLE)
            else f"the default, as ${CORPORA_VARIABLE} is not set"
        )
        message += (
            f" (the recipe writes {written!r}; ${{{CORPORA_VARIABLE}}} is {root}, {source}); "
            f"set {CORPORA_VARIABLE} to the folder that holds the corpora"
        )
    return message


def _expand(recipe: Recipe, written: str) -> Path:
    variable = "${" + CORPORA_VARIABLE + "}"
    text = written.replace(variable, str(_corpora_dir(recipe))) if variable in written else written
    if "${" in text:
        raise BuildError(f"path {written!r}: only ${{{CORPORA_VARIABLE}}} can be used in a path")
    path = Path(text)
    return path if path.is_absolute() else recipe.base_dir / path


def _corpora_dir(recipe: Recipe) -> Path:
    configured = os.environ.get(CORPORA_VARIABLE)
    if configured:
        return Path(configured)
    for folder in (recipe.base_dir, *recipe.base_dir.parents):
        if (folder / "pyproject.toml").is_file():
            return folder.parent / "shared" / "corpora"
    raise BuildError(
        f"the recipe uses ${{{CORPORA_VARIABLE}}}, which is not set, and no repository root "
        f"(a folder with pyproject.toml) lies above {recipe.base_dir} to find the default "
        f"../shared/corpora: set {CORPORA_VARIABLE} to the folder that holds the corpora"
    )


def _package_resource(package: str, resource: str) -> Path:
    """A data file in an installed package, located without importing the package."""
    top, *inner = package.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            f"the package {package!r}, which holds the input {resource!r}, is not installed "
            f"(pip install {top})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location, *inner, resource)
        if candidate.is_file():
            return candidate
    raise BuildError(f"the installed package {package!r} has no file {resource!r}")
