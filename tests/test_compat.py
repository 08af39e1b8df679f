"""Negotiation as business logic: (SDK release, file format, required/optional features) ->
outcome, from the compatibility matrix alone (no model's predictions involved)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import keyglide
import pytest
from keyglide import compat
from keyglide.cli import main
from keyglide.format import (
    FORMAT_MAJOR,
    FORMAT_MINOR,
    KNOWN_OPTIONAL_FEATURES,
    KNOWN_REQUIRED_FEATURES,
)

ROOT = Path(__file__).resolve().parents[1]
B, D = "BLOCKLIST", "DISPLAY_FORMS"

# A matrix with two release ranges and two feature bits: the business rules, independent of
# what the shipped matrix holds today.
MATRIX_DATA = {
    "features": [
        {
            "name": B,
            "bit": 0,
            "since_format": "1.1",
            "summary": "blocked words",
            "when_ignored": "blocked words may be suggested",
        },
        {
            "name": D,
            "bit": 1,
            "since_format": "1.1",
            "summary": "display forms",
            "when_ignored": "words are shown folded",
        },
    ],
    "releases": [
        {"sdk": ">=1.0,<1.1", "first": "1.0.0", "major": 1, "newest_minor": 0, "features": []},
        {"sdk": ">=1.1,<2", "first": "1.1.0", "major": 1, "newest_minor": 1, "features": [B, D]},
    ],
    "cells": [
        {"sdk": ">=1.0,<1.1", "format": "1.0", "status": "full"},
        {
            "sdk": ">=1.0,<1.1",
            "format": "1.1",
            "optional": [B, D],
            "status": "degraded",
            "ignored": [B, D],
        },
        {
            "sdk": ">=1.0,<1.1",
            "format": "1.1",
            "required": [B],
            "optional": [D],
            "status": "unsupported",
            "first_reader": "1.1.0",
        },
        {"sdk": ">=1.1,<2", "format": "1.1", "required": [B], "status": "full"},
        {"sdk": ">=1.1,<2", "format": "2.0", "status": "unsupported"},
    ],
}
MATRIX = compat.Matrix.from_dict(MATRIX_DATA)

# (sdk, format, required, optional) -> (status, ignored, first release that reads it)
TABLE = [
    ("1.0.0", "1.0", [], [], "full", [], "1.0.0"),
    ("1.0.5", "1.0", [], [], "full", [], "1.0.0"),
    ("1.0.0", "1.1", [], [], "full", [], "1.0.0"),
    ("1.0.0", "1.1", [], [B], "degraded", [B], "1.0.0"),
    ("1.0.0", "1.1", [], [D], "degraded", [D], "1.0.0"),
    ("1.0.0", "1.1", [], [B, D], "degraded", [B, D], "1.0.0"),
    ("1.0.0", "1.1", [B], [], "unsupported", [], "1.1.0"),
    ("1.0.0", "1.1", [B], [D], "unsupported", [], "1.1.0"),
    ("1.0.0", "1.1", [D], [B], "unsupported", [], "1.1.0"),
    ("1.0.0", "2.0", [], [], "unsupported", [], None),
    ("1.1.0", "1.0", [], [], "full", [], "1.0.0"),
    ("1.1.0", "1.1", [], [B, D], "full", [], "1.0.0"),
    ("1.1.0", "1.1", [B], [D], "full", [], "1.1.0"),
    ("1.1.0", "1.1", [B, D], [], "full", [], "1.1.0"),
    ("1.4.2", "1.7", [], [B], "full", [], "1.0.0"),
    ("1.1.0", "2.0", [], [], "unsupported", [], None),
    ("1.1.0", "0.9", [], [], "unsupported", [], None),
]


def header(fmt, required=(), optional=(), extra_required=0, extra_optional=0):
    h = compat.synthetic_header(fmt, required, optional, MATRIX)
    return h.__class__(
        **{
            **h.__dict__,
            "required_features": h.required_features | extra_required,
            "optional_features": h.optional_features | extra_optional,
        }
    )


@pytest.mark.parametrize(
    ("sdk", "fmt", "required", "optional", "status", "ignored", "first"), TABLE
)
def test_negotiation_table(sdk, fmt, required, optional, status, ignored, first):
    outcome = compat.negotiate(header(fmt, required, optional), sdk, matrix=MATRIX)
    assert outcome.status == status
    assert outcome.readable == (status != "unsupported")
    assert list(outcome.ignored_features) == ignored
    assert outcome.first_reader == first
    assert outcome.row is not None and outcome.row.contains(sdk)
    assert f"langdb format {fmt}" in outcome.message and sdk in outcome.message
    if status == "unsupported":
        assert (first or "upgrade") in outcome.message
    if status == "degraded":
        assert "may be suggested" in outcome.message or "folded" in outcome.message


def test_unknown_bits_are_named_by_number():
    outcome = compat.negotiate(header("1.0", extra_optional=1 << 40), "1.0.0", matrix=MATRIX)
    assert outcome.status == "degraded" and outcome.ignored_features == ("bit 40 (0x10000000000)",)
    outcome = compat.negotiate(header("1.1", extra_required=1 << 63), "1.1.0", matrix=MATRIX)
    assert outcome.status == "unsupported" and "bit 63" in outcome.message
    assert outcome.first_reader is None


def test_every_cell_of_the_matrix_agrees_with_negotiation():
    assert compat.cell_problems() == []
    assert compat.cell_problems(MATRIX) == []
    wrong = compat.Matrix.from_dict(
        {**MATRIX_DATA, "cells": [{"sdk": ">=1.0,<1.1", "format": "2.0", "status": "full"}]}
    )
    assert len(compat.cell_problems(wrong)) == 1


def test_sdk_version_outside_the_matrix_is_an_error():
    with pytest.raises(compat.MatrixError):
        compat.negotiate(header("1.0"), "0.9.0", matrix=MATRIX)


def test_the_running_sdk_is_in_the_matrix_and_knows_what_its_code_knows():
    matrix = compat.Matrix.load()
    row = matrix.row_for(keyglide.__version__)
    assert (row.major, row.newest_minor) == (FORMAT_MAJOR, FORMAT_MINOR)
    assert matrix.mask(row.features) == KNOWN_REQUIRED_FEATURES | KNOWN_OPTIONAL_FEATURES


def test_the_shipped_matrix_is_the_repository_one():
    shipped = compat.Matrix.load()
    source = compat.Matrix.from_dict(
        tomllib.loads((ROOT / "compat" / "matrix.toml").read_text(encoding="utf-8"))
    )
    assert shipped == source


def test_matrix_rows_do_not_overlap_and_cover_each_first_release():
    matrix = compat.Matrix.load()
    for row in matrix.releases:
        assert [r.sdk for r in matrix.releases if r.contains(row.first)] == [row.sdk]


def test_malformed_matrix_is_refused():
    with pytest.raises(compat.MatrixError):
        compat.Matrix.from_dict({"features": [], "releases": [{"sdk": ">=1"}]})
    bad = {
        "features": [],
        "releases": [
            {
                "sdk": ">=1.0,<2",
                "first": "1.0.0",
                "major": 1,
                "newest_minor": 0,
                "features": ["NOPE"],
            }
        ],
    }
    with pytest.raises(compat.MatrixError):
        compat.Matrix.from_dict(bad)


def test_open_refuses_with_incompatible_langdb_naming_the_first_reader(tmp_path):
    fixture = ROOT / "langdb" / "fixtures" / "1.0" / "unknown-required-feature.langdb"
    with pytest.raises(keyglide.IncompatibleLangDB) as info:
        keyglide.open(fixture, engine="reference")
    assert isinstance(info.value, keyglide.UnsupportedVersion)
    assert "format 1.0" in str(info.value) and keyglide.__version__ in str(info.value)
    assert info.value.outcome.status == "unsupported"


def test_open_attaches_the_verdict():
    fixture = ROOT / "langdb" / "fixtures" / "1.0" / "small-2.langdb"
    with keyglide.open(fixture, engine="reference") as db:
        assert db.compat.status == "full" and db.compat.readable
        assert db.compat.row.contains(keyglide.__version__)


def test_readers_of_a_file():
    fixture = ROOT / "langdb" / "fixtures" / "1.0" / "small-2.langdb"
    readers = compat.readers_of(fixture)
    assert [r["status"] for r in readers] == ["full"] * len(compat.Matrix.load().releases)
    assert compat.readers_of(header("2.0")) == []
    readers = compat.readers_of(header("1.1", [], [B]), matrix=MATRIX)
    assert [(r["first"], r["status"]) for r in readers] == [
        ("1.0.0", "degraded"),
        ("1.1.0", "full"),
    ]
    assert readers[0]["ignored_features"] == [B]


def test_cli_check_and_table(capsys):
    fixture = ROOT / "langdb" / "fixtures" / "1.0"
    assert main(["compat", "check", str(fixture / "small-2.langdb"), "--sdk", "1.0.0"]) == 0
    assert capsys.readouterr().out.startswith("full:")
    assert main(["compat", "check", str(fixture / "unknown-major.langdb")]) == 1
    assert capsys.readouterr().out.startswith("unsupported:")
    assert main(["compat", "check", str(fixture / "small-2.langdb"), "--sdk", "x.y"]) == 2
    assert main(["compat", "table", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Compatibility matrix") and "| `>=1.0,<1.1` |" in out


def test_the_sweep_finds_the_releases_in_the_history():
    import importlib.util
    import shutil
    import subprocess

    if (
        shutil.which("git") is None
        or subprocess.run(
            ["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True
        ).returncode
    ):
        pytest.skip("not a git checkout")
    spec = importlib.util.spec_from_file_location("sweep", ROOT / "compat" / "sweep.py")
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    found = sweep.releases()
    versions = [v for v, _ in found]
    assert "1.0.0" in versions and versions == sorted(set(versions), key=sweep.Version)
    for version, commit in found:
        source = subprocess.run(
            ["git", "show", f"{commit}:sdk/keyglide/_version.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f'"{version}"' in source


def test_the_shipped_matrix_names_the_format_features():
    from keyglide.format import Feature

    matrix = compat.Matrix.load()
    for feature in Feature:
        assert matrix.mask([feature.name]) == int(feature)
    assert matrix.mask(matrix.row_for("1.0.0").features) == 0
    required = compat.synthetic_header("1.1", [B], [], matrix)
    optional = compat.synthetic_header("1.1", [], [B], matrix)
    assert compat.negotiate(optional, "1.0.0").status == "degraded"
    assert compat.negotiate(required, "1.0.0").status == "unsupported"
    assert compat.negotiate(required, "1.0.0").first_reader == "1.1.0"
    assert compat.negotiate(required, "1.1.0").status == "full"
