"""The public API: keyglide.open, LangDB, Suggestion, the errors and the package surface."""

from __future__ import annotations

import math
from pathlib import Path

import keyglide
import numpy as np
import pytest
from keyglide import LangDB, Suggestion
from keyglide._version import __version__
from keyglide.engines.reference import ReferenceEngine
from keyglide.reader import LangDBFile


def test_the_public_surface():
    # The names themselves are pinned with every public module's in test_public_api.py.
    assert all(hasattr(keyglide, name) for name in keyglide.__all__)
    assert keyglide.__version__ == __version__
    assert keyglide.MAX_K == 256


def test_errors_form_one_hierarchy():
    for error in ("CorruptLangDB", "TruncatedLangDB", "ChecksumMismatch", "UnsupportedVersion"):
        assert issubclass(getattr(keyglide, error), keyglide.LangDBError)
    assert issubclass(keyglide.LangDBError, keyglide.KeyglideError)
    assert issubclass(keyglide.BuildError, keyglide.KeyglideError)
    assert issubclass(keyglide.FeatureDropRefused, keyglide.BuildError)
    for error in (
        "InvalidName",
        "NotInstalled",
        "NoPreviousVersion",
        "VersionConflict",
        "CorruptStore",
        "StoreWriteError",
    ):
        assert issubclass(getattr(keyglide, error), keyglide.StoreError)
    assert issubclass(keyglide.StoreError, keyglide.KeyglideError)
    assert issubclass(keyglide.StoreWriteError, OSError)


def test_suggestions_are_immutable_values():
    s = Suggestion("word", -1234)
    assert (s.word, s.score) == ("word", -1234)
    assert s == Suggestion("word", -1234)
    word, score = s
    assert (word, score) == ("word", -1234)
    with pytest.raises(AttributeError):
        s.word = "other"
    assert not hasattr(s, "__dict__")


# --- open and close ---------------------------------------------------------------------------


def test_predict_and_score(small_db):
    with keyglide.open(small_db) as db:
        assert isinstance(db, LangDB)
        suggestions = db.predict("w00 ")
        assert len(suggestions) == 3
        assert all(isinstance(s, Suggestion) and isinstance(s.score, int) for s in suggestions)
        with LangDBFile.open(small_db) as file:
            engine = ReferenceEngine(file)
            assert db.predict("w00 w1", k=7) == engine.predict("w00 w1", 7)
            total, tokens = engine.score_sum("w01 w02. w03")
        assert db.logprob("w01 w02. w03") == total / 10000
        assert math.isclose(db.perplexity("w01 w02. w03"), 10 ** (-total / 10000 / tokens))
        db.verify()


def test_info(small_db):
    with keyglide.open(small_db, engine="reference") as db:
        info = db.info
        assert info["format"] == "1.0"
        assert (info["language"], info["data_version"]) == ("xx", "0.0.0")
        assert info["engine"] == "reference" == db.engine
        assert info["path"] == small_db == db.path
        assert info["metadata"]["order"] == 3
        info["metadata"]["order"] = 99  # a copy: the database is unchanged
        assert db.info["metadata"]["order"] == 3


def test_auto_is_an_engine_that_answers(small_db):
    with keyglide.open(small_db, engine="auto") as db:
        assert db.engine in ("native", "reference")


def test_close_is_idempotent_and_final(small_db):
    db = keyglide.open(small_db)
    db.close()
    db.close()
    assert db.closed
    for use in (
        lambda: db.predict("a"),
        lambda: db.logprob("a"),
        lambda: db.perplexity("a"),
        lambda: db.verify(),
        lambda: db.info,
        lambda: db.engine,
    ):
        with pytest.raises(ValueError, match="closed"):
            use()
    assert "closed" in repr(db)


def test_the_context_manager_closes(small_db):
    with keyglide.open(small_db) as db:
        pass
    assert db.closed


def test_open_without_a_path_opens_the_default(small_db, monkeypatch):
    import keyglide.default

    monkeypatch.setattr(keyglide.default, "default_langdb_path", lambda: small_db)
    with keyglide.open() as db:
        assert db.path == small_db


# --- argument checking ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["fast", "", None, "Reference"])
def test_unknown_engines(engine, tmp_path):
    with pytest.raises(ValueError, match="engine"):
        keyglide.open(tmp_path / "missing.langdb", engine=engine)


@pytest.mark.parametrize("k", [-1, 257, 10**9, 1.0, "3", None, True])
def test_k_outside_0_to_max_k(small_db, k):
    with keyglide.open(small_db) as db, pytest.raises(ValueError, match="k must be"):
        db.predict("w00 ", k=k)


@pytest.mark.parametrize("k", [0, 1, 256, np.int64(5)])
def test_k_inside_0_to_max_k(small_db, k):
    with keyglide.open(small_db) as db:
        assert len(db.predict("w00 ", k=k)) == min(int(k), 42)  # 42 words besides specials


@pytest.mark.parametrize("value", [b"w00 ", None, 3, ["w00"]])
def test_text_must_be_a_str(small_db, value):
    with keyglide.open(small_db) as db:
        for method in (db.predict, db.logprob, db.perplexity):
            with pytest.raises(TypeError, match="str"):
                method(value)


def test_perplexity_of_nothing(small_db):
    with keyglide.open(small_db) as db:
        assert db.logprob("") == 0.0
        with pytest.raises(ValueError, match="no tokens"):
            db.perplexity(" 😀 ")


# --- files that cannot be used ----------------------------------------------------------------


def test_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        keyglide.open(tmp_path / "missing.langdb")


def test_a_damaged_file(tmp_path, small_db):
    data = bytearray(Path(small_db).read_bytes())
    path = tmp_path / "cut.langdb"
    path.write_bytes(data[:-1])
    with pytest.raises(keyglide.TruncatedLangDB, match="cut.langdb"):
        keyglide.open(path)
    # Change the last section's last byte: found by verify(), not by open.
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with keyglide.open(path) as db, pytest.raises(keyglide.ChecksumMismatch):
        db.verify()
