"""Compatibility of SDK releases and langdb files: the matrix and the negotiation at open.

The matrix (``compat/matrix.toml`` in the repository, shipped as
``keyglide/compat_matrix.toml``) is the single source. For each range of SDK releases it
states the format major version and newest minor read and the feature bits understood;
``negotiate`` applies it to a file's header, for this SDK or for any release listed:

- another major version, or a required feature bit the release does not understand:
  ``unsupported`` (the reader raises ``IncompatibleLangDB``, whose message names the file's
  format and features, the running SDK and the first release that reads the file);
- an optional feature bit it does not understand: ``degraded``, the file opens and the
  feature is skipped (``ignored_features`` names it, with what the user sees differently);
- otherwise ``full``.

    outcome = keyglide.compat.negotiate("en.langdb", sdk_version="1.0.0")
    outcome.status, outcome.ignored_features, outcome.message
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from keyglide._version import __version__
from keyglide.errors import IncompatibleLangDB, KeyglideError
from keyglide.format import (
    BYTE_ORDER_MARK,
    FORMAT_MAJOR,
    FORMAT_MINOR,
    HEADER,
    KNOWN_OPTIONAL_FEATURES,
    KNOWN_REQUIRED_FEATURES,
    MAGIC,
    Header,
)

FULL, DEGRADED, UNSUPPORTED = "full", "degraded", "unsupported"
STATUSES = (FULL, DEGRADED, UNSUPPORTED)


class MatrixError(KeyglideError, ValueError):
    """The compatibility matrix is malformed, or names no release range for a version."""


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    bit: int
    since_format: str
    summary: str
    when_ignored: str


@dataclass(frozen=True)
class Row:
    """A range of SDK releases and what they read."""

    sdk: str
    first: str
    major: int
    newest_minor: int
    features: tuple[str, ...]
    note: str = ""

    def contains(self, version: str | Version) -> bool:
        return SpecifierSet(self.sdk).contains(str(version), prereleases=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sdk": self.sdk,
            "first": self.first,
            "major": self.major,
            "newest_minor": self.newest_minor,
            "features": list(self.features),
            "note": self.note,
        }


@dataclass(frozen=True)
class Cell:
    """The stated verdict for a release range and a kind of file."""

    sdk: str
    format: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    status: str
    ignored: tuple[str, ...] = ()
    first_reader: str | None = None

    @property
    def file_kind(self) -> str:
        return file_kind(self.format, self.required, self.optional)


@dataclass(frozen=True)
class Matrix:
    features: tuple[FeatureInfo, ...]
    releases: tuple[Row, ...]
    cells: tuple[Cell, ...]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Matrix:
        """The matrix at ``path``, or the one shipped with this SDK."""
        if path is None:
            return _shipped()
        return cls.from_dict(tomllib.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Matrix:
        try:
            features = tuple(
                FeatureInfo(
                    f["name"], int(f["bit"]), f["since_format"], f["summary"], f["when_ignored"]
                )
                for f in data.get("features", ())
            )
            releases = tuple(
                Row(
                    r["sdk"],
                    r["first"],
                    int(r["major"]),
                    int(r["newest_minor"]),
                    tuple(r["features"]),
                    r.get("note", ""),
                )
                for r in data["releases"]
            )
            cells = tuple(
                Cell(
                    c["sdk"],
                    c["format"],
                    tuple(c.get("required", ())),
                    tuple(c.get("optional", ())),
                    c["status"],
                    tuple(c.get("ignored", ())),
                    c.get("first_reader"),
                )
                for c in data.get("cells", ())
            )
        except (KeyError, TypeError, ValueError) as e:
            raise MatrixError(f"malformed compatibility matrix: {e!r}") from None
        matrix = cls(features, releases, cells)
        matrix._check()
        return matrix

    def _check(self) -> None:
        names = {f.name for f in self.features}
        if len(names) != len(self.features) or len({f.bit for f in self.features}) != len(names):
            raise MatrixError("feature names and bits must be unique")
        for row in self.releases:
            SpecifierSet(row.sdk)
            if not row.contains(row.first):
                raise MatrixError(f"release range {row.sdk} does not contain its first {row.first}")
            if set(row.features) - names:
                raise MatrixError(f"release range {row.sdk} names unknown features")
        for cell in self.cells:
            if cell.status not in STATUSES:
                raise MatrixError(f"unknown status {cell.status!r}")
            if cell.sdk not in {r.sdk for r in self.releases}:
                raise MatrixError(f"a cell names the release range {cell.sdk!r}, not a row")
            if set(cell.required + cell.optional + cell.ignored) - names:
                raise MatrixError(f"a cell of {cell.sdk} names unknown features")

    def row_for(self, version: str | Version) -> Row:
        for row in self.releases:
            if row.contains(version):
                return row
        raise MatrixError(f"the compatibility matrix lists no SDK release range with {version}")

    def row(self, sdk: str) -> Row:
        return next(r for r in self.releases if r.sdk == sdk)

    def bit(self, name: str) -> int:
        return next(f.bit for f in self.features if f.name == name)

    def mask(self, names: tuple[str, ...] | list[str]) -> int:
        mask = 0
        for name in names:
            mask |= 1 << self.bit(name)
        return mask

    def names(self, mask: int) -> list[str]:
        """The names of the bits of ``mask`` (``bit N (0x..)`` for a bit the matrix does not
        know)."""
        by_bit = {f.bit: f.name for f in self.features}
        return [by_bit.get(b, f"bit {b} ({1 << b:#x})") for b in range(64) if mask >> b & 1]

    def feature(self, name: str) -> FeatureInfo | None:
        return next((f for f in self.features if f.name == name), None)


@functools.cache
def _shipped() -> Matrix:
    text = resources.files("keyglide").joinpath("compat_matrix.toml").read_text(encoding="utf-8")
    return Matrix.from_dict(tomllib.loads(text))


@dataclass(frozen=True)
class Outcome:
    """The verdict of one SDK release on one file."""

    status: str
    readable: bool
    ignored_features: tuple[str, ...]
    row: Row | None
    message: str
    sdk_version: str
    file_format: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    ignored_mask: int = 0
    first_reader: str | None = None
    effects: tuple[str, ...] = field(default=())

    @property
    def reason(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "readable": self.readable,
            "sdk_version": self.sdk_version,
            "format": self.file_format,
            "required_features": list(self.required),
            "optional_features": list(self.optional),
            "ignored_features": list(self.ignored_features),
            "effects": list(self.effects),
            "first_reader": self.first_reader,
            "row": self.row.as_dict() if self.row else None,
            "message": self.message,
        }


def file_kind(
    fmt: str, required: tuple[str, ...] | list[str], optional: tuple[str, ...] | list[str]
) -> str:
    """A short name of a kind of file: ``1.1 +BLOCKLIST! +DISPLAY_FORMS`` (``!``: required)."""
    parts = [fmt, *(f"+{n}!" for n in required), *(f"+{n}" for n in optional)]
    return " ".join(parts)


def read_header(path: str | os.PathLike) -> Header:
    """The header of the file at ``path``, read without opening the file as a langdb."""
    with open(path, "rb") as f:
        data = f.read(HEADER.size)
    return header_from_bytes(data, os.fsdecode(path))


def header_from_bytes(data: bytes, name: str = "<buffer>") -> Header:
    from keyglide.errors import CorruptLangDB, TruncatedLangDB

    if data[: len(MAGIC)] != MAGIC:
        raise CorruptLangDB(f"{name}: not a langdb file (bad magic)")
    if len(data) < HEADER.size:
        raise TruncatedLangDB(f"{name}: shorter than the {HEADER.size}-byte header")
    header = Header(*HEADER.unpack_from(data, 0)[1:])
    if header.byte_order_mark != BYTE_ORDER_MARK:
        raise CorruptLangDB(f"{name}: bad byte-order mark {header.byte_order_mark:#010x}")
    return header


def _header_of(thing: Any) -> tuple[Header, str]:
    if isinstance(thing, Header):
        return thing, "the file"
    if isinstance(thing, bytes | bytearray | memoryview):
        return header_from_bytes(bytes(thing[: HEADER.size])), "<buffer>"
    inner = getattr(thing, "_file", None)  # a keyglide.LangDB
    header = getattr(thing, "header", None) or getattr(inner, "header", None)
    if isinstance(header, Header):
        return header, getattr(thing, "name", None) or getattr(thing, "path", "the file")
    return read_header(thing), os.fsdecode(thing)


def _running_row(matrix: Matrix) -> Row:
    """This SDK's row; if the matrix lacks this version, what the code itself knows."""
    try:
        return matrix.row_for(__version__)
    except MatrixError:
        known = KNOWN_REQUIRED_FEATURES | KNOWN_OPTIONAL_FEATURES
        return Row(
            f"=={__version__}",
            __version__,
            FORMAT_MAJOR,
            FORMAT_MINOR,
            tuple(matrix.names(known)),
            "this SDK (not in the matrix)",
        )


def negotiate(
    header_or_file: Any,
    sdk_version: str | None = None,
    *,
    matrix: Matrix | None = None,
    name: str | None = None,
) -> Outcome:
    """What SDK release ``sdk_version`` (default: this one) makes of a file.

    ``header_or_file``: a ``Header``, an open ``LangDBFile`` or ``LangDB``, the file's first
    bytes or a path. Never raises for an unreadable file: the outcome says so (``readable``
    False, ``status`` ``unsupported``); ``require_readable`` raises ``IncompatibleLangDB``.
    """
    case = _Case.of(header_or_file, sdk_version, matrix or Matrix.load(), name)
    if not case.opens():
        return _unsupported(case)
    ignored_mask = case.header.optional_features & ~case.understood
    ignored = tuple(case.matrix.names(ignored_mask))
    if not ignored:
        return case.outcome(FULL, f"keyglide {case.version} reads it fully")
    return _degraded(case, ignored, ignored_mask)


def degraded_here(outcome: Outcome, feature: str, mask: int, why: str) -> Outcome:
    """``outcome`` (this SDK's, for a file it reads) when ``feature`` (bit ``mask``) cannot
    be applied on this machine, for the reason ``why``: degraded, with one message that says
    so (not "reads it fully" and then why not)."""
    if feature in outcome.ignored_features:
        return outcome
    base = outcome.message
    if outcome.status == FULL:
        base = base[: base.rindex("; ")]  # the verdict "keyglide X reads it fully"
    return dataclasses.replace(
        outcome,
        status=DEGRADED,
        ignored_features=(*outcome.ignored_features, feature),
        ignored_mask=outcome.ignored_mask | mask,
        effects=(*outcome.effects, why),
        message=f"{base}; keyglide {outcome.sdk_version} opens it degraded here: {why}",
    )


@dataclass(frozen=True)
class _Case:
    """One file and one SDK release, as ``negotiate`` sees them before its verdict."""

    matrix: Matrix
    header: Header
    name: str
    version: str
    row: Row
    file_format: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    understood: int  # the feature bits the release understands
    first_reader: str | None

    @classmethod
    def of(
        cls, header_or_file: Any, sdk_version: str | None, matrix: Matrix, name: str | None
    ) -> _Case:
        header, default_name = _header_of(header_or_file)
        row = _running_row(matrix) if sdk_version is None else matrix.row_for(sdk_version)
        return cls(
            matrix=matrix,
            header=header,
            name=name or default_name,
            version=sdk_version or __version__,
            row=row,
            file_format=f"{header.major}.{header.minor}",
            required=tuple(matrix.names(header.required_features)),
            optional=tuple(matrix.names(header.optional_features)),
            understood=matrix.mask(row.features),
            first_reader=first_reader(header, matrix),
        )

    def opens(self) -> bool:
        """Whether the release opens the file: the same major version, and no required
        feature it does not understand."""
        header = self.header
        return header.major == self.row.major and not header.required_features & ~self.understood

    def outcome(
        self,
        status: str,
        verdict: str,
        *,
        ignored_features: tuple[str, ...] = (),
        ignored_mask: int = 0,
        effects: tuple[str, ...] = (),
    ) -> Outcome:
        """The ``Outcome`` of this case; ``verdict`` follows the file's description in the
        message."""
        describe = _describe_file(self.file_format, self.required, self.optional)
        return Outcome(
            status=status,
            readable=status != UNSUPPORTED,
            ignored_features=ignored_features,
            row=self.row,
            message=f"{self.name}: {describe}; {verdict}",
            sdk_version=self.version,
            file_format=self.file_format,
            required=self.required,
            optional=self.optional,
            ignored_mask=ignored_mask,
            first_reader=self.first_reader,
            effects=effects,
        )


def _unsupported(case: _Case) -> Outcome:
    """The outcome of a file the release cannot open: why, and which release can."""
    header, row, version = case.header, case.row, case.version
    if header.major != row.major:
        why = f"keyglide {version} reads langdb format {row.major}.x only"
    else:
        unknown = case.matrix.names(header.required_features & ~case.understood)
        why = f"keyglide {version} does not understand its required {', '.join(unknown)}"
    first = case.first_reader
    needed = (
        f"the first keyglide release that reads it is {first} (pip install 'keyglide>={first}')"
        if first
        else "no keyglide release listed in this SDK's compatibility matrix reads it: "
        "upgrade to a newer SDK"
    )
    return case.outcome(UNSUPPORTED, f"{why}; {needed}")


def _degraded(case: _Case, ignored: tuple[str, ...], ignored_mask: int) -> Outcome:
    """The outcome of a file the release opens ignoring optional features (``ignored``, the
    bits of ``ignored_mask``): what the user sees differently, and which release reads it
    fully."""
    matrix = case.matrix
    effects = tuple(
        info.when_ignored if (info := matrix.feature(n)) else f"{n} is ignored" for n in ignored
    )
    verdict = (
        f"keyglide {case.version} opens it degraded, ignoring "
        f"{', '.join(ignored)} ({'; '.join(effects)})"
    )
    full = first_full(case.header, matrix)
    if full:
        verdict += f"; keyglide {full} or later reads it fully"
    return case.outcome(
        DEGRADED,
        verdict,
        ignored_features=ignored,
        ignored_mask=ignored_mask,
        effects=effects,
    )


def _describe_file(fmt: str, required: tuple[str, ...], optional: tuple[str, ...]) -> str:
    parts = [f"langdb format {fmt}"]
    parts.append(f"required features: {', '.join(required) or 'none'}")
    parts.append(f"optional features: {', '.join(optional) or 'none'}")
    return ", ".join(parts)


def _reads(row: Row, header: Header, matrix: Matrix, fully: bool) -> bool:
    understood = matrix.mask(row.features)
    features = header.required_features | (header.optional_features if fully else 0)
    return header.major == row.major and not features & ~understood


def first_reader(header: Header, matrix: Matrix | None = None) -> str | None:
    """The first release (of the matrix) that opens the file, fully or degraded."""
    matrix = matrix or Matrix.load()
    firsts = [Version(r.first) for r in matrix.releases if _reads(r, header, matrix, False)]
    return str(min(firsts)) if firsts else None


def first_full(header: Header, matrix: Matrix | None = None) -> str | None:
    """The first release (of the matrix) that reads the file fully."""
    matrix = matrix or Matrix.load()
    firsts = [Version(r.first) for r in matrix.releases if _reads(r, header, matrix, True)]
    return str(min(firsts)) if firsts else None


def require_readable(header_or_file: Any, name: str | None = None) -> Outcome:
    """``negotiate`` for this SDK; raises ``IncompatibleLangDB`` when it cannot read the file."""
    outcome = negotiate(header_or_file, name=name)
    if not outcome.readable:
        raise IncompatibleLangDB(outcome.message, outcome)
    return outcome


def readers_of(path_or_header: Any, *, matrix: Matrix | None = None) -> list[dict[str, Any]]:
    """Which release ranges of the matrix read a file, and how: one entry per readable row,
    ``{"sdk", "first", "status", "reads", "ignored_features", "note"}`` (for a release
    report)."""
    matrix = matrix or Matrix.load()
    header, _ = _header_of(path_or_header)
    out = []
    for row in matrix.releases:
        outcome = negotiate(header, row.first, matrix=matrix)
        if outcome.readable:
            ignored = list(outcome.ignored_features)
            out.append(
                {
                    "sdk": row.sdk,
                    "first": row.first,
                    "status": outcome.status,
                    "reads": "fully" if not ignored else f"degraded (ignores {', '.join(ignored)})",
                    "ignored_features": ignored,
                    "note": "; ".join(outcome.effects) or row.note,
                }
            )
    return out


def synthetic_header(
    fmt: str,
    required: tuple[str, ...] | list[str] = (),
    optional: tuple[str, ...] | list[str] = (),
    matrix: Matrix | None = None,
) -> Header:
    """A header of a kind of file (format ``major.minor`` and features), for checking cells."""
    matrix = matrix or Matrix.load()
    major, minor = (int(x) for x in fmt.split("."))
    return Header(
        major, minor, 64, matrix.mask(required), matrix.mask(optional), 64, 0, BYTE_ORDER_MARK, 0
    )


def cell_problems(matrix: Matrix | None = None) -> list[str]:
    """Every cell whose stated verdict differs from what ``negotiate`` computes."""
    matrix = matrix or Matrix.load()
    problems = []
    for cell in matrix.cells:
        row = matrix.row(cell.sdk)
        outcome = negotiate(
            synthetic_header(cell.format, cell.required, cell.optional, matrix),
            row.first,
            matrix=matrix,
        )
        got = (
            outcome.status,
            tuple(outcome.ignored_features),
            outcome.first_reader if outcome.status == UNSUPPORTED else None,
        )
        want = (cell.status, cell.ignored, cell.first_reader)
        if got != want:
            problems.append(
                f"{cell.sdk} / {cell.file_kind}: the matrix says {want}, negotiation gives {got}"
            )
    return problems


# --- the table -------------------------------------------------------------------------------


def table_rows(matrix: Matrix | None = None) -> list[dict[str, Any]]:
    matrix = matrix or Matrix.load()
    rows = []
    for cell in matrix.cells:
        row = matrix.row(cell.sdk)
        if cell.status == DEGRADED:
            effects = [matrix.feature(n).when_ignored for n in cell.ignored]  # type: ignore[union-attr]
            note = f"ignores {', '.join(cell.ignored)}: {'; '.join(effects)}"
        elif cell.status == UNSUPPORTED:
            note = (
                f"refused (IncompatibleLangDB); first reader: {cell.first_reader}"
                if cell.first_reader
                else "refused; no release reads it yet"
            )
        else:
            note = ""
        rows.append(
            {
                "sdk": row.sdk,
                "first": row.first,
                "file": cell.file_kind,
                "status": cell.status,
                "note": note,
            }
        )
    return rows


def table_text(
    matrix: Matrix | None = None,
    markdown: bool = False,
    verified: dict[tuple[str, str], list[str]] | None = None,
) -> str:
    """The matrix as a table. ``verified`` maps (release range, file kind) to the releases
    whose behaviour the sweep checked against the cell (``nox -s compat``)."""
    matrix = matrix or Matrix.load()
    rows = table_rows(matrix)
    head = ["SDK releases", "file (format, features; ! = required)", "status", "what differs"]
    if verified is not None:
        head.append("verified with")
    lines = []
    if markdown:
        lines += [
            "# Compatibility matrix",
            "",
            "Generated from `compat/matrix.toml` (`keyglide compat table --markdown`"
            + (", verified by `nox -s compat`" if verified is not None else "")
            + "); do not edit.",
            "",
            "| " + " | ".join(head) + " |",
            "| " + " | ".join("---" for _ in head) + " |",
        ]
    for r in rows:
        cells = [f"`{r['sdk']}`" if markdown else r["sdk"], r["file"], r["status"], r["note"]]
        if verified is not None:
            cells.append(", ".join(verified.get((r["sdk"], r["file"]), [])) or "not tested")
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    if markdown:
        lines += ["", "Features:", ""]
        if not matrix.features:
            lines.append("- none defined yet (format 1.0 has no feature bits).")
        lines += [
            f"- `{f.name}` (bit {f.bit}, since format {f.since_format}): {f.summary}; "
            f"when ignored: {f.when_ignored}."
            for f in matrix.features
        ]
    return "\n".join(lines) + "\n"


# --- keyglide compat --------------------------------------------------------------------------


def add_cli(sub: Any) -> None:
    """``keyglide compat check FILE [--sdk VERSION]`` and ``keyglide compat table``."""
    p = sub.add_parser("compat", help="which SDK releases read a langdb (compatibility matrix)")
    actions = p.add_subparsers(metavar="ACTION", dest="action", required=True)
    q = actions.add_parser("check", help="what an SDK release makes of a langdb file")
    q.add_argument("file", type=Path)
    q.add_argument("--sdk", metavar="VERSION", help="an SDK release (default: this one)")
    q.add_argument("--json", action="store_true", help="print the outcome as JSON")
    q.set_defaults(run=_cli_check)
    q = actions.add_parser("table", help="print the compatibility matrix")
    q.add_argument("--markdown", action="store_true", help="as compat/MATRIX.md")
    q.set_defaults(run=_cli_table)


def _cli_check(args: Any) -> int:
    import json

    if args.sdk is not None:
        _check_version(args.sdk)
    outcome = negotiate(args.file, args.sdk)
    if args.sdk is None and outcome.readable:
        outcome = _here(args.file, outcome)
    readers = readers_of(args.file)
    if args.json:
        print(json.dumps({**outcome.as_dict(), "readers": readers}, indent=2))
    else:
        print(f"{outcome.status}: {outcome.message}")
        for r in readers:
            ignored = (
                f" (ignores {', '.join(r['ignored_features'])})" if r["ignored_features"] else ""
            )
            print(f"  read by {r['sdk']}: {r['status']}{ignored}")
    return 0 if outcome.readable else 1


def _here(path: Any, outcome: Outcome) -> Outcome:
    """This SDK's outcome on this machine: a reranker that cannot run here (onnxruntime
    missing or too old) makes the file degraded, as ``LangDB.compat`` says."""
    import keyglide

    try:
        with keyglide.open(path) as db:
            return db.compat
    except KeyglideError:
        return outcome  # damage beyond the header: negotiate's verdict stands


def _check_version(version: str) -> None:
    """Refuse an ``--sdk`` that is not a version, as a user error of one line."""
    from keyglide.cli import UserError

    try:
        Version(version)
    except InvalidVersion as e:
        raise UserError(str(e)) from None


def _cli_table(args: Any) -> int:
    print(table_text(markdown=args.markdown), end="")
    return 0
