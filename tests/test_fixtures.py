"""The frozen fixtures of every released format version (``langdb/fixtures/``).

Fixtures are what old builders wrote: they never change (their sha256 are in SHA256SUMS),
every valid one opens with both engines and gives its recorded answers, and every must-fail
one fails with its recorded error, at open or at verify.

The answers were recorded by the reference engine, whose reranker (format 1.3) runs on the
numpy reference: the reference engine gives them exactly. The native engine runs the
reranker with onnxruntime, another runtime, so a reranked score may differ by 1 and two
candidates within 1 of each other may swap (FORMAT.md section 11); everything else is exact.
Without onnxruntime the native engine reads the file without its reranker (degraded) and
gives the answers recorded for a reader that ignores it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keyglide
import pytest
from keyglide.engines import native
from keyglide.format import SCORE_SCALE
from keyglide.neural import runtime as ort
from keyglide.neural.rerank import NeuralInfo
from keyglide.reader import LangDBFile

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


def _onnxruntime_missing(path: Path) -> str | None:
    """Why onnxruntime cannot run the reranker of the file at ``path`` here (None if it
    can, or if the file has none), judged from the file and the installed packages."""
    with LangDBFile.open(path) as f:
        sections = f.neural
        if sections is None:
            return None
        return ort.check_onnxruntime(NeuralInfo.parse(sections[0]).min_onnxruntime)


def _reranker(engine: str, path: Path) -> str | None:
    """What runs the file's reranker with ``engine``: the numpy reference beside the
    reference engine, onnxruntime beside the native one; None when it does not run."""
    with LangDBFile.open(path) as f:
        if f.neural is None:
            return None
    if engine == "reference":
        return "reference"
    return None if _onnxruntime_missing(path) else "onnxruntime"


def _suggestions_match(got: list, want: list, tolerance: int) -> bool:
    """``got`` is ``want`` (lists of [word, score], best first), give or take ``tolerance``
    on every score: the i-th best score within it of the recorded i-th; every word found in
    both within it of its recorded score; and a word that only one list holds within it of
    the other list's last score (the two swapped at the cut)."""
    if tolerance == 0:
        return got == want
    if len(got) != len(want):
        return False
    if any(abs(g[1] - w[1]) > tolerance for g, w in zip(got, want, strict=True)):
        return False
    recorded, answered = dict(map(tuple, want)), dict(map(tuple, got))
    for word, score in answered.items():
        if word in recorded:
            if abs(score - recorded[word]) > tolerance:
                return False
        elif score > want[-1][1] + tolerance:
            return False
    return all(word in answered or score >= got[-1][1] - tolerance for word, score in want)


def check_answers(db: keyglide.LangDB, expected: dict, tolerance: int) -> None:
    """``db`` gives the recorded ``cases`` and ``score_sum``: exactly, or within
    ``tolerance`` on each reranked score (a text's sum within that on each of its tokens)."""
    for case in expected["cases"]:
        got = [[s.word, s.score] for s in db.predict(case["text"], expected["k"])]
        assert _suggestions_match(got, case["suggestions"], tolerance), (case, got)
    score = expected["score_sum"]
    total = round(db.logprob(score["text"]) * SCORE_SCALE)
    assert abs(total - score["total"]) <= tolerance * score["tokens"], (score, total)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fixture", VALID, ids=lambda f: f["path"])
def test_valid_fixture_gives_its_answers(fixture, engine):
    expected = json.loads((FIXTURES / fixture["expected"]).read_text(encoding="utf-8"))
    path = FIXTURES / fixture["path"]
    reranker = _reranker(engine, path)
    with keyglide.open(path, engine=_engine(engine)) as db:
        db.verify()
        assert db.info["format"] == fixture["format"]
        assert db.info["ignored_features"] == 0
        assert db.info["reranker"] == reranker
        missing = _onnxruntime_missing(path) if engine == "native" else None
        if missing is not None:
            # The graph cannot run here: the n-gram answers of a reader that ignores it.
            assert db.compat.status == "degraded", db.compat
            assert "NEURAL" in db.compat.ignored_features and missing in db.compat.message
            assert expected["degraded"]["ignore"] == ["NEURAL"]
            check_answers(db, expected["degraded"], tolerance=0)
        else:
            # Recorded with the numpy reference: onnxruntime's scores are within 1 of them.
            check_answers(db, expected, tolerance=1 if reranker == "onnxruntime" else 0)


RERANKED = [
    f
    for f in VALID
    if "NEURAL"
    in json.loads((FIXTURES / f["expected"]).read_text(encoding="utf-8"))
    .get("degraded", {})
    .get("ignore", [])
]


@pytest.mark.parametrize("fixture", RERANKED, ids=lambda f: f["path"])
def test_reranked_fixture_without_onnxruntime_gives_the_degraded_answers(fixture, monkeypatch):
    """The native engine where onnxruntime is missing (whether or not it is here): the file
    opens degraded, with the reason, and answers as the same model without its reranker."""
    expected = json.loads((FIXTURES / fixture["expected"]).read_text(encoding="utf-8"))
    why = "onnxruntime is not installed (pip install 'keyglide[neural]')"
    monkeypatch.setattr(ort, "check_onnxruntime", lambda minimum=ort.MINIMUM: why)
    with keyglide.open(FIXTURES / fixture["path"], engine=_engine("native")) as db:
        assert db.info["reranker"] is None
        assert db.compat.status == "degraded" and "NEURAL" in db.compat.ignored_features
        assert why in db.compat.message
        check_answers(db, expected["degraded"], tolerance=0)


def test_the_tolerance_between_runtimes():
    """What FORMAT.md section 11 allows between two runtimes, and nothing more."""
    want = [["the", -3109], ["london", -5064], ["paris", -5065], ["a", -25722]]
    assert _suggestions_match(want, want, 1)
    near = [["the", -3110], ["london", -5064], ["paris", -5064], ["a", -25721]]
    assert _suggestions_match(near, want, 1)
    swapped = [["the", -3109], ["paris", -5064], ["london", -5065], ["a", -25722]]
    assert _suggestions_match(swapped, want, 1) and not _suggestions_match(swapped, want, 0)
    cut = [*want[:3], ["in", -25722]]  # "in" was just below "a", and they swapped at the cut
    assert _suggestions_match(cut, want, 1)
    assert not _suggestions_match([["the", -3107], *want[1:]], want, 1)
    assert not _suggestions_match([*want[:3], ["in", -25000]], want, 1)
    assert not _suggestions_match([want[1], want[0], *want[2:]], want, 1)
    assert not _suggestions_match(want[:3], want, 1)


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
