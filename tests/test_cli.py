"""The ``keyglide`` command: output formats and one-line errors, run in-process."""

from __future__ import annotations

import io
import json
import random

import pytest
from keyglide import cli, text

WORDS = (
    "the cat dog sat ran on a mat rug and then it was warm cold day night we saw "
    "you me they went home early late there here"
).split()


def sample_corpus(seed: int, sentences: int = 400) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        n = rng.randint(3, 9)
        words = [rng.choice(WORDS[: rng.randint(5, len(WORDS))]) for _ in range(n)]
        out.append(" ".join(words).capitalize() + ".")
    return "\n".join(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(sample_corpus(7), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def db(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("db") / "tiny.langdb"
    argv = ["build", "--corpus", str(corpus), "--order", "3", "--out", str(out), "-q"]
    code = cli.main([*argv, "--discount-fallback"])
    assert code == 0
    return out


def run(capsys, *argv, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_build_prints_the_path_and_hash(db, corpus, tmp_path, capsys):
    out_file = tmp_path / "again.langdb"
    code, out, _ = run(
        capsys,
        "build",
        "--corpus",
        corpus,
        "--order",
        "3",
        "--out",
        out_file,
        "-q",
        "--discount-fallback",
    )
    assert code == 0
    path, sha = out.strip().split("\t")
    assert path == str(out_file) and len(sha) == 64
    assert out_file.read_bytes() == db.read_bytes()  # deterministic


def test_predict_prints_word_tab_score_best_first(db, capsys):
    code, out, err = run(capsys, "predict", "--db", db, "-k", "5", "the cat ")
    assert code == 0 and err == ""
    rows = [line.split("\t") for line in out.splitlines()]
    assert 1 <= len(rows) <= 5
    scores = [int(score) for _, score in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(word in WORDS for word, _ in rows)


def test_predict_completes_the_last_word(db, capsys):
    _, out, _ = run(capsys, "predict", "--db", db, "-k", "10", "we s")
    words = [line.split("\t")[0] for line in out.splitlines()]
    assert words and all(w.startswith("s") for w in words)


def native_available() -> bool:
    try:
        from keyglide.engines import native
    except ImportError:
        return False
    return native.available()[0]


@pytest.mark.parametrize(
    "engine",
    [
        "reference",
        pytest.param(
            "native",
            marks=pytest.mark.skipif(not native_available(), reason="no native engine here"),
        ),
    ],
)
def test_both_engines_print_the_same(db, capsys, engine):
    _, expected, _ = run(capsys, "predict", "--db", db, "--engine", "reference", "then it ")
    _, out, _ = run(capsys, "predict", "--db", db, "--engine", engine, "then it ")
    assert out == expected


def test_interactive_mode_answers_each_line(db, capsys, monkeypatch):
    lines = b"the cat \nwe s\n"
    code, out, _ = run(
        capsys, "predict", "--db", db, "-k", "2", stdin=lines, monkeypatch=monkeypatch
    )
    assert code == 0
    blocks = out.split("\n\n")
    assert len([b for b in blocks if b.strip()]) == 2


def test_tokenize_writes_one_sentence_per_line(capsys, monkeypatch):
    data = "Mr. Darcy said: “Don’t go!” It's 3 o'clock.\n\nNew caf\xc3".encode() + b"\xff end"
    code, out, _ = run(capsys, "tokenize", stdin=data, monkeypatch=monkeypatch)
    assert code == 0
    expected = text.sentences(data.decode("utf-8", errors="replace"))
    assert out.splitlines() == [" ".join(s) for s in expected]


def test_inspect_shows_header_sections_and_metadata(db, capsys):
    code, out, _ = run(capsys, "inspect", "--verify", db)
    assert code == 0
    assert "format        1.0" in out and "VOCAB_BYTES" in out and "verified" in out
    code, out, _ = run(capsys, "inspect", "--json", db)
    summary = json.loads(out)
    assert summary["metadata"]["order"] == 3
    assert {s["name"] for s in summary["sections"]} >= {"META", "PROB", "CHILDREN"}


def test_perplexity_reports_figures(db, corpus, capsys):
    code, out, _ = run(capsys, "perplexity", "--db", db, "--text", corpus)
    assert code == 0
    fields = dict(line.split("\t")[:2] for line in out.splitlines())
    assert float(fields["perplexity"]) > 1
    assert int(fields["tokens"]) == sum(len(s) + 1 for s in text.sentences(corpus.read_text()))


def test_export_arpa(db, tmp_path, capsys):
    out_file = tmp_path / "tiny.arpa"
    code, _, _ = run(capsys, "export-arpa", "--db", db, "--out", out_file)
    assert code == 0
    assert out_file.read_text().startswith("\\data\\\nngram 1=")


# --- errors: one line, no traceback, non-zero exit ---------------------------------------


def assert_one_line_error(code, out, err, *needles):
    assert code != 0
    assert out == ""
    assert err.startswith("keyglide: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err


def test_missing_langdb(tmp_path, capsys):
    missing = tmp_path / "nope.langdb"
    assert_one_line_error(*run(capsys, "predict", "--db", missing, "x "), str(missing))


def test_corrupt_langdb(db, tmp_path, capsys):
    bad = tmp_path / "bad.langdb"
    bad.write_bytes(db.read_bytes()[:1000])
    assert_one_line_error(*run(capsys, "inspect", bad), "bad.langdb")
    assert_one_line_error(*run(capsys, "predict", "--db", bad, "x "))


def test_flipped_byte_is_found_by_verify(db, tmp_path, capsys):
    data = bytearray(db.read_bytes())
    data[-3] ^= 0x40
    bad = tmp_path / "flipped.langdb"
    bad.write_bytes(bytes(data))
    assert_one_line_error(*run(capsys, "verify", bad), "checksum")


def test_build_without_enough_arguments(capsys):
    assert_one_line_error(*run(capsys, "build", "--order", "3"), "RECIPE")


def test_build_of_an_empty_corpus(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("... !!! ???")
    out_file = tmp_path / "x.langdb"
    code, out, err = run(
        capsys, "build", "--corpus", empty, "--order", "2", "--out", out_file, "-q"
    )
    assert_one_line_error(code, out, err, "no tokens")
    assert not out_file.exists()


def test_negative_k(db, capsys):
    assert_one_line_error(*run(capsys, "predict", "--db", db, "-k", "-1", "x"), "-k")


def test_tiny_corpus_needs_discount_fallback(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("a b c. a b d.")
    out_file = tmp_path / "tiny.langdb"
    argv = ["build", "--corpus", corpus, "--order", "2", "--out", out_file, "-q"]
    assert_one_line_error(*run(capsys, *argv), "discount")
    code, _, _ = run(capsys, *argv, "--discount-fallback")
    assert code == 0 and out_file.exists()
