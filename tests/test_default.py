"""The default English langdb loads and answers. Its predictions are not pinned: they are the
data's business, measured by evaluation, not by unit tests."""

from __future__ import annotations

import importlib.util
import logging
import math

import keyglide
import pytest
from keyglide import default
from keyglide.errors import BuildError, DefaultLangDBUnavailable

needs_data = pytest.mark.skipif(
    importlib.util.find_spec("symspellpy") is None,
    reason="the default English langdb needs the symspellpy data: pip install 'keyglide[en]'",
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYGLIDE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_data
def test_default_langdb_builds_once_loads_and_answers(cache, capsys, caplog):
    caplog.set_level(logging.INFO, logger="keyglide")
    with keyglide.open() as db:
        db.verify()
        assert db.info["language"] == "en"
        for text in ("I would like to ", "see you tom", "", "Zzzqx "):
            suggestions = db.predict(text, k=3)
            assert 1 <= len(suggestions) <= 3
            assert all(isinstance(s.word, str) and isinstance(s.score, int) for s in suggestions)
            assert [s.score for s in suggestions] == sorted(
                (s.score for s in suggestions), reverse=True
            )
        assert all(s.word.startswith("tom") for s in db.predict("see you tom"))
        assert math.isfinite(db.logprob("I would like to see you tomorrow."))
    built = list(cache.iterdir())
    assert len(built) == 1
    mtime = built[0].stat().st_mtime_ns
    with keyglide.open():
        pass
    assert built[0].stat().st_mtime_ns == mtime  # reused, not rebuilt
    # The library prints nothing itself: one log record says what the first use did.
    assert capsys.readouterr().err == ""
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("keyglide")]
    assert len(messages) == 1 and "building the default English langdb" in messages[0]


@pytest.mark.slow  # a second whole build of the default langdb
@needs_data
def test_a_rebuild_that_does_not_match_the_recorded_hash_is_refused(cache, monkeypatch):
    monkeypatch.setattr(default, "expected_sha256", lambda recipe=None: "0" * 64)
    with pytest.raises(BuildError, match="expects 0000"):
        keyglide.open()
    assert not any(cache.glob("*.langdb"))


def test_missing_data_package_gives_a_clear_error(cache, monkeypatch):
    monkeypatch.setattr(default, "_missing_data_package", lambda: True)
    with pytest.raises(DefaultLangDBUnavailable, match=r"pip install 'keyglide\[en\]'"):
        keyglide.open()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("KEYGLIDE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default.cache_dir() == tmp_path / "keyglide"
    monkeypatch.setenv("KEYGLIDE_CACHE_DIR", str(tmp_path / "x"))
    assert default.cache_dir() == tmp_path / "x"
