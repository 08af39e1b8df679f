"""The tokenization contract: how text becomes sentences of words.

This module is the one definition of the contract (tokenizer id ``keyglide-text-1``). The
builder uses it to count n-grams, the reference engine uses it to read the text before the
cursor, and the C kernel (``native/src/text.c``) re-implements it byte for byte. It is also
specified in ``langdb/FORMAT.md``, section "Tokenization contract". Changing any rule here
changes what every langdb means: it needs a new tokenizer id and a format change.

Character classes
    Classes come from tables frozen at Unicode 14.0 (``_unicode.py``, generated), never from
    the running Python's ``unicodedata``.

    * word character: general category L (letters), M (marks) or N (numbers). Digits are
      word characters, so ``1984`` and ``3rd`` are words. A mark only continues a word: it
      never starts one (so the variation selector U+FE0F after an emoji, or a combining
      accent after punctuation, is a separator).
    * joiner: ``'`` U+0027, ``’`` U+2019, ``-`` U+002D, ``‐`` U+2010, ``‑`` U+2011.
    * terminator: ``. ! ?`` and ``… ‼ ‽ ⁇ ⁈ ⁉ 。 ！ ？ ． ؟ । ॥``.
    * space: the Unicode White_Space code points.
    * line break: U+000A LINE FEED and U+2029 PARAGRAPH SEPARATOR (both are spaces too).
    * everything else (punctuation, symbols, emoji, controls, unassigned code points,
      lone surrogates, U+FFFD) separates words and is otherwise ignored.

Tokens
    A token is a run of word characters that starts with a letter or number, where a single
    joiner between a word character and a letter or number stays inside the token: ``don't``,
    ``o'clock``, ``well-known``; ``rock 'n' roll`` gives ``rock``, ``n``, ``roll``. A
    joiner at either end of a run, or two joiners in a row (``--``), separate. Punctuation
    and emoji never become tokens.

Folding
    Each token is folded for lookup: every code point is mapped by the simple (one to one)
    Unicode lowercase mapping, ``’`` becomes ``'`` and ``‐``/``‑`` become ``-``. Text is
    not normalized (NFC and NFD spellings of a word are different tokens). A folded token
    longer than ``MAX_WORD_BYTES`` bytes of UTF-8 is still a token, but it is never in a
    vocabulary, so it is looked up as ``<unk>``.

Sentences
    The gap between two tokens (and the gap after the last token) ends a sentence when

    1. it holds two or more line breaks (a blank line: paragraphs, headings), or
    2. it holds a terminator followed later in the gap by a space, or it runs to the end
       of the text and holds a terminator; except when every terminator in the gap is
       ``.`` and the token before it is a listed abbreviation (``ABBREVIATIONS``:
       ``Mr. Darcy`` stays one sentence).

    Sentences without tokens do not exist. A model wraps each sentence in ``<s>`` ... ``</s>``.

The word being typed
    For prediction, text is what lies before the cursor. If the last token reaches the end
    of the text, the user is still typing it: it is the *prefix* to complete, not a word of
    the context. A single joiner right after that token at the end of the text belongs to
    the prefix (``don'`` completes to ``don't``). Otherwise the next word is predicted. The
    context is the tokens of the current sentence before the prefix; a sentence that has
    just ended leaves an empty context (the start of a sentence).

Totality
    Every function here accepts any ``str`` (including lone surrogates, NUL and the
    replacement character from ``bytes.decode(errors="replace")``) and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keyglide import _unicode

TOKENIZER_ID = "keyglide-text-1"

# A folded token longer than this many UTF-8 bytes never enters a vocabulary. The C kernel
# folds into a buffer of this size, so the bound is part of the contract (keyglide.h's
# KG_MAX_WORD_BYTES; tests/test_constants.py checks that the two are equal).
MAX_WORD_BYTES = 64

# The character lists of the contract. This module is their one home: the kernel's copy
# (native/src/text_tables.h) is generated from them by native/tools/gen_sdk_headers.py.
JOINERS = "'\u2019-\u2010\u2011"
# How a token's joiners fold (the others fold to themselves).
JOINER_FOLDS = {"\u2019": "'", "\u2010": "-", "\u2011": "-"}
TERMINATORS = ".!?\u2026\u203c\u203d\u2047\u2048\u2049\u3002\uff01\uff1f\uff0e\u061f\u0964\u0965"
SPACES = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
LINE_BREAKS = "\u000a\u2029"
# The one terminator an abbreviation may be followed by without ending its sentence.
PERIOD = "."

# Titles that end in a period without ending the sentence. Folded forms.
ABBREVIATIONS = frozenset(
    "mr mrs ms messrs dr st jr sr prof rev capt col gen lt sgt hon mme mlle vs".split()
)


def _char_class(ranges) -> str:
    return "".join(f"{_escape(a)}-{_escape(b)}" if a != b else _escape(a) for a, b in ranges)


def _escape(cp: int) -> str:
    return f"\\U{cp:08x}"


def _starters(word_ranges, mark_ranges) -> list[tuple[int, int]]:
    """Word-character ranges minus the marks: the characters that may start a word."""
    marks = sorted(mark_ranges)
    out = []
    for a, b in word_ranges:
        for m_a, m_b in marks:
            if m_b < a or m_a > b:
                continue
            if m_a > a:
                out.append((a, m_a - 1))
            a = m_b + 1
        if a <= b:
            out.append((a, b))
    return out


_WORD = f"[{_char_class(_unicode.WORD_RANGES)}]"
_STARTER = f"[{_char_class(_starters(_unicode.WORD_RANGES, _unicode.MARK_RANGES))}]"
_JOINER = f"[{re.escape(JOINERS)}]"
_TOKEN_RE = re.compile(f"{_STARTER}{_WORD}*(?:{_JOINER}{_STARTER}{_WORD}*)*")
_TERMINATOR_RE = re.compile(f"[{re.escape(TERMINATORS)}]")
# A terminator with a space somewhere after it, inside one gap.
_TERMINATOR_THEN_SPACE_RE = re.compile(f"[{re.escape(TERMINATORS)}].*[{re.escape(SPACES)}]", re.S)
_OTHER_TERMINATOR_RE = re.compile(f"[{re.escape(TERMINATORS.replace(PERIOD, ''))}]")
_LINE_BREAK_RE = re.compile(f"[{LINE_BREAKS}]")

_FOLD = {a: b for a, b in _unicode.LOWER}
_FOLD.update({ord(joiner): ord(folded) for joiner, folded in JOINER_FOLDS.items()})
_JOINER_CHARS = frozenset(JOINERS)


def fold(token: str) -> str:
    """The lookup form of a token: simple lowercase, joiners normalized."""
    if token.isascii():
        return token.lower()  # identical to the table on ASCII, and much faster
    return token.translate(_FOLD)


def ends_sentence(gap: str, previous: str, at_end: bool) -> bool:
    """Whether ``gap``, the text after the folded token ``previous``, ends its sentence.

    ``at_end`` says that the gap runs to the end of the text.
    """
    if gap == " ":  # by far the most common gap; it never ends a sentence
        return False
    if len(_LINE_BREAK_RE.findall(gap)) >= 2:
        return True
    if at_end:
        ended = _TERMINATOR_RE.search(gap) is not None
    else:
        ended = _TERMINATOR_THEN_SPACE_RE.search(gap) is not None
    if ended and previous in ABBREVIATIONS and not _OTHER_TERMINATOR_RE.search(gap):
        return False
    return ended


def sentences(text: str) -> list[list[str]]:
    """Split text into sentences of folded tokens, as a model is trained and scored on."""
    return [[fold(token) for token in sentence] for sentence in written_sentences(text)]


def written_sentences(text: str) -> list[list[str]]:
    """``sentences`` with every token as written, not folded (how a builder learns how
    words are spelled)."""
    result: list[list[str]] = []
    current: list[str] = []
    matches = list(_TOKEN_RE.finditer(text))
    for i, match in enumerate(matches):
        token = match.group()
        current.append(token)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        gap = text[match.end() : end]
        # The test of " " first spares the fold of most tokens (ends_sentence does it too).
        if gap != " " and ends_sentence(gap, fold(token), at_end=end == len(text)):
            result.append(current)
            current = []
    if current:
        result.append(current)
    return result


def spans(text: str) -> list[tuple[int, int]]:
    """The tokens of ``text`` as (start, end) offsets, in order: ``text[start:end]`` is a
    token as written (fold it for lookup). The same tokens ``sentences`` and ``cursor`` read."""
    return [match.span() for match in _TOKEN_RE.finditer(text)]


@dataclass(frozen=True)
class Cursor:
    """What the text before the cursor asks for.

    ``context``: folded tokens of the current sentence before the word being typed.
    ``prefix``: the folded start of the word being typed, or ``None`` when the next word
    is to be predicted.
    """

    context: tuple[str, ...]
    prefix: str | None


def cursor(text: str) -> Cursor:
    """Read the text before the cursor: the context and the word being typed, if any."""
    matches = list(_TOKEN_RE.finditer(text))
    if not matches:
        return Cursor((), None)
    last = matches[-1]
    tail = text[last.end() :]
    if tail == "" or (len(tail) == 1 and tail in _JOINER_CHARS):
        prefix = fold(last.group() + tail)
        matches.pop()
    else:
        prefix = None
    context: list[str] = []
    for i, match in enumerate(matches):
        token = fold(match.group())
        context.append(token)
        end = (
            matches[i + 1].start()
            if i + 1 < len(matches)
            else (last.start() if prefix is not None else len(text))
        )
        if ends_sentence(text[match.end() : end], token, at_end=end == len(text)):
            context = []
    return Cursor(tuple(context), prefix)


def decode(data: bytes) -> str:
    """Bytes as the contract reads them: UTF-8, invalid sequences become U+FFFD."""
    return data.decode("utf-8", errors="replace")
