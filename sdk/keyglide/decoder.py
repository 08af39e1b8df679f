"""The typing decoder (``keyglide-typing-1``): what the user meant by what they typed.

This module is the definition; the C kernel (``native/src/decode.c``) computes the same
suggestions and the same integer scores. FORMAT.md section 12 summarises it.

A word w is scored by how likely it is in its context and how likely the keystrokes are if
the user meant w, both as integer log10 scores (1 unit = 0.0001 of log10):

    score(w) = lm(w | context) - penalty(typed | w)

``lm`` is the langdb's score (FORMAT.md section 5). ``penalty`` is the cheapest way to type
a *prefix* of w as the keystrokes t_1 .. t_m, where each step of the alignment costs:

* **match**: t_j typed for the word's next character c. The touch point p_j (or, without
  one, the centre of t_j's key) is scored by a 2-D Gaussian around the centre of c's key:
  ``spatial(p, key) = SPATIAL_WEIGHT * ((dx / width)^2 + (dy / height)^2)``, capped at
  ``SPATIAL_CAP``. When t_j = c this is the whole cost. When t_j is on c's key as an
  alternate (``e`` for ``é``) it costs ``ACCENT`` more. Otherwise it is a *substitution*,
  one edit, allowed only while ``spatial`` is at most ``SUBSTITUTION_LIMIT`` (the
  neighbouring keys).
* **omission** of the word's character c (the user skipped it): ``OMIT``, one edit;
  ``DOUBLE`` for the second of a doubled letter (``tomorow``); ``JOINER`` and no edit for
  an apostrophe or hyphen (``dont`` for ``don't``).
* **insertion** of t_j (a key the word does not have): ``INSERT``, one edit; ``DOUBLE``
  when t_j repeats t_{j-1} (``tomorrrow``).
* **transposition** of two adjacent characters (``teh`` for ``the``): ``TRANSPOSE`` plus
  the spatial costs of the two touches on the keys they meant, one edit.

The first keystroke is always matched (exactly, as an accent, a substitution or in a
transposition): neither omissions nor insertions come before it. Keyboards assume so, and
it keeps the search small. At most ``max_edits(m)`` edits are allowed: 0 for one keystroke,
1 up to four, 2 from five.

The alignment is found by dynamic programming over the vocabulary as a character trie. The
vocabulary is sorted by UTF-8 bytes, so the words that start with a prefix are one id range
and a trie node is such a range: no index is stored in the file. Rows of the table are
kept per (keystrokes consumed, edits used), so a path is pruned as soon as no cell of its
row is within the edit budget: the work per keystroke is bounded by the budget, not by the
vocabulary. A word of more than ``MAX_DECODE`` keystrokes is not aligned: the words that
start with it exactly are offered at penalty 0 (touches not counted), and no edit is made.

A *node* (a prefix P of some words) whose row has consumed all m keystrokes offers every
word that starts with P, at the penalty of its cell; a word takes the smallest penalty any
of its prefixes offers. The word spelled exactly P is a *whole-word* match.

Three answers come from these scores.

1. **The strip**: the k best words by ``score``, score descending, then id ascending
   (ids < 3 and blocklisted words are never offered).
2. **The correction**: among whole-word matches other than the typed word itself, the best
   by ``lm(w) - penalty_whole(w)`` (the same order). Its ``confidence`` is that score minus
   the typed word's own: ``lm(typed)``, or ``lm(<unk>) - UNKNOWN`` for a word the
   vocabulary lacks, minus ``exact_penalty``, what its touches cost on the keys typed (so
   that touch noise, which every candidate pays, weighs on the typed word too).
   A space auto-corrects when the confidence is at least the integrator's threshold
   (``DEFAULT_THRESHOLD`` by default).
3. **The correction is always shown** when a space would apply it: if the strip does not
   hold it, it takes the strip's last place, at its own score. (The typed word itself is
   ``Strip.typed``: a keyboard shows it as the way to keep what was typed.)
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from keyglide import text as contract
from keyglide.engines import Suggestion
from keyglide.errors import CorruptLangDB
from keyglide.format import FIRST_WORD_ID, UNK
from keyglide.keyboard import GridKey, Layout, quantize

TYPING_MODEL = "keyglide-typing-1"

# Penalties, in score units (0.0001 of log10). The kernel's copy, native/src/typing_tables.h,
# is generated from them (native/tools/gen_sdk_headers.py); tests/test_constants.py checks it.
SPATIAL_WEIGHT = 20000  # a touch one key width (or height) from the centre: sigma ~ 0.35 key
SPATIAL_CAP = 200000
SUBSTITUTION_LIMIT = 30000  # the neighbouring keys, diagonals included, not two keys away
ACCENT = 5000
OMIT = 30000
INSERT = 30000
DOUBLE = 15000
TRANSPOSE = 25000
JOINER = 2000
# What a typed word the vocabulary lacks scores below lm(<unk>): <unk> stands for every
# unknown word at once, so it is likelier than any one of them.
UNKNOWN = 45000
# The typed keystrokes the decoder aligns with edits; longer words are matched exactly after.
MAX_DECODE = 32
# Confidence (score units) from which a space auto-corrects, unless the caller sets another.
DEFAULT_THRESHOLD = 10000

# Which folded characters are joiners (text.JOINER_FOLDS maps the rest onto these).
_JOINERS = frozenset(contract.fold(j) for j in contract.JOINERS)


def max_edits(m: int) -> int:
    """How many edits an alignment of m keystrokes may use."""
    return 0 if m <= 1 else 1 if m <= 4 else 2


def spatial_cost(x: int, y: int, key: GridKey) -> int:
    """The Gaussian's penalty for a touch at grid point (x, y) meant for ``key``."""
    dx, dy = x - key.x, y - key.y
    cost = (SPATIAL_WEIGHT * dx * dx) // (key.width * key.width) + (SPATIAL_WEIGHT * dy * dy) // (
        key.height * key.height
    )
    return min(cost, SPATIAL_CAP)


@dataclass(frozen=True)
class Keystrokes:
    """The word being typed, as the decoder sees it: folded characters, and per character
    its key on the layout and its grid point (a touch, or its key's centre; None off the
    layout)."""

    chars: str
    keys: tuple[int | None, ...]
    points: tuple[tuple[int, int] | None, ...]


def keystrokes(
    prefix: str, touches: Sequence[tuple[float, float] | None], layout: Layout
) -> Keystrokes:
    """The folded ``prefix`` with its touches (already checked: one per character)."""
    chars = contract.fold(prefix)
    keys, points = [], []
    for char, touch in zip(chars, touches, strict=True):
        key = layout.key_of(char)
        keys.append(key)
        if touch is not None:
            points.append((quantize(touch[0]), quantize(touch[1])))
        elif key is not None:
            points.append((layout.grid[key].x, layout.grid[key].y))
        else:
            points.append(None)
    return Keystrokes(chars, tuple(keys), tuple(points))


class Strip(NamedTuple):
    """What a keyboard shows and does after a keystroke (``LangDB.suggest``).

    ``typed``: the folded word being typed (None when the next word is predicted).
    ``suggestions``: the suggestion strip, best first (completions and corrections).
    ``correction``: the best whole-word replacement for the typed word, or None.
    ``confidence``: how much more likely the correction is than the typed word (score
    units), or None. ``autocorrect``: True when a space should replace the typed word with
    ``correction`` (``confidence`` reached the threshold).
    """

    typed: str | None
    suggestions: list[Suggestion]
    correction: Suggestion | None
    confidence: int | None
    autocorrect: bool


# A row of the alignment table: cell [j][e] is the least penalty of typing the node's prefix
# as the first j keystrokes with e edits, or None.
Row = list[list[int | None]]


class Node(NamedTuple):
    """A trie node whose row consumed every keystroke: words [lo, hi) at ``penalty``."""

    lo: int
    hi: int
    penalty: int
    whole: bool  # word lo is the prefix itself


class Decoder:
    """The alignment of keystrokes with the vocabulary of one file (see the module docstring).

    ``word_bytes(i)`` is word i's UTF-8 bytes and ``vocab_size`` the number of ids; the words
    from id 3 on are sorted by their bytes.
    """

    def __init__(self, word_bytes: Callable[[int], bytes], vocab_size: int, layout: Layout):
        self._word = word_bytes
        self._size = vocab_size
        self._layout = layout

    def nodes(self, typed: Keystrokes) -> Iterator[Node]:
        """Every trie node that consumes all keystrokes within the edit budget, in byte order."""
        m = len(typed.chars)
        if m > MAX_DECODE:
            # Too long to align: the keystrokes are matched exactly, at no penalty.
            prefix = typed.chars.encode("utf-8")
            lo, hi = self._range(prefix, FIRST_WORD_ID, self._size)
            if lo < hi:
                yield Node(lo, hi, 0, self._word(lo) == prefix)
            return
        self._typed, self._m, self._budget = typed, m, max_edits(m)
        root: Row = [[None] * (self._budget + 1) for _ in range(m + 1)]
        root[0][0] = 0
        yield from self._walk(b"", FIRST_WORD_ID, self._size, "", [root])

    def _walk(
        self,
        prefix: bytes,
        lo: int,
        hi: int,
        path: str,
        rows: list[Row],
        only: frozenset[str] | None = None,
    ) -> Iterator[Node]:
        """The nodes below ``prefix`` (words [lo, hi)), whose rows so far are ``rows``;
        ``only``: the next characters that can still be alive (below a dead node)."""
        for char, child_lo, child_hi in self._children(prefix, lo, hi):
            if only is not None and char not in only:
                continue
            row = self._row(rows, path, char)
            child = prefix + char.encode("utf-8")
            if _alive(row):
                ends = [cell for cell in row[self._m] if cell is not None]
                if ends:
                    yield Node(child_lo, child_hi, min(ends), self._word(child_lo) == child)
                yield from self._walk(child, child_lo, child_hi, path + char, [*rows, row])
                continue
            # No cell within the budget: nothing below is alive, except a transposition that
            # skips this node (its row is not used by it: ``cost`` for ``ocst``, where ``c`` is
            # dead but ``co`` is ``oc`` swapped).
            swaps = self._swaps(rows[-1], char)
            if swaps:
                yield from self._walk(child, child_lo, child_hi, path + char, [*rows, row], swaps)

    def _swaps(self, parent: Row, char: str) -> frozenset[str]:
        """The characters c for which the node ``... char c`` can be reached by transposing
        keystrokes j-1, j (typed as ``c char``) from the row ``parent`` of ``...``."""
        t = self._typed.chars
        return frozenset(
            t[j - 2]
            for j in range(2, self._m + 1)
            if t[j - 1] == char and any(cell is not None for cell in parent[j - 2][:-1])
        )

    def _children(self, prefix: bytes, lo: int, hi: int) -> Iterator[tuple[str, int, int]]:
        """The next characters after ``prefix`` among words [lo, hi), with their ranges."""
        i = lo
        if i < hi and self._word(i) == prefix:
            i += 1  # the word that is the prefix itself has no next character
        while i < hi:
            rest = self._word(i)[len(prefix) :]
            char = _first_char(rest)
            child_lo, child_hi = self._range(prefix + char.encode("utf-8"), i, hi)
            yield char, child_lo, child_hi
            i = child_hi

    def _range(self, prefix: bytes, lo: int, hi: int) -> tuple[int, int]:
        """The ids in [lo, hi) of the words that start with ``prefix`` (a sorted range)."""
        ids = range(hi)
        first = bisect.bisect_left(ids, prefix, lo, hi, key=self._word)
        width = len(prefix)
        last = bisect.bisect_right(ids, prefix, first, hi, key=lambda i: self._word(i)[:width])
        return first, last

    def _row(self, rows: list[Row], path: str, char: str) -> Row:
        """The row of the node ``path + char`` from its parent's (and grandparent's) rows."""
        t, m, budget = self._typed, self._m, self._budget
        parent = rows[-1]
        grand = rows[-2] if len(rows) >= 2 else None
        before = path[-1] if path else None
        row: Row = [[None] * (budget + 1) for _ in range(m + 1)]
        for j in range(m + 1):
            for e in range(budget + 1):
                options = []
                # Omission of ``char`` (never before the first keystroke).
                if j >= 1:
                    if char in _JOINERS:
                        options.append(_add(parent[j][e], JOINER))
                    elif e >= 1:
                        cost = DOUBLE if char == before else OMIT
                        options.append(_add(parent[j][e - 1], cost))
                # Keystroke j typed for ``char``.
                if j >= 1:
                    matched = self._match(j - 1, char)
                    if matched is not None:
                        cost, edits = matched
                        if e >= edits:
                            options.append(_add(parent[j - 1][e - edits], cost))
                # Insertion of keystroke j (never before the word's first character).
                if j >= 2 and e >= 1:
                    cost = DOUBLE if t.chars[j - 1] == t.chars[j - 2] else INSERT
                    options.append(_add(row[j - 1][e - 1], cost))
                # Transposition: keystrokes j-1, j typed for (before, char) swapped.
                if (
                    grand is not None
                    and j >= 2
                    and e >= 1
                    and before != char
                    and t.chars[j - 2] == char
                    and t.chars[j - 1] == before
                ):
                    cost = TRANSPOSE + self._touch(j - 2, char) + self._touch(j - 1, before)
                    options.append(_add(grand[j - 2][e - 1], cost))
                found = [o for o in options if o is not None]
                row[j][e] = min(found) if found else None
        return row

    def _match(self, j: int, char: str) -> tuple[int, int] | None:
        """(penalty, edits) of keystroke j typed for ``char``, or None if not allowed."""
        t = self._typed
        key = self._layout.key_of(char)
        if char == t.chars[j]:
            return self._touch(j, char), 0
        if key is None or t.points[j] is None:
            return None
        spatial = self._touch(j, char)
        if key == t.keys[j]:
            return ACCENT + spatial, 0
        if spatial <= SUBSTITUTION_LIMIT:
            return spatial, 1
        return None

    def exact_penalty(self, typed: Keystrokes) -> int:
        """What the keystrokes cost as typed: each touch on its own key (0 off the layout;
        0 beyond ``MAX_DECODE`` keystrokes, which are matched exactly at no penalty)."""
        self._typed = typed
        if len(typed.chars) > MAX_DECODE:
            return 0
        return sum(self._touch(j, char) for j, char in enumerate(typed.chars))

    def _touch(self, j: int, char: str) -> int:
        """spatial() of keystroke j's point on ``char``'s key (0 off the layout)."""
        key = self._layout.key_of(char)
        point = self._typed.points[j]
        if key is None or point is None:
            return 0
        return spatial_cost(point[0], point[1], self._layout.grid[key])


def decode(
    decoder: Decoder,
    typed: Keystrokes,
    lm: np.ndarray,
    blocked: np.ndarray,
    typed_id: int,
    k: int,
    threshold: int,
) -> tuple[list[tuple[int, int]], tuple[int, int] | None, int | None, bool]:
    """The strip as (id, score) pairs, the correction (id, score), its confidence and whether
    to auto-correct, from ``lm`` (every word's score in context) and the typed word's id
    (``UNK`` when the vocabulary lacks it)."""
    size = len(lm)
    best = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)  # least penalty per word
    correction: tuple[int, int] | None = None
    allowed = np.ones(size, dtype=bool)
    allowed[:FIRST_WORD_ID] = False
    allowed[blocked] = False
    for node in decoder.nodes(typed):
        best[node.lo : node.hi] = np.minimum(best[node.lo : node.hi], node.penalty)
        if node.whole and node.lo != typed_id and allowed[node.lo]:
            candidate = (node.lo, int(lm[node.lo]) - node.penalty)
            if correction is None or _before(candidate, correction):
                correction = candidate
    offered = allowed & (best != np.iinfo(np.int64).max)
    ids = np.flatnonzero(offered)
    scores = lm[ids] - best[ids]
    order = np.lexsort((ids, -scores))[:k]
    strip = [(int(ids[i]), int(scores[i])) for i in order]

    confidence = None
    autocorrect = False
    if correction is not None:
        own = int(lm[typed_id]) - (UNKNOWN if typed_id == UNK else 0)
        confidence = correction[1] - (own - decoder.exact_penalty(typed))
        autocorrect = confidence >= threshold
    if autocorrect and k > 0 and all(i != correction[0] for i, _ in strip):
        strip = strip[: k - 1] + [correction]
    return strip, correction, confidence, autocorrect


def _before(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether (id, score) a ranks before b: score descending, then id ascending."""
    return a[1] > b[1] or (a[1] == b[1] and a[0] < b[0])


def _alive(row: Row) -> bool:
    """Whether some cell of ``row`` is within the edit budget."""
    return any(cell is not None for cells in row for cell in cells)


def _add(cell: int | None, cost: int) -> int | None:
    return None if cell is None else cell + cost


def _first_char(data: bytes) -> str:
    """The first character of UTF-8 ``data`` (a vocabulary word: valid UTF-8)."""
    for size in range(1, 5):
        try:
            return data[:size].decode("utf-8")
        except UnicodeDecodeError:
            continue
    raise CorruptLangDB("a word of the vocabulary is not valid UTF-8")


__all__ = [
    "ACCENT",
    "DEFAULT_THRESHOLD",
    "DOUBLE",
    "INSERT",
    "JOINER",
    "MAX_DECODE",
    "OMIT",
    "SPATIAL_CAP",
    "SPATIAL_WEIGHT",
    "SUBSTITUTION_LIMIT",
    "TRANSPOSE",
    "TYPING_MODEL",
    "UNKNOWN",
    "Decoder",
    "Keystrokes",
    "Node",
    "Strip",
    "decode",
    "keystrokes",
    "max_edits",
    "spatial_cost",
]
