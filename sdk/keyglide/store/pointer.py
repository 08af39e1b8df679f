"""The store's pointer file, ``<language>/active.json``: the names it accepts (language
tags, data versions and their order), the activation records it holds and its format.

The pointer names the active version with its sha256 and size, and keeps the stack of the
versions active before it (for revert). It is only ever replaced whole, by rename, so a
reader always sees a complete one; what it reads is validated before it is used.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from keyglide.errors import CorruptStore, InvalidName

POINTER = "active.json"
POINTER_FORMAT = "keyglide-store-pointer-1"
# How many previously active versions the pointer remembers (revert goes back that far;
# gc keeps them all).
MAX_REVERTS = 8

_MAX_POINTER_BYTES = 1 << 20
_LANGUAGE = re.compile(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})*\Z")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_VERSION_PIECE = re.compile(r"\d+|[^\d.]+")


# --- names ----------------------------------------------------------------------------------


def canonical_language(tag: object) -> str:
    """The directory name of a language tag: the BCP 47 tag in lower case (tags are
    case-insensitive). Raises ``InvalidName`` for anything else."""
    if not isinstance(tag, str) or not _LANGUAGE.match(tag.lower()):
        raise InvalidName(
            f"{tag!r} is not a language tag the store accepts (BCP 47: letters and digits, "
            "subtags of 1 to 8 separated by '-', e.g. en, pt-BR, und)"
        )
    return tag.lower()


def check_version(version: object) -> str:
    """A data version usable as a file name: 1 to 64 of letters, digits and ``. _ + -``,
    starting with a letter or digit. Raises ``InvalidName`` for anything else."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InvalidName(
            f"{version!r} is not a data version the store accepts (1 to 64 letters, digits, "
            "'.', '_', '+' or '-', starting with a letter or digit, e.g. 2026.11.0)"
        )
    return version


def version_key(version: str) -> tuple:
    """Order of data versions, oldest first: dot-separated parts compared as numbers when
    they are digits (``1.10.0`` after ``1.9.0``), a ``-pre-release`` before its release,
    ``+build`` metadata last; the string itself breaks ties."""
    release, _, build = version.partition("+")
    release, dash, pre = release.partition("-")

    def parts(s: str) -> tuple:
        return tuple(
            (0, int(p), "") if p.isdigit() else (1, 0, p) for p in _VERSION_PIECE.findall(s)
        )

    return (parts(release), 0 if dash else 1, parts(pre), parts(build), version)


# --- what the pointer records ---------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """A version as the pointer records it: active now, or once (``Store.history``)."""

    language: str
    version: str
    sha256: str
    size: int
    activated_at: str  # UTC, ISO 8601 to the second

    def _json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "activated_at": self.activated_at,
        }


@dataclass(frozen=True)
class _Pointer:
    language: str
    active: Activation
    previous: tuple[Activation, ...]  # oldest first: revert goes to the last

    def to_bytes(self) -> bytes:
        data = {
            "format": POINTER_FORMAT,
            "language": self.language,
            "active": self.active._json(),
            "previous": [p._json() for p in self.previous],
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _parse_pointer(path: str, language: str, raw: bytes) -> _Pointer:
    def bad(problem: str) -> CorruptStore:
        return CorruptStore(
            f"{path}: {problem}; activating a version replaces it (and forgets its revert history)"
        )

    if len(raw) > _MAX_POINTER_BYTES:
        raise bad(f"larger than {_MAX_POINTER_BYTES} bytes: not a store pointer")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"not a UTF-8 JSON store pointer ({e})") from None
    if not isinstance(data, dict) or data.get("format") != POINTER_FORMAT:
        raise bad(f'not a store pointer (no "format": "{POINTER_FORMAT}")')
    if data.get("language") != language:
        raise bad(f"names the language {data.get('language')!r}, not {language!r}")

    def record(value: object, where: str) -> Activation:
        if not isinstance(value, dict):
            raise bad(f"{where} is not an object")
        version, sha, size, when = (
            value.get("version"),
            value.get("sha256"),
            value.get("size"),
            value.get("activated_at"),
        )
        if not isinstance(version, str) or not _VERSION.match(version):
            raise bad(f"{where} has no valid version ({version!r})")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise bad(f"{where} has no valid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"{where} has no valid size")
        if not isinstance(when, str):
            raise bad(f"{where} has no valid activated_at")
        return Activation(language, version, sha, size, when)

    previous = data.get("previous")
    if not isinstance(previous, list):
        raise bad('"previous" is not a list')
    return _Pointer(
        language,
        record(data.get("active"), '"active"'),
        tuple(record(p, f'"previous"[{i}]') for i, p in enumerate(previous)),
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
