"""The tokenization contract (keyglide-text-1): its documented examples and its properties."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keyglide import text
from keyglide.text import Cursor, cursor, fold, sentences

# Any str at all: lone surrogates, controls, unassigned code points, U+FFFD.
any_text = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Cn", "Zs", "Po", "Mn", "So"])),
    st.binary().map(text.decode),
)

# Text that looks like prose: words, joiners, terminators, spaces, line breaks, emoji.
prose = st.lists(
    st.one_of(
        st.sampled_from(["word", "Don't", "O’Clock", "well-known", "Mr", "DR", "ÉCOLE", "3rd"]),
        st.sampled_from(list(text.JOINERS + text.TERMINATORS + text.SPACES)),
        st.sampled_from([" ", " ", ". ", "\n", "\n\n", "\u2029", "😀", ",", "--", "\ufffd"]),
    ),
    max_size=25,
).map("".join)

SEPARATORS = (
    text.SPACES
    + text.TERMINATORS
    + ',;:()[]{}"<>/\\|@#$%^&*+=~`\u00ab\u00bb\u201c\u201d\ufffd\u0000\u200d'
    + "😀🎉❤\U0001f3fd"
)


def tokens(content: str) -> list[str]:
    return [token for sentence in sentences(content) for token in sentence]


# --- documented examples ---------------------------------------------------------------------

SENTENCES = {
    "I don't know.": [["i", "don't", "know"]],
    "At five o'clock a well-known man": [["at", "five", "o'clock", "a", "well-known", "man"]],
    "Mr. Darcy arrived. Then he left": [["mr", "darcy", "arrived"], ["then", "he", "left"]],
    "Dr. Who. Then": [["dr", "who"], ["then"]],
    "Title\n\nFirst line\nsecond line": [["title"], ["first", "line", "second", "line"]],
    "Mr.\n\nSmith": [["mr"], ["smith"]],
    "Mr! Smith": [["mr"], ["smith"]],
    "Really?! Yes": [["really"], ["yes"]],
    "Wait… what": [["wait"], ["what"]],
    "a.b 3.14": [["a", "b", "3", "14"]],
    "rock-'n'": [["rock", "n"]],
    "well--known --x-- 'quoted'": [["well", "known", "x", "quoted"]],
    "don’t co‐op non‑stop": [["don't", "co-op", "non-stop"]],
    "ÉCOLE ΣΟΦΙΑ İstanbul": [["école", "σοφια", "istanbul"]],
    "I 😀 you 🎉": [["i", "you"]],
    "ab\ufffdcd a\x00b a\udc80b": [["ab", "cd", "a", "b", "a", "b"]],
    "end.": [["end"]],
    "": [],
    " ... !? ": [],
}


@pytest.mark.parametrize("content,expected", SENTENCES.items(), ids=list(SENTENCES))
def test_documented_sentences(content, expected):
    assert sentences(content) == expected


CURSORS = {
    "I don'": Cursor(("i",), "don'"),
    "I don’": Cursor(("i",), "don'"),
    "Hello": Cursor((), "hello"),
    "Hello ": Cursor(("hello",), None),
    "Hello. ": Cursor((), None),
    "Hello.": Cursor((), None),
    "Hi Mr. Da": Cursor(("hi", "mr"), "da"),
    "a. b": Cursor((), "b"),
    "well-": Cursor((), "well-"),
    "well--": Cursor(("well",), None),
    "one\n\ntwo ": Cursor(("two",), None),
    "😀": Cursor((), None),
    "": Cursor((), None),
}


@pytest.mark.parametrize("content,expected", CURSORS.items(), ids=list(CURSORS))
def test_documented_cursors(content, expected):
    assert cursor(content) == expected


def test_a_long_token_is_still_a_token():
    long = "x" * (text.MAX_WORD_BYTES + 10)
    assert sentences(f"a {long} b") == [["a", long, "b"]]


def test_invalid_utf8_separates_words():
    assert sentences(text.decode(b"caf\xc3 ok\xff\xfeyes")) == [["caf", "ok", "yes"]]


def test_emoji_with_a_variation_selector_leave_no_token():
    assert sentences("I ❤️ you #️⃣") == [["i", "you"]]
    assert cursor("love ❤️") == Cursor(("love",), None)


def test_marks_continue_words_but_never_start_them():
    assert sentences("cafe\u0301 \u0301x don'\u0301t") == [["cafe\u0301", "x", "don", "t"]]


# --- properties -----------------------------------------------------------------------------


@given(any_text)
def test_the_contract_is_total(content):
    assert isinstance(sentences(content), list)
    assert isinstance(cursor(content), Cursor)
    assert isinstance(fold(content), str)


@given(st.one_of(any_text, prose))
def test_tokens_hold_no_separator(content):
    for token in tokens(content):
        assert token
        assert not set(token) & set(SEPARATORS)
        assert token[0] not in text.JOINERS and token[-1] not in text.JOINERS
        assert not any(a in text.JOINERS and b in text.JOINERS for a, b in pairwise(token))


@given(st.one_of(any_text, prose))
def test_folded_tokens_are_fixed_points(content):
    for token in tokens(content):
        assert fold(token) == token
        assert sentences(token) == [[token]]  # a token is read back as itself


@given(st.one_of(any_text, prose))
def test_sentences_are_never_empty(content):
    assert all(sentences(content))


@given(st.one_of(any_text, prose))
def test_tokens_do_not_depend_on_sentence_breaks(content):
    # Sentence splitting only groups tokens; the tokens are those of the whole text.
    spaced = " ".join(content.splitlines())
    assert tokens(content) == tokens(spaced)


@given(st.one_of(any_text, prose))
def test_the_cursor_agrees_with_sentences(content):
    position = cursor(content)
    if position.prefix is None:
        # The next word would start a token of its own: the context is what precedes it.
        assert position.context == tuple(sentences(content + " next")[-1][:-1])
    else:
        last = sentences(content)[-1]
        assert position.context == tuple(last[:-1])
        assert position.prefix == last[-1] or (
            position.prefix[:-1] == last[-1] and position.prefix[-1] in "'-"
        )


@given(st.one_of(any_text, prose), st.sampled_from([" ", ". ", "\n\n"]))
def test_the_context_is_at_most_the_current_sentence(content, gap):
    context = cursor(content + gap).context
    assert len(context) <= max((len(s) for s in sentences(content)), default=0)
    if gap == "\n\n":
        assert context == ()
