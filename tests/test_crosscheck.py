"""``keyglide crosscheck``: the native kernel against the reference engine on real text.

On a langdb built from a novel of the shared corpus (train split) and text of the test
split; on the default English langdb; and with a difference planted in one engine, which
must be reported with its text and both answers (and make the command exit 1). The
questions a cross-check asks are checked against the tokenization contract: a query that
starts at a sentence start asks what the whole text up to the word asks.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import keyglide
import pytest
from conftest import novel_split, written
from hypothesis import given
from hypothesis import strategies as st
from keyglide import cli, crosscheck, text
from keyglide.engines import Suggestion, native
from keyglide.format import SPECIAL_TOKENS

AVAILABLE, WHY = native.available()
needs_native = pytest.mark.skipif(not AVAILABLE, reason=f"native engine unavailable: {WHY}")


# --- the questions ------------------------------------------------------------------------


WORDS = ["Mr", "mr", "Dr", "St", "don't", "o’clock", "well-known", "a", "I", "café", "ΣΊΣΥΦΟΣ"]
GAPS = [" ", " ", ". ", "! ", "? ", ".", "\n", "\n\n", ", ", " “", "” ", " - ", "--", "…", "'"]


@given(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(GAPS)), max_size=25),
    st.sampled_from(["", " ", ".", "x"]),
    st.sampled_from([0, 5, 40, crosscheck.WINDOW]),
)
def test_each_question_is_the_question_of_the_whole_text(pieces, end, window):
    content = "".join(w + g for w, g in pieces) + end
    spans = text.spans(content)
    asked = list(crosscheck.questions(content, window=window))
    kinds = [q.kind for q in asked]
    assert kinds.count(crosscheck.NEXT_WORD) == len(spans)
    assert kinds.count(crosscheck.COMPLETION) == sum(e - s for s, e in spans)
    scored = []
    for q in asked:
        if q.kind == crosscheck.SENTENCE:
            sentences = text.sentences(content[q.start : q.end])
            assert len(sentences) == 1
            scored += sentences
            continue
        asked_cursor = text.cursor(content[q.start : q.end])
        assert asked_cursor == text.cursor(content[: q.end]), (content, q)
        word_start, word_end = spans[q.position]
        if q.kind == crosscheck.NEXT_WORD:
            assert q.end == word_start and asked_cursor.prefix is None
        else:
            assert word_start < q.end <= word_end and asked_cursor.prefix is not None
    assert scored == text.sentences(content)  # every sentence scored once, whole


def test_limit_bounds_the_words_asked_about():
    content = "One two three. Four five six seven! Eight"
    asked = list(crosscheck.questions(content, limit=4))
    assert {q.position for q in asked} == {0, 1, 2, 3}
    assert [q for q in asked if q.kind == crosscheck.SENTENCE] == [
        crosscheck.Question(crosscheck.SENTENCE, 0, 0, content.index("Four")),
        crosscheck.Question(crosscheck.SENTENCE, 3, content.index("Four"), content.index("Eight")),
    ]
    assert list(crosscheck.questions("... !!", limit=10)) == []


# --- (a) a langdb built from a novel, text of the test split ------------------------------


@pytest.fixture(scope="module")
def novel_langdb(tmp_path_factory) -> Path:
    from keyglide.builder import Recipe, build

    novel = min(novel_split("train"), key=lambda f: (f.stat().st_size, f.name))  # the shortest
    out = tmp_path_factory.mktemp("novel") / "novel-3.langdb"
    build(
        Recipe.from_args(corpus=[novel], order=3), out, jobs=1, progress=False, source_commit=None
    )
    return out


def test_test_split_text_on_a_novel_langdb(novel_langdb):
    novel = novel_split("test")[0]
    content = text.decode(novel.read_bytes())
    # A passage from the body (past any front matter), from a paragraph start.
    start = content.index("\n\n", len(content) // 3) + 2
    passage = content[start : start + 20000]
    result = crosscheck.crosscheck(novel_langdb, passage, limit=600, k=5)
    assert result.ok, result.report()
    assert result.positions == 600 and result.next_word_calls == 600
    assert result.completion_calls > 1500 and result.sentence_calls > 10
    assert result.calls >= 2500


# --- (b) the default English langdb ---------------------------------------------------------

PARAGRAPH = """\
It was nearly nine o’clock when the letter finally arrived. Mrs. Hale read it twice, then
folded it and put it in the drawer with the others; she didn't say a word about it at
supper. "Are you going to answer him?" asked her daughter, who had seen the envelope on the
hall table. "I haven't decided yet," she said. "It depends on whether he means what he says,
and on what your father would have wanted."

The next morning the weather turned cold and wet. Dr. Grant came by at half past ten to
look at the boy's arm, which was healing well, and stayed for a cup of tea. They talked
about the new railway, the price of coal and the well-known family who had taken the big
house on the hill: nobody had seen them since the spring, and the village was full of
stories. Some people said they were ruined; others thought they had simply gone abroad for
the winter, as rich people often do!

By the end of the week she had written three replies and thrown every one of them away.
On Sunday, after church, she finally sat down at the kitchen table, took a fresh sheet of
paper, and wrote: "Dear Thomas, thank you for your kind letter. I would be happy to see you
again, if you are ever in this part of the country..." Then she stopped, because she could
not think of anything else to say, and because the kettle had started to boil.
"""


@pytest.mark.slow  # builds the default English langdb
@needs_native
@pytest.mark.skipif(
    importlib.util.find_spec("symspellpy") is None,
    reason="the default English langdb needs the symspellpy data: pip install 'keyglide[en]'",
)
def test_default_english_langdb(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYGLIDE_CACHE_DIR", str(tmp_path / "cache"))
    with keyglide.open() as db:
        path = db.path
    result = crosscheck.crosscheck(path, PARAGRAPH, limit=None, k=5)
    assert result.ok, result.report()
    assert result.positions == len(text.spans(PARAGRAPH)) > 250 and result.calls > 1000


# --- (c) a planted difference is reported ---------------------------------------------------


@pytest.fixture(scope="module")
def small_langdb(tmp_path_factory) -> Path:
    from conftest import random_model

    vocab = [*SPECIAL_TOKENS, *sorted({"and", "cat", "dog", "sat", "the", "don't", "a"})]
    path = tmp_path_factory.mktemp("small") / "small.langdb"
    path.write_bytes(written(random_model(seed=2, vocab=vocab, order=3)))
    return path


SMALL_TEXT = "The cat sat. A dog and the cat don't sit!\n\nThe dog sat and sat "


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_native
def test_identical_engines_exit_0(small_langdb, tmp_path, capsys):
    content = tmp_path / "text.txt"
    content.write_text(SMALL_TEXT, encoding="utf-8")
    code, out, err = run_cli(capsys, "crosscheck", "--db", small_langdb, "--text", content)
    assert code == 0, out + err
    words = len(text.spans(SMALL_TEXT))
    letters = sum(e - s for s, e in text.spans(SMALL_TEXT))
    calls = words + letters + len(text.sentences(SMALL_TEXT))
    assert out.startswith(f"{calls} calls checked: identical answers (")
    assert "difference" not in out


@needs_native
def test_a_planted_difference_is_reported(small_langdb, tmp_path, capsys, monkeypatch):
    original = native.NativeEngine.predict

    def planted(self, query, k):
        answer = original(self, query, k)
        if query.endswith("A dog and the ca"):  # one completion, in the second sentence
            answer = [Suggestion(s.word, s.score + (i == 0)) for i, s in enumerate(answer)]
        return answer

    monkeypatch.setattr(native.NativeEngine, "predict", planted)
    result = crosscheck.crosscheck(small_langdb, SMALL_TEXT, k=3)
    assert not result.ok and result.difference_count == 1
    (difference,) = result.differences
    assert difference.kind == crosscheck.COMPLETION
    assert difference.query == "The cat sat. A dog and the ca"
    assert difference.position == 7
    assert difference.native[0].score == difference.reference[0].score + 1
    assert difference.native[1:] == difference.reference[1:]

    content = tmp_path / "text.txt"
    content.write_text(SMALL_TEXT, encoding="utf-8")
    code, out, err = run_cli(capsys, "crosscheck", "--db", small_langdb, "--text", content)
    assert code == 1
    assert "1 difference (" in out.splitlines()[0]
    assert "difference 1: completion, word 7, k=5" in out
    assert "'The cat sat. A dog and the ca'" in out  # the text before the cursor
    reference_line = next(line for line in out.splitlines() if line.startswith("  reference"))
    native_line = next(line for line in out.splitlines() if line.startswith("  native"))
    assert reference_line.split()[1:] != native_line.split()[1:]
    assert "Traceback" not in err


@needs_native
def test_sums_and_failures_are_compared_too(small_langdb, monkeypatch):
    original = native.NativeEngine.score_sum

    def planted_sum(self, query):
        total, tokens = original(self, query)
        return (total - 1, tokens) if query.startswith("A dog") else (total, tokens)

    def failing(self, query, k):
        raise keyglide.CorruptLangDB("planted failure")

    monkeypatch.setattr(native.NativeEngine, "score_sum", planted_sum)
    result = crosscheck.crosscheck(small_langdb, SMALL_TEXT, k=3)
    assert result.difference_count == 1
    (difference,) = result.differences
    assert difference.kind == crosscheck.SENTENCE
    assert difference.query == "A dog and the cat don't sit!\n\n"
    assert difference.reference[0] == difference.native[0] + 1
    assert "score_sum" in result.report()

    monkeypatch.setattr(native.NativeEngine, "predict", failing)
    result = crosscheck.crosscheck(small_langdb, SMALL_TEXT, limit=2, k=3)
    predictions = result.next_word_calls + result.completion_calls
    assert result.difference_count == predictions  # every prediction; the sum is equal
    shown = result.report(shown=3)
    assert "native     error CorruptLangDB: planted failure" in shown
    assert f"... and {result.difference_count - 3} more" in shown
    assert len(result.differences) == min(crosscheck.MAX_KEPT, result.difference_count)


def test_arguments_are_checked(small_langdb, tmp_path, capsys):
    content = tmp_path / "text.txt"
    content.write_text(SMALL_TEXT, encoding="utf-8")
    for argv, needle in [
        (["-k", "0"], "-k"),
        (["-k", "257"], "-k"),
        (["--limit", "-1"], "--limit"),
    ]:
        code, out, err = run_cli(
            capsys, "crosscheck", "--db", small_langdb, "--text", content, *argv
        )
        assert code == 2 and out == "" and err.startswith("keyglide: error: ") and needle in err
    empty = tmp_path / "empty.txt"
    empty.write_text("... !!!", encoding="utf-8")
    code, out, err = run_cli(capsys, "crosscheck", "--db", small_langdb, "--text", empty)
    if AVAILABLE:
        assert code == 2 and "no words" in err
    missing = tmp_path / "missing.langdb"
    code, out, err = run_cli(capsys, "crosscheck", "--db", missing, "--text", content)
    assert code == 3 and str(missing) in err and err.count("\n") == 1


def test_without_the_kernel_the_error_says_why(small_langdb, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(native, "_PROBLEM", "the C kernel extension is not built")
    content = tmp_path / "text.txt"
    content.write_text(SMALL_TEXT, encoding="utf-8")
    code, out, err = run_cli(capsys, "crosscheck", "--db", small_langdb, "--text", content)
    assert code == 1 and out == ""
    assert err == (
        "keyglide: error: the native engine is not available: the C kernel extension is not built\n"
    )


def test_random_texts_on_the_small_langdb(small_langdb):
    """Words of the langdb and unknown ones, in any case, with any gaps."""
    if not AVAILABLE:
        pytest.skip(f"native engine unavailable: {WHY}")
    rng = random.Random(4)
    vocab = ["and", "cat", "dog", "sat", "the", "don't", "a", "Zebra", "CAT", "d", "x" * 70]
    pieces = [rng.choice(vocab) + rng.choice(GAPS) for _ in range(300)]
    content = "".join(pieces)
    result = crosscheck.crosscheck(small_langdb, content, limit=None, k=7)
    assert result.ok, result.report()
    assert result.positions == result.words == len(text.spans(content)) > 250
