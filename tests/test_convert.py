"""Converting a langdb to an older format version (``keyglide.convert``, ``keyglide convert``,
``keyglide build --target-sdk``)."""

from __future__ import annotations

import hashlib
import os
import random

import keyglide
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyglide import compat, convert
from keyglide.builder import Recipe, build
from keyglide.cli import main
from keyglide.convert import FORMATS, plan
from keyglide.engines.reference import ReferenceEngine
from keyglide.errors import BuildError, FeatureDropRefused
from keyglide.format import Feature
from keyglide.reader import LangDBFile
from packaging.version import Version

QUERIES = ["The ", "The old ", "the c", "the q", "", "a ", "the d"]


def _corpus(tmp_path):
    rng = random.Random(7)
    nouns = ["cat", "dog", "queen", "king", "bird", "house", "river"]
    verbs = ["sees", "likes", "finds", "chases", "hears"]
    sentences = [
        f"The {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}." for _ in range(400)
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(" ".join(sentences) + "\n", encoding="utf-8")
    return corpus


def _recipe(tmp_path):
    return Recipe.from_args(
        corpus=[_corpus(tmp_path)],
        order=2,
        language="xx",
        data_version="1.0.0",
        discount_fallback=True,
    )


def _build(tmp_path, name, blocklist=None, required=False):
    recipe = _recipe(tmp_path)
    if blocklist is not None:
        words = tmp_path / f"{name}.words.txt"
        words.write_text("\n".join(blocklist) + "\n", encoding="utf-8")
        recipe = recipe.with_blocklist(words, required=required)
    out = tmp_path / f"{name}.langdb"
    build(recipe, out, progress=False, source_commit=None)
    return out


def _answers(path, blocked=True):
    with LangDBFile.open(path) as f:
        engine = ReferenceEngine(f)
        if not blocked:  # what a reader that ignores the blocklist answers
            engine._blocked = np.zeros(0, dtype=np.int64)
        return {q: [(s.word, s.score) for s in engine.predict(q, 20)] for q in QUERIES}


def test_1_0_to_1_0_is_byte_identical(tmp_path):
    plain = _build(tmp_path, "plain")
    out = tmp_path / "out.langdb"
    result = convert(plain, out, format="1.0")
    assert result.dropped == [] and result.format == "1.0"
    assert out.read_bytes() == plain.read_bytes()
    assert result.sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()


def test_optional_blocklist_is_dropped_for_1_0(tmp_path):
    source = _build(tmp_path, "opt", blocklist=["cat", "queen"])
    out = tmp_path / "out.langdb"
    result = convert(source, out, format="1.0")
    assert result.dropped == ["BLOCKLIST"] and result.format == "1.0"
    with LangDBFile.open(out) as f:
        f.verify()
        assert (f.header.minor, f.header.required_features, f.header.optional_features) == (
            0,
            0,
            0,
        )
        assert len(f.blocklist) == 0
        assert f.meta["dropped"] == ["BLOCKLIST"]
        origin = f.meta["converted_from"]
        assert origin["format"] == "1.1" and origin["sdk"] == keyglide.__version__
        assert origin["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        assert origin["blocklist"]["blocked"] == 2
        assert "blocklist" not in f.meta
    # The converted file answers as a reader that ignores the blocklist answers the source.
    assert _answers(out) == _answers(source, blocked=False)
    assert _answers(out) != _answers(source)
    # And it is exactly the model built without the blocklist, but for META.
    assert _answers(out) == _answers(_build(tmp_path, "plain"))
    with keyglide.open(out) as db:
        assert db.info["format"] == "1.0"
        assert db.compat.status == "full"
    assert compat.negotiate(out, "1.0.0").status == "full"


def test_required_blocklist_is_refused_unless_allowed(tmp_path):
    source = _build(tmp_path, "req", blocklist=["dog"], required=True)
    out = tmp_path / "out.langdb"
    with pytest.raises(FeatureDropRefused, match="required BLOCKLIST") as raised:
        convert(source, out)
    assert isinstance(raised.value, BuildError) and raised.value.dropped == ["BLOCKLIST"]
    assert not out.exists()
    result = convert(source, out, allow_drop=True)
    assert result.dropped == ["BLOCKLIST"] and result.format == "1.0"
    with LangDBFile.open(out) as f:
        f.verify()
        assert f.header.minor == 0 and f.meta["dropped"] == ["BLOCKLIST"]
    assert compat.negotiate(out, "1.0.0").status == "full"
    assert _answers(out) == _answers(source, blocked=False)


def test_1_1_to_1_1_keeps_the_blocklist(tmp_path):
    source = _build(tmp_path, "req", blocklist=["dog"], required=True)
    out = tmp_path / "out.langdb"
    result = convert(source, out, format="1.1")
    assert result.dropped == [] and result.format == "1.1"
    assert out.read_bytes() == source.read_bytes()


def test_target_sdk_chooses_the_newest_format_read_fully(tmp_path):
    optional = _build(tmp_path, "opt", blocklist=["cat"])
    required = _build(tmp_path, "req", blocklist=["cat"], required=True)
    plain = _build(tmp_path, "plain")
    out = tmp_path / "out.langdb"
    # SDK 1.0 would read the optional blocklist degraded: it is dropped instead.
    assert convert(optional, out, target_sdk=">=1.0,<1.1").dropped == ["BLOCKLIST"]
    assert convert(plain, out, target_sdk=">=1.0,<1.1").dropped == []
    assert out.read_bytes() == plain.read_bytes()
    with pytest.raises(FeatureDropRefused):
        convert(required, out, target_sdk=">=1.0,<1.1")
    assert convert(required, out, target_sdk=">=1.0,<1.1", allow_drop=True).format == "1.0"
    # Every 1.1 release reads the blocklist fully: nothing is dropped.
    result = convert(required, out, target_sdk=">=1.1")
    assert (result.format, result.dropped) == ("1.1", [])
    assert out.read_bytes() == required.read_bytes()
    # A range that includes 1.0.x anywhere needs format 1.0.
    assert convert(optional, out, target_sdk=">=1.0.3").format == "1.0"
    with pytest.raises(BuildError, match="no SDK release"):
        convert(optional, out, target_sdk=">=3")
    with pytest.raises(BuildError, match="not a range"):
        convert(optional, out, target_sdk="one point oh")
    with pytest.raises(BuildError, match="either"):
        convert(optional, out, format="1.0", target_sdk=">=1.0")
    with pytest.raises(BuildError, match="cannot write"):
        convert(optional, out, format="0.9")


def test_cli_convert(tmp_path, capsys):
    optional = _build(tmp_path, "opt", blocklist=["cat"])
    required = _build(tmp_path, "req", blocklist=["cat"], required=True)
    out = tmp_path / "out.langdb"
    assert main(["convert", str(optional), "--format", "1.0", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "dropped the optional BLOCKLIST" in captured.err
    assert captured.out.startswith(str(out))
    assert main(["convert", str(required), "--target-sdk", ">=1.0,<1.1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("keyglide: error: ") and err.count("\n") == 1
    assert "required BLOCKLIST" in err and "--allow-drop" in err
    args = ["convert", str(required), "--format", "1.0", "--out", str(out), "--allow-drop"]
    assert main(args) == 0
    assert "dropped the required BLOCKLIST" in capsys.readouterr().err
    assert main(["convert", str(optional), "--format", "2.0", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("keyglide: error: ") and err.count("\n") == 1
    assert main(["convert", str(tmp_path / "missing.langdb"), "--out", str(out)]) == 3
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_build_target_sdk(tmp_path, capsys):
    corpus = _corpus(tmp_path)
    words = tmp_path / "words.txt"
    words.write_text("dog\n", encoding="utf-8")
    out = tmp_path / "c.langdb"
    args = ["build", "--corpus", str(corpus), "--order", "2", "--discount-fallback", "-q"]
    args += ["--out", str(out), "--blocklist", str(words)]
    assert main([*args, "--target-sdk", ">=1.0,<1.1"]) == 0
    assert "dropped the optional BLOCKLIST" in capsys.readouterr().err
    with LangDBFile.open(out) as f:
        assert f.header.minor == 0 and f.meta["dropped"] == ["BLOCKLIST"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    out.unlink()
    assert main([*args, "--blocklist-required", "--target-sdk", ">=1.0,<1.1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("keyglide: error: ") and err.count("\n") == 1
    assert not out.exists()
    assert main([*args, "--blocklist-required", "--target-sdk", ">=1.0,<1.1", "--allow-drop"]) == 0
    with LangDBFile.open(out) as f:
        assert f.header.minor == 0
    assert main([*args, "--blocklist-required", "--target-sdk", ">=1.1"]) == 0
    with LangDBFile.open(out) as f:
        assert f.header.required_features == int(Feature.BLOCKLIST)
    assert main([*args, "--allow-drop"]) == 2


def test_the_fixtures(tmp_path):
    import json
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "langdb" / "fixtures"
    out = tmp_path / "out.langdb"
    for name in ("small-2.langdb", "small-3.langdb"):
        convert(fixtures / "1.0" / name, out)
        assert out.read_bytes() == (fixtures / "1.0" / name).read_bytes()
    # The optional-blocklist fixture, converted, gives its recorded degraded answers.
    expected = json.loads(
        (fixtures / "1.1" / "blocklist-optional-3.expected.json").read_text(encoding="utf-8")
    )
    assert convert(fixtures / "1.1" / "blocklist-optional-3.langdb", out).dropped == ["BLOCKLIST"]
    with LangDBFile.open(out) as f:
        engine = ReferenceEngine(f)
        for case in expected["degraded"]["cases"]:
            got = [[s.word, s.score] for s in engine.predict(case["text"], expected["k"])]
            assert got == case["suggestions"], case


# --- what --format accepts --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt", ["", "1.1", "1.2", "1.3", "1.00", " 1.0", "1", "1.0.0", "2.0", "v1.0"]
)
def test_cli_convert_refuses_a_format_it_cannot_write_from_the_file(tmp_path, capsys, fmt):
    plain = _build(tmp_path, "plain")  # format 1.0
    out = tmp_path / "out.langdb"
    assert main(["convert", str(plain), "--format", fmt, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("keyglide: error: ")
    assert captured.err.count("\n") == 1 and "wrote" not in captured.err
    assert not out.exists()
    with pytest.raises(BuildError):
        convert(plain, out, format=fmt)
    assert not out.exists()


def test_a_newer_format_than_the_file_is_refused_and_older_ones_are_written(tmp_path):
    plain = _build(tmp_path, "plain")
    optional = _build(tmp_path, "opt", blocklist=["cat"])  # format 1.1
    out = tmp_path / "out.langdb"
    with pytest.raises(BuildError, match="format 1.0 to format 1.3: .* never a newer one"):
        convert(plain, out, format="1.3")
    with pytest.raises(BuildError, match="format 1.1 to format 1.2"):
        convert(optional, out, format="1.2")
    assert not out.exists()
    assert convert(optional, out, format="1.1").format == "1.1"
    assert convert(optional, out, format="1.0").format == "1.0"
    assert convert(plain, out, format="1.0").format == "1.0"


@given(st.one_of(st.none(), st.text(max_size=6), st.sampled_from(FORMATS)))
@settings(max_examples=300, deadline=None)
def test_the_format_is_one_this_sdk_writes_and_no_newer_than_the_file(fmt):
    for source in FORMATS:
        try:
            written, _, _ = plan(source, [], [], format=fmt)
        except BuildError:
            assert fmt not in FORMATS or Version(fmt) > Version(source)
        else:
            assert fmt is None or (fmt in FORMATS and fmt <= source)
            assert written == "1.0"  # no features: the oldest format holds the file


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink to a device"])
def test_convert_never_replaces_an_output_that_is_not_a_regular_file(tmp_path, kind):
    plain = _build(tmp_path, "plain")
    out = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "directory":
        out.mkdir()
    else:
        if not os.path.exists("/dev/null"):
            pytest.skip("no /dev/null here")
        os.symlink("/dev/null", out)
    before = os.lstat(out)
    listing = sorted(os.listdir(tmp_path))
    with pytest.raises(BuildError, match="exists and is .*not|exists and is a"):
        convert(plain, out)
    with pytest.raises(BuildError, match="regular file"):
        build(_recipe(tmp_path), out, progress=False, source_commit=None)
    after = os.lstat(out)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(os.listdir(tmp_path)) == listing
