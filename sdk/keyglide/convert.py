"""Rewriting a langdb in an older format version, for devices on older SDK releases.

    result = keyglide.convert("en.langdb", "en-1.0.langdb", format="1.0")
    result = keyglide.convert("en.langdb", "en-old.langdb", target_sdk=">=1.0,<1.1")

The model (vocabulary, n-grams, codes, codebooks, metadata) is read back from the file and
written again by the builder's writer, so the output holds exactly the same scores. What the
requested format cannot hold is dropped and reported: a feature the file marks *optional*
(one a reader may ignore) is dropped freely; a *required* one only with ``allow_drop=True``,
otherwise ``FeatureDropRefused`` is raised.

A converted file records where it came from in META: ``converted_from`` (the source's
sha256 and format, the converting SDK's version, and the source's ``blocklist`` and
``display_forms`` records if it had them) and ``dropped`` (the feature names). A conversion
that changes nothing (a 1.0 file to 1.0) writes the source's bytes exactly, with no
provenance added.

``target_sdk`` chooses the format from the compatibility matrix (``keyglide.compat``): the
newest format the writer can produce that *every* SDK release in the range reads **fully**.
A release that would open the file degraded (ignoring an optional feature) does not count:
the feature is dropped instead, and reported, so that the file means the same thing on every
release it is meant for.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from keyglide._version import __version__
from keyglide.errors import BuildError, FeatureDropRefused
from keyglide.format import FEATURES_SINCE_MINOR, FORMAT_MAJOR, ElemType, Feature, Kind
from keyglide.model import Order, QuantizedModel
from keyglide.reader import LangDBFile

# The formats the writer produces, oldest first.
FORMATS = ("1.0", "1.1", "1.2", "1.3")


@dataclass(frozen=True)
class ConvertResult:
    """``dropped``: the feature names the output no longer has; ``format``: the format
    written (``major.minor``); ``path`` and ``sha256``: the output."""

    dropped: list[str]
    format: str
    path: str = ""
    sha256: str = ""
    messages: list[str] = field(default_factory=list)


def read_model(f: LangDBFile) -> QuantizedModel:
    """The ``QuantizedModel`` an open langdb holds (what the writer wrote into it)."""
    vocab = [word.decode("utf-8") for word in f.all_word_bytes()]
    orders = []
    for n in range(1, f.order + 1):
        highest = n == f.order
        orders.append(
            Order(
                words=(
                    np.arange(f.vocab_size, dtype=np.int64)
                    if n == 1
                    else _whole(f, Kind.WORDS, n).astype(np.int64)
                ),
                prob_codes=_codes(f, Kind.PROB, n),
                prob_codebook=_whole(f, Kind.PROB_CODEBOOK, n).astype(np.int32),
                backoff_codes=None if highest else _codes(f, Kind.BACKOFF, n),
                backoff_codebook=(
                    None if highest else _whole(f, Kind.BACKOFF_CODEBOOK, n).astype(np.int32)
                ),
                children=None if highest else _whole(f, Kind.CHILDREN, n).astype(np.int64),
            )
        )
    features = f.header.required_features | f.header.optional_features
    return QuantizedModel(
        vocab=vocab,
        orders=orders,
        meta=dict(f.meta),
        blocklist=f.blocklist.astype(np.int64) if features & Feature.BLOCKLIST else None,
        blocklist_required=bool(f.header.required_features & Feature.BLOCKLIST),
        display_forms=(
            {i: form.decode("utf-8") for i, form in f.display_forms().items()}
            if features & Feature.DISPLAY_FORMS
            else None
        ),
        neural=_neural(f) if features & Feature.NEURAL else None,
    )


def _neural(f: LangDBFile) -> tuple[dict[str, Any], bytes]:
    import json

    info, onnx = f.neural  # type: ignore[misc]
    return json.loads(info.decode("utf-8")), onnx


def _whole(f: LangDBFile, kind: Kind, order: int) -> np.ndarray:
    column = f.column(kind, order)
    return column.slice(0, len(column))


def _codes(f: LangDBFile, kind: Kind, order: int) -> np.ndarray:
    column = f.column(kind, order)
    dtype = np.uint8 if column.elem_type is ElemType.U8 else np.uint16
    return column.slice(0, len(column)).astype(dtype)


# --- choosing a format ---------------------------------------------------------------------


def _features_of(required: list[str], optional: list[str], fmt: str) -> tuple[list, list]:
    """The features a file of ``fmt`` keeps: those its minor version defines (a feature this
    SDK does not know cannot be written at all)."""
    major, minor = (int(part) for part in fmt.split("."))

    def kept(name: str) -> bool:
        feature = Feature.__members__.get(name)
        return (
            major == FORMAT_MAJOR and feature is not None and FEATURES_SINCE_MINOR[feature] <= minor
        )

    return [n for n in required if kept(n)], [n for n in optional if kept(n)]


def _written_format(required: list[str], optional: list[str]) -> str:
    """The format the writer writes a file with these (known) features in: the oldest
    minor version that defines them all."""
    minors = [FEATURES_SINCE_MINOR[Feature[name]] for name in required + optional]
    return f"{FORMAT_MAJOR}.{max(minors, default=0)}"


def plan(
    source_format: str,
    required: list[str] | tuple[str, ...],
    optional: list[str] | tuple[str, ...],
    *,
    format: str | None = None,
    target_sdk: str | None = None,
    allow_drop: bool = False,
    matrix: Any = None,
) -> tuple[str, list[str], list[str]]:
    """(format to write, features dropped, messages) for a file of ``source_format`` with the
    ``required`` and ``optional`` features; raises ``FeatureDropRefused`` (a required feature
    would be lost without ``allow_drop``) or ``BuildError`` (no format fits)."""
    if format is not None and target_sdk is not None:
        raise BuildError("give either a format or a target SDK range, not both")
    messages: list[str] = []
    if target_sdk is not None:
        fmt, messages = choose_format(target_sdk, source_format, required, optional, matrix)
    else:
        fmt = "1.0" if format is None else check_format(format)
        if Version(fmt) > Version(source_format):
            raise BuildError(
                f"cannot convert a langdb of format {source_format} to format {fmt}: "
                "conversion writes the file's own format or an older one, never a newer one "
                "(build the langdb again for a newer format)"
            )
    limit = fmt  # the newest format the output may have
    kept_required, kept_optional = _features_of(list(required), list(optional), fmt)
    fmt = _written_format(kept_required, kept_optional)
    dropped_required = [n for n in required if n not in kept_required]
    dropped = dropped_required + [n for n in optional if n not in kept_optional]
    if dropped_required and not allow_drop:
        raise FeatureDropRefused(
            f"langdb format {limit} cannot hold the required {', '.join(dropped_required)}; "
            "a file without it would not mean the same on every reader "
            "(allow_drop=True / --allow-drop drops it anyway)",
            dropped,
        )
    for name in dropped:
        kind = "required" if name in dropped_required else "optional"
        messages.append(f"dropped the {kind} {name}: langdb format {limit} cannot hold it")
    return fmt, dropped, messages


def check_format(format: object) -> str | None:
    """``format`` if it is None or a format this SDK writes (``FORMATS``, spelled exactly:
    ``"1.0"``), else ``BuildError``."""
    if format is None or (isinstance(format, str) and format in FORMATS):
        return format
    raise BuildError(f"cannot write langdb format {format!r}; this SDK writes {', '.join(FORMATS)}")


def _rows_in(spec: SpecifierSet, matrix: Any) -> list[Any]:
    """The matrix's release ranges that hold at least one release of ``spec``."""
    bounds = [Version(s.version) for s in spec if s.operator in (">=", "==", "~=", "===")]
    rows = []
    for row in matrix.releases:
        candidates = [Version(row.first), *(v for v in bounds if row.contains(v))]
        if any(spec.contains(v, prereleases=True) for v in candidates):
            rows.append(row)
    return rows


def choose_format(
    target_sdk: str,
    source_format: str,
    required: list[str] | tuple[str, ...],
    optional: list[str] | tuple[str, ...],
    matrix: Any = None,
) -> tuple[str, list[str]]:
    """The newest format (not newer than the source's) that every release range of the matrix
    within ``target_sdk`` reads fully, and one line per release range on how it reads it."""
    from keyglide.compat import Matrix, negotiate, synthetic_header

    matrix = matrix or Matrix.load()
    try:
        spec = SpecifierSet(target_sdk)
    except InvalidSpecifier:
        raise BuildError(
            f"not a range of SDK versions: {target_sdk!r} (e.g. '>=1.0,<1.1')"
        ) from None
    rows = _rows_in(spec, matrix)
    if not rows:
        raise BuildError(f"the compatibility matrix lists no SDK release in {target_sdk!r}")
    candidates = [f for f in FORMATS if Version(f) <= Version(source_format)] or ["1.0"]
    for fmt in reversed(candidates):
        kept_required, kept_optional = _features_of(list(required), list(optional), fmt)
        fmt = _written_format(kept_required, kept_optional)
        header = synthetic_header(fmt, kept_required, kept_optional, matrix)
        outcomes = [negotiate(header, row.first, matrix=matrix, name="output") for row in rows]
        if all(o.status == "full" for o in outcomes):
            return fmt, [f"keyglide {row.sdk}: reads langdb format {fmt} fully" for row in rows]
    raise BuildError(
        "no langdb format this SDK writes is read fully by every keyglide release in "
        f"{target_sdk!r}"
    )


# --- converting -----------------------------------------------------------------------------


def convert(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    format: str | None = None,
    target_sdk: str | None = None,
    allow_drop: bool = False,
) -> ConvertResult:
    """Write the langdb at ``in_path`` to ``out_path`` (atomically) in langdb ``format``
    (default ``"1.0"``), or in the newest format every release in ``target_sdk`` (a PEP 440
    range such as ``">=1.0,<1.1"``) reads fully.

    ``format`` is the newest format the output may have: exactly one of ``FORMATS``, and
    not newer than the file's own (conversion never upgrades a file). The writer writes the
    oldest format that holds the features kept (a file left without any is format 1.0).
    Returns what was dropped and the format written.
    Raises ``FeatureDropRefused`` if a required feature would be lost and ``allow_drop`` is
    false; ``BuildError`` for a format this SDK does not write, a format newer than the
    file's, or an output that exists and is not a regular file (a device, a FIFO, a
    directory); ``LangDBError`` if the input cannot be read.
    """
    from keyglide.builder.write import format_version, output_problem, write_langdb
    from keyglide.compat import Matrix

    in_path, out_path = os.fspath(in_path), os.fspath(out_path)
    check_format(format)
    problem = output_problem(out_path)
    if problem is not None:
        raise BuildError(f"cannot write the converted langdb: {problem}")
    with open(in_path, "rb") as raw:
        source = raw.read()
    with LangDBFile.from_buffer(source, in_path) as f:
        f.verify()
        matrix = Matrix.load()
        source_format = f"{f.header.major}.{f.header.minor}"
        required = matrix.names(f.header.required_features)
        optional = matrix.names(f.header.optional_features)
        fmt, dropped, messages = plan(
            source_format,
            required,
            optional,
            format=format,
            target_sdk=target_sdk,
            allow_drop=allow_drop,
            matrix=matrix,
        )
        model = read_model(f)
    if dropped:
        if "BLOCKLIST" in dropped:
            model.blocklist = None
            model.blocklist_required = False
        if "DISPLAY_FORMS" in dropped:
            model.display_forms = None
        if "NEURAL" in dropped:
            model.neural = None
        origin: dict[str, Any] = {
            "sha256": hashlib.sha256(source).hexdigest(),
            "format": source_format,
            "sdk": __version__,
        }
        for record in ("blocklist", "display_forms", "neural"):
            if record in model.meta:
                origin[record] = model.meta.pop(record)
        model.meta["converted_from"] = origin
        model.meta["dropped"] = list(dropped)
    digest = write_langdb(out_path, model)
    assert format_version(model) == fmt, (format_version(model), fmt)
    return ConvertResult(
        dropped=list(dropped), format=fmt, path=out_path, sha256=digest, messages=messages
    )
