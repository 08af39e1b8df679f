"""The ``keyglide`` command: output formats and one-line errors, run in-process."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import keyglide
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    data = "Mr. Darcy said: “Don’t go!” It's 3 o'clock.\n\nNew café \U0001f600 end".encode()
    code, out, _ = run(capsys, "tokenize", stdin=data, monkeypatch=monkeypatch)
    assert code == 0
    expected = text.sentences(data.decode("utf-8"))
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
    assert_one_line_error(*run(capsys, *argv), "pass --discount-fallback")
    code, _, _ = run(capsys, *argv, "--discount-fallback")
    assert code == 0 and out_file.exists()


def test_user_errors_checked_before_the_api_keep_their_line(db, corpus, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("... !!! ???")
    examples = tmp_path / "examples.toml"
    examples.write_text('[[example]]\ntext = "the cat"\ncolour = "red"\n')
    too_many = keyglide.MAX_K + 1
    cases = [
        (
            ["predict", "--db", db, "-k", too_many, "the "],
            f"k must be an integer from 0 to {keyglide.MAX_K}, not {too_many}",
        ),
        (
            ["perplexity", "--db", db, "--text", empty],
            "perplexity is undefined for a text without words: it has no tokens",
        ),
        (
            ["report", db, "--text", corpus, "--out", tmp_path / "review", "-q"]
            + ["--examples", examples],
            f"{examples}: example 1 has unknown key(s) colour",
        ),
        (["compat", "check", db, "--sdk", "x.y"], "Invalid version: 'x.y'"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert_one_line_error(code, out, err)
        assert code == 2 and err == f"keyglide: error: {message}\n"
    assert not (tmp_path / "review").exists()


# --- bugs: a traceback and an exit status of their own ------------------------------------------


def fail_with(error: Exception):
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.mark.parametrize(
    "target, argv, error",
    [
        ("keyglide.reader.LangDBFile.describe", ["inspect", "{db}"], ValueError("bad value")),
        ("keyglide.LangDB.suggest", ["predict", "--db", "{db}", "the "], ValueError("bad k")),
        (
            "keyglide.LangDB.perplexity",
            ["perplexity", "--db", "{db}", "--text", "{corpus}"],
            ValueError("no tokens"),
        ),
        ("keyglide.compat.negotiate", ["compat", "check", "{db}"], TypeError("bad type")),
    ],
)
def test_an_unexpected_error_is_a_bug_not_a_user_error(
    db, corpus, capsys, monkeypatch, target, argv, error
):
    monkeypatch.setattr(target, fail_with(error))
    code, out, err = run(capsys, *(a.format(db=db, corpus=corpus) for a in argv))
    assert code == cli.EXIT_BUG and code not in (0, 1, 2)
    assert not err.startswith("keyglide: error: ")
    assert "Traceback (most recent call last):" in err
    assert f"{type(error).__name__}: {error}" in err
    assert err.splitlines()[-1].startswith("keyglide: internal error: ")


# --- text that is not UTF-8 ---------------------------------------------------------------------


def one_error_line(err: str) -> str:
    assert err.startswith("keyglide: error: ") and err.count("\n") == 1, err
    return err


@given(st.binary(max_size=64), st.binary(max_size=8))
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_tokenize_reads_utf8_and_refuses_anything_else(capsys, monkeypatch, head, tail):
    data = head + tail
    code, out, err = run(capsys, "tokenize", stdin=data, monkeypatch=monkeypatch)
    nul = data.find(b"\x00")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as e:
        assert code == 3 and out == ""
        assert "<stdin>: not UTF-8 text" in one_error_line(err)
        assert f"at byte offset {e.start if nul < 0 else min(nul, e.start)} " in err
    else:
        if nul >= 0:  # valid UTF-8, but a NUL: not text (UTF-16 or binary)
            assert code == 3 and f"a NUL byte, which text never holds at byte offset {nul} " in err
        else:
            assert code == 0 and err == ""
            assert out.splitlines() == [" ".join(s) for s in text.sentences(content)]


@pytest.mark.parametrize(
    "data, offset, hint",
    [
        ("Un café, s'il vous plaît.".encode("latin-1"), 6, ""),
        ("One two.\n".encode("utf-16"), 0, "UTF-16"),
        (b"ok ok\n" * 100 + b"\x00\x01\x02\xff", 600, "binary"),
        ("One two.\n".encode("utf-16-le"), 1, "UTF-16"),  # no byte order mark: the NULs
        (b"caf\xc3", 3, ""),  # cut inside a character
        (b"\xed\xa0\x80", 0, ""),  # an encoded surrogate is not UTF-8
    ],
)
def test_text_files_that_are_not_utf8_are_refused(db, tmp_path, capsys, data, offset, hint):
    path = tmp_path / "held-out.txt"
    path.write_bytes(data)
    for argv in (
        ["perplexity", "--db", db, "--text", path],
        ["crosscheck", "--db", db, "--text", path, "-q"],
        ["eval", "--db", db, "--text", path, "-q"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 3 and out == ""
        assert f"{path}: not UTF-8 text" in one_error_line(err)
        assert f"at byte offset {offset} " in err and hint in err


def test_a_utf8_byte_order_mark_is_read(db, tmp_path, capsys, monkeypatch):
    code, out, _ = run(capsys, "tokenize", stdin=b"\xef\xbb\xbfThe cat.", monkeypatch=monkeypatch)
    assert code == 0 and out == "the cat\n"
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + sample_corpus(3, 5).encode())
    code, out, _ = run(capsys, "perplexity", "--db", db, "--text", path)
    assert code == 0 and "perplexity" in out


def test_predict_refuses_text_that_is_not_utf8(db, capsys, monkeypatch):
    # Bytes of the command line that are not UTF-8 reach Python as lone surrogates.
    code, out, err = run(capsys, "predict", "--db", db, "the", "caf\udce9")
    assert code == 3 and out == ""
    assert "the text argument: not UTF-8 text" in one_error_line(err)
    assert "at byte offset 7 (0xe9)" in err
    # On standard input the offset counts from the start of the input.
    lines = b"the cat \nwe s\xff\n"
    code, out, err = run(capsys, "predict", "--db", db, stdin=lines, monkeypatch=monkeypatch)
    assert code == 3 and out.count("\n\n") == 1  # the first line was answered
    assert "<stdin>: not UTF-8 text" in one_error_line(err) and "byte offset 13 " in err


# --- outputs that are not regular files ---------------------------------------------------------


def make_output(tmp_path, kind: str):
    """An output path that exists and is not a regular file."""
    path = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to a device":
        if not os.path.exists("/dev/null"):
            pytest.skip("no /dev/null here")
        os.symlink("/dev/null", path)
    elif kind == "directory":
        path.mkdir()
    return path


def node(path):
    st = os.lstat(path)
    return st.st_mode, st.st_ino, os.readlink(path) if os.path.islink(path) else None


@pytest.mark.parametrize(
    "command, kind",
    [
        (command, kind)
        for command in ("build", "build --target-sdk", "convert", "export-arpa")
        for kind in ("fifo", "symlink to a device", "directory")
        # Without the check, export-arpa would open a FIFO and wait for a reader forever.
        if (command, kind) != ("export-arpa", "fifo")
    ],
)
def test_an_out_that_is_not_a_regular_file_is_refused(db, corpus, tmp_path, capsys, kind, command):
    out = make_output(tmp_path, kind)
    before, listing = node(out), sorted(os.listdir(tmp_path))
    argv = {
        "build": ["build", "--corpus", corpus, "--order", "2", "--discount-fallback", "-q"],
        "build --target-sdk": [
            "build",
            "--corpus",
            corpus,
            "--order",
            "2",
            "--discount-fallback",
            "-q",
            "--display-forms",
            "--target-sdk",
            ">=1.0,<1.1",
        ],
        "convert": ["convert", db],
        "export-arpa": ["export-arpa", "--db", db],
    }[command]
    code, stdout, err = run(capsys, *argv, "--out", out)
    assert code == 2 and stdout == ""
    assert f"--out {out} exists and is" in one_error_line(err) and "regular file" in err
    assert node(out) == before  # the node is left as it was
    assert sorted(os.listdir(tmp_path)) == listing  # and nothing was written beside it
    if kind == "directory":
        assert os.listdir(out) == []


def test_report_refuses_files_in_its_directory_that_are_not_regular(db, corpus, tmp_path, capsys):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null here")
    out = tmp_path / "review"
    out.mkdir()
    os.symlink("/dev/null", out / "index.html")
    argv = ["report", db, "--text", corpus, "--out", out, "-q"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "index.html exists and is a character device" in one_error_line(err)
    assert sorted(os.listdir(out)) == ["index.html"]
    (out / "index.html").unlink()
    (out / "summary.md").mkdir()
    code, _, err = run(capsys, *argv)
    assert code == 2 and "summary.md exists and is a directory" in one_error_line(err)
    file = tmp_path / "file"
    file.write_text("x")
    code, _, err = run(capsys, "report", db, "--text", corpus, "--out", file, "-q")
    assert code == 2 and "is not a directory" in one_error_line(err)


def test_a_regular_out_is_replaced_as_before(db, corpus, tmp_path, capsys):
    out = tmp_path / "old.langdb"
    out.write_bytes(b"old")
    link = tmp_path / "link.langdb"
    os.symlink(out, link)  # a symbolic link to a regular file: the link is replaced
    code, stdout, _ = run(capsys, "convert", db, "--out", link)
    assert code == 0 and not os.path.islink(link) and link.read_bytes() == db.read_bytes()
    assert out.read_bytes() == b"old"


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """`keyglide tokenize < big | head`: the pipe closes before keyglide writes; it stops
    quietly with status 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "keyglide.cli", "tokenize"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before keyglide has read its input, so before it writes
    _, err = proc.communicate(b"One sentence. Another one.\n" * 20000)
    assert proc.returncode == 0, err.decode()
    assert err == b""


def test_the_exit_status_tells_the_cause(db, tmp_path, capsys):
    """Usage 2, bad input file 3, a langdb this SDK does not read 4, another error 1."""
    fixtures = Path(__file__).resolve().parents[1] / "langdb" / "fixtures" / "1.0"
    cases = [
        (["predict", "--db", db, "-k", "999", "the "], cli.EXIT_USAGE),
        (["predict", "--db", tmp_path / "missing.langdb", "the "], cli.EXIT_BAD_INPUT),
        (["predict", "--db", fixtures / "truncated.langdb", "the "], cli.EXIT_BAD_INPUT),
        (["predict", "--db", fixtures / "unknown-major.langdb", "the "], cli.EXIT_INCOMPATIBLE),
    ]
    for argv, status in cases:
        code, _, err = run(capsys, *argv)
        assert code == status and err.startswith("keyglide: error: "), (argv, err)
    assert (cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_BAD_INPUT, cli.EXIT_INCOMPATIBLE) == (
        1,
        2,
        3,
        4,
    )
