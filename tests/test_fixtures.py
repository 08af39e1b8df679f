"""The frozen fixtures of every released format version (``langdb/fixtures/``).

Fixtures are what old builders wrote: they never change (their sha256 are in SHA256SUMS),
every valid one opens with both engines and gives exactly its recorded answers, and every
must-fail one fails with its recorded error, at open or at verify.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keyglide
import pytest
from keyglide.engines import native
from keyglide.format import SCORE_SCALE

FIXTURES = Path(__file__).resolve().parents[1] / "langdb" / "fixtures"
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())["fixtures"]
VALID = [f for f in MANIFEST if f["valid"]]
INVALID = [f for f in MANIFEST if not f["valid"]]
ENGINES = ["reference", "native"]


def _sums() -> dict[str, str]:
    sums = {}
    for line in (FIXTURES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    return sums


def _engine(name: str) -> str:
    if name == "native" and not native.available()[0]:
        pytest.skip("the native engine is not available")
    return name


def test_every_fixture_file_is_listed_and_unchanged():
    sums = _sums()
    on_disk = {
        p.relative_to(FIXTURES).as_posix()
        for p in FIXTURES.glob("*/*")
        if p.suffix in (".langdb", ".json")
    }
    assert on_disk == set(sums)
    for name, digest in sums.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name
    listed = {f["path"] for f in MANIFEST} | {f["expected"] for f in VALID}
    assert listed == set(sums)


def test_there_is_a_fixture_of_every_released_format():
    formats = {f["format"] for f in VALID}
    assert {"1.0"} <= formats
    for version in formats:
        errors = {f["error"] for f in INVALID if f["format"] == version}
        assert errors == {
            "TruncatedLangDB",
            "ChecksumMismatch",
            "CorruptLangDB",
            "UnsupportedVersion",
        }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fixture", VALID, ids=lambda f: f["path"])
def test_valid_fixture_gives_its_answers(fixture, engine):
    expected = json.loads((FIXTURES / fixture["expected"]).read_text(encoding="utf-8"))
    with keyglide.open(FIXTURES / fixture["path"], engine=_engine(engine)) as db:
        db.verify()
        assert db.info["format"] == fixture["format"]
        assert db.info["ignored_features"] == 0
        for case in expected["cases"]:
            got = [[s.word, s.score] for s in db.predict(case["text"], expected["k"])]
            assert got == case["suggestions"], case
        score = expected["score_sum"]
        assert round(db.logprob(score["text"]) * SCORE_SCALE) == score["total"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fixture", INVALID, ids=lambda f: f["path"])
def test_must_fail_fixture_fails_with_its_error(fixture, engine):
    error = getattr(keyglide, fixture["error"])
    path = FIXTURES / fixture["path"]
    if fixture["at"] == "open":
        with pytest.raises(error):
            keyglide.open(path, engine=_engine(engine))
    else:
        with keyglide.open(path, engine=_engine(engine)) as db, pytest.raises(error):
            db.verify()
