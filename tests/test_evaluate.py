"""keyglide.evaluate: the metric definitions on a tiny hand-made model, worked out by hand.

The model (order 2, every backoff 0, so an unseen pair scores as the word's unigram):

    unigrams   the -1.0  </s> -1.5  cat -2.0  sat -2.5  then -3.0  there -3.1  they -3.2
               car -3.3  cart -3.4  (<unk> -5.0)
    bigrams    <s> the -0.5   the cat -0.3   cat sat -0.4

Text "The cat sat. They cart." is two sentences: [the cat sat] [they cart]. With k = 2:

    the   next word: [the, cat]                              accepted after 0 characters
    cat   after "the": [cat, the]                            accepted after 0
    sat   after "cat": [sat, the]                            accepted after 0
    they  after <s>: [the, cat]; "t", "th", "the": [the, then]   never: 4 + 1 keys
          hide offered: [the, cat]; "t": [then, there]; "th": [they]  accepted after 2
    cart  [the, cat]; "c", "ca": [cat, car]; "car": [car, cart]   accepted after 3
          hide offered: [the, cat]; "c": [car, cart]                  accepted after 1

Keys without prediction: 4 + 4 + 4 + 5 + 5 = 22. With: 1 + 1 + 1 + 5 + 4 = 12, so
KSR = 10/22; hiding offered words: 1 + 1 + 1 + 3 + 2 = 8, KSR = 14/22.
"""

from __future__ import annotations

import json
import math

import keyglide
import pytest
from conftest import build_model, written
from hypothesis import given
from hypothesis import strategies as st
from keyglide import text as contract
from keyglide.cli import main
from keyglide.engines import native
from keyglide.evaluate import Evaluation, _Simulation, evaluate, iter_sentences, read_texts
from keyglide.format import SPECIAL_TOKENS

WORDS = ["car", "cart", "cat", "sat", "the", "then", "there", "they"]
TEXT = "The cat sat. They cart."
ENGINES = ["reference"] + (["native"] if native.available()[0] else [])


def _model():
    vocab = [*SPECIAL_TOKENS, *WORDS]
    unigrams = {
        "the": -10000, "</s>": -15000, "cat": -20000, "sat": -25000, "then": -30000,
        "there": -31000, "they": -32000, "car": -33000, "cart": -34000,
    }
    ngrams = {w: (score, 0) for w, score in unigrams.items()}
    ngrams.update({"<s> the": (-5000, 0), "the cat": (-3000, 0), "cat sat": (-4000, 0)})
    return build_model(vocab, ngrams)


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("evaluate") / "tiny.langdb"
    path.write_bytes(written(_model()))
    return str(path)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_metrics_worked_out_by_hand(tiny_db, engine):
    result = evaluate(tiny_db, TEXT, k=2, hide_offered=True, engine=engine)
    assert isinstance(result, Evaluation)
    assert (result.engine, result.k) == (engine, 2)
    assert (result.words, result.sentences, result.characters) == (5, 2, 17)
    assert (result.keys_without, result.keys_with, result.keys_with_hide_offered) == (22, 12, 8)
    assert result.ksr == pytest.approx(10 / 22)
    assert result.ksr_hide_offered == pytest.approx(14 / 22)
    assert (result.next_word_top1, result.next_word_topk) == (3, 3)
    assert result.next_word_top1_accuracy == result.next_word_topk_accuracy == 3 / 5
    # After n letters: words longer than n; in the list once typed up to n characters.
    assert [result.completion_accuracy(n) for n in (1, 2, 3)] == [3 / 5, 3 / 5, 1 / 2]
    assert result.by_prefix[3] == [1, 2] and result.by_prefix[4] == [0, 0]
    assert result.accepted_after == [3, 0, 0, 1] and result.never_accepted == 1
    assert result.ksr_up_to(0) == pytest.approx(9 / 22)  # the, cat, sat save 3 keys each
    assert result.ksr_up_to(3) == result.ksr
    # A prediction per character typed until the word is shown; "they" is typed in full.
    assert result.predictions == 1 + 1 + 1 + 4 + 4
    assert result.oov_words == 0 and result.oov_rate == 0
    # the|<s> cat|the sat|cat </s>|sat they|<s> cart|they </s>|cart
    total = -5000 - 3000 - 4000 - 15000 - 32000 - 34000 - 15000
    assert result.log10prob == total / 10000
    assert (result.perplexity_tokens, result.perplexity_sentences) == (7, 2)
    assert result.perplexity == pytest.approx(10 ** (-total / 10000 / 7))
    with keyglide.open(tiny_db) as db:
        assert result.perplexity == pytest.approx(db.perplexity(TEXT))


def test_without_hiding_only_the_plain_ksr(tiny_db):
    result = evaluate(tiny_db, TEXT, k=2)
    assert result.keys_with == 12 and result.keys_with_hide_offered is None
    assert result.ksr_hide_offered is None
    assert result.to_dict()["ksr"]["hide_offered"] is None


def test_unknown_words_cost_their_length_and_ask_nothing(tiny_db):
    result = evaluate(tiny_db, "The dog.", k=2)
    assert (result.words, result.oov_words, result.oov_rate) == (2, 1, 0.5)
    assert (result.keys_without, result.keys_with) == (8, 1 + 4)
    assert result.predictions == 1  # only for "the"
    # <unk> is scored with its unigram: the|<s> <unk>|the </s>|<unk>
    assert result.log10prob == (-5000 - 50000 - 15000) / 10000
    assert result.perplexity_oov == 1


def test_characters_are_code_points_of_the_folded_token(tiny_db):
    result = evaluate(tiny_db, "Ünïcödé THE", k=2)
    assert result.characters == len("ünïcödé") + len("the")
    assert result.keys_without == 8 + 4


def test_limit_words_cuts_the_typing_not_the_perplexity(tiny_db):
    result = evaluate(tiny_db, TEXT, k=2, limit_words=4)
    assert (result.words, result.sentences) == (4, 2)
    assert (result.keys_without, result.keys_with) == (17, 8)
    assert result.perplexity_tokens == 7


def test_details_say_where_each_word_was_accepted(tiny_db):
    result = evaluate(tiny_db, TEXT, k=2, hide_offered=True, details=True)
    first, second = result.details
    assert first["words"] == ["the", "cat", "sat"] and first["accepted_after"] == [0, 0, 0]
    assert (first["keys_without"], first["keys_with"], first["keys_saved"]) == (12, 3, 9)
    assert second["accepted_after"] == [None, 3]
    assert second["hide_offered_accepted_after"] == [2, 1]
    assert second["oov"] == []
    assert evaluate(tiny_db, TEXT, k=2).details is None


def test_k_one_and_a_large_k(tiny_db):
    one = evaluate(tiny_db, TEXT, k=1)
    assert one.next_word_topk == one.next_word_top1 == 3
    everything = evaluate(tiny_db, TEXT, k=keyglide.MAX_K)
    # Every known word is suggested before its first character.
    assert everything.keys_with == everything.words
    assert everything.ksr == pytest.approx(1 - 5 / 22)


def _simulation(ranking: list[str], asked: list) -> tuple[_Simulation, dict[str, int]]:
    """A simulation over a fake engine that ranks words in a fixed order, whatever the
    context, and records what it is asked."""
    vocab = [*SPECIAL_TOKENS, *sorted(ranking)]
    ids = {w: i for i, w in enumerate(vocab)}

    def ask(data: bytes, k: int) -> list[int]:
        prefix = contract.cursor(data.decode()).prefix or ""
        asked.append((prefix, k))
        return [ids[w] for w in ranking if w.startswith(prefix)][:k]

    return _Simulation(ask, order=2, k=2, hide_offered=True, vocab=vocab, ids=ids), ids


def test_hide_offered_asks_past_the_hidden_words_that_still_match():
    asked: list = []
    simulation, ids = _simulation(["aa", "ab", "ac", "b", "c"], asked)
    typed = simulation._type(b" ", "ac", b"ac", ids["ac"], 2)
    # Before "a": [aa, ab], both hidden. After "a" both still match, so the engine is asked
    # for 2 + 2: [aa, ab, ac], and without the hidden ones the list is [ac]: accepted after
    # 1 character. The plain list after "a" is [aa, ab]: never accepted.
    assert asked == [("", 2), ("a", 4)]
    assert typed == (None, 1, None, 2)  # (plain, hide offered, rank before typing, calls)


def test_hidden_words_that_cannot_match_do_not_widen_the_question():
    asked: list = []
    simulation, ids = _simulation(["b", "c", "aa", "ab", "ac"], asked)
    typed = simulation._type(b" ", "ac", b"ac", ids["ac"], 2)
    # [b, c] hidden before "a" cannot come back after it: k stays 2, [aa, ab] both ways.
    assert asked == [("", 2), ("a", 2)]
    assert typed == (None, None, None, 2)


def test_hiding_accepts_earlier_and_the_plain_list_stops_the_questions():
    asked: list = []
    simulation, ids = _simulation(["x", "ab", "ac", "ad"], asked)
    assert simulation._type(b" ", "ad", b"ad", ids["ad"], 2) == (None, 1, None, 2)
    assert asked == [("", 2), ("a", 3)]  # "ab" was shown and still matches "a"
    asked.clear()
    assert simulation._type(b" ", "ab", b"ab", ids["ab"], 2) == (0, 0, 1, 1)
    assert asked == [("", 2)]  # shown before the first character: nothing more is asked


def test_evaluation_to_dict_is_json(tiny_db):
    data = evaluate(tiny_db, TEXT, k=2, hide_offered=True).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["ksr"]["keys_without"] == 22
    assert data["characters"].startswith("Unicode code points")
    assert set(data["completion"]) == {"1", "2", "3"}
    assert data["speed"]["predictions"] == 11


def test_an_open_langdb_is_evaluated_and_left_open(tiny_db):
    with keyglide.open(tiny_db) as db:
        result = keyglide.evaluate(db, TEXT, k=2)
        assert not db.closed
        assert result.keys_with == 12


@pytest.mark.parametrize(
    "kwargs",
    [{"k": 0}, {"k": keyglide.MAX_K + 1}, {"k": True}, {"limit_words": 0}, {"limit_words": 1.5}],
)
def test_bad_arguments_are_value_errors(tiny_db, kwargs):
    with pytest.raises(ValueError):
        evaluate(tiny_db, TEXT, **kwargs)


def test_an_empty_text(tiny_db):
    result = evaluate(tiny_db, "...", k=2)
    assert result.words == 0 and math.isnan(result.ksr) and math.isnan(result.perplexity)


# --- the text as the simulation reads it ----------------------------------------------------


_PIECES = st.sampled_from(
    ["The", "cat", "DON'T", "o’clock", "well-known", "Ünï", "1984", "x" * 70, " ", "  ", ", ",
     ". ", "! ", "\n", "\n\n", " - ", "— ", "Mr. ", "…", "’", "\r\n\r\n", "\u0301"]
)


@given(st.lists(_PIECES, max_size=30))
def test_a_sentence_rebuilt_from_its_words_reads_as_the_same_context(pieces):
    """The simulation sends " ".join(previous words) + " " + typed characters: the contract
    must read that as the same context and prefix, for every word of any text."""
    text = "".join(pieces)
    assert [s for s in iter_sentences(text)] == contract.sentences(text)
    for sentence in contract.sentences(text):
        for i, word in enumerate(sentence):
            before = " ".join(sentence[:i]) + " "
            assert contract.cursor(before) == contract.Cursor(tuple(sentence[:i]), None)
            for typed in range(1, len(word) + 1):
                cursor = contract.cursor(before + word[:typed])
                assert cursor.context == tuple(sentence[:i])
                assert cursor.prefix == word[:typed]


def test_sentences_are_read_a_block_at_a_time_exactly():
    paragraph = "One two three. Four five\nsix seven. " * 400
    text = "\n\n".join([paragraph] * 8) + "\n \n" + "Mr.\n\nSmith went"
    assert list(iter_sentences(text)) == contract.sentences(text)


def test_several_files_read_as_one_text(tmp_path):
    (tmp_path / "a.txt").write_text("one two", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three \u2014 four", encoding="utf-8")
    text = read_texts([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert contract.sentences(text) == [["one", "two"], ["three", "four"]]


def test_a_text_that_is_not_utf8_is_refused_with_its_name_and_offset(tmp_path):
    from keyglide import InvalidText

    (tmp_path / "a.txt").write_text("one two", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"three \xff four")
    with pytest.raises(InvalidText, match="b.txt: not UTF-8 text.* byte offset 6 \\(0xff\\)") as e:
        read_texts([tmp_path / "a.txt", tmp_path / "b.txt"])
    assert isinstance(e.value, keyglide.KeyglideError) and isinstance(e.value, ValueError)
    assert (e.value.name, e.value.offset) == (str(tmp_path / "b.txt"), 6)
    (tmp_path / "c.txt").write_bytes("one".encode("utf-16-le"))
    with pytest.raises(InvalidText, match="looks like UTF-16 or a binary file"):
        read_texts([tmp_path / "c.txt"])


# --- the command ----------------------------------------------------------------------------


def test_keyglide_eval(tiny_db, tmp_path, capsys):
    corpus = tmp_path / "held-out.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out, details = tmp_path / "eval.json", tmp_path / "details.jsonl"
    argv = ["eval", "--db", tiny_db, "--text", str(corpus), "-k", "2", "--hide-offered"]
    assert main([*argv, "--json", str(out), "--details", str(details), "-q"]) == 0
    printed = capsys.readouterr().out
    assert "45.45%" in printed and "63.64%" in printed and "Unicode code points" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(evaluate(tiny_db, TEXT, k=2, hide_offered=True)
                                         .to_dict() | {"speed": data["speed"]}))
    lines = details.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["keys_saved"] for line in lines] == [9, 1]


@pytest.mark.parametrize(
    "extra, message",
    [(["-k", "0"], "-k must be"), (["--limit-words", "0"], "--limit-words must be")],
)
def test_keyglide_eval_user_errors(tiny_db, tmp_path, capsys, extra, message):
    corpus = tmp_path / "held-out.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    assert main(["eval", "--db", tiny_db, "--text", str(corpus), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keyglide: error: ") and message in err and err.count("\n") == 1


def test_keyglide_eval_on_a_text_without_words(tiny_db, tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("... !!!", encoding="utf-8")
    assert main(["eval", "--db", tiny_db, "--text", str(corpus), "-q"]) == 2
    assert "no words" in capsys.readouterr().err


@pytest.mark.skipif(not native.available()[0], reason="the native kernel is not built")
@given(
    st.lists(st.sampled_from(["The", "cat", "ca", "t", "they ", "x", ". ", " ", "’"]), max_size=6),
    st.integers(0, 12),
)
def test_native_predict_ids_are_the_ids_of_predict(tiny_db, pieces, k):
    with keyglide.open(tiny_db, engine="native") as db:
        engine = db._live()[1]
        text = "".join(pieces)
        for query in (text, text + " ", text + " th"):
            expected = [engine.lookup(s.word) for s in engine.predict(query, k)]
            assert engine.predict_ids(query.encode(), k) == expected


@pytest.mark.parametrize("k", [3, 12])
def test_the_summary_is_aligned(tiny_db, k):
    def value_column(line: str) -> int:
        label_end = 0 if line.startswith(" ") else line.index("  ")
        rest = line[label_end:]
        return label_end + len(rest) - len(rest.lstrip())

    summary = evaluate(tiny_db, TEXT, k=k, hide_offered=True).summary()
    assert len({value_column(line) for line in summary.splitlines()}) == 1, summary
