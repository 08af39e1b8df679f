"""Counting n-grams: inputs are split into shards, each shard is counted on its own, and the
shards' counts are merged by summing.

A shard is a byte range of one input file, so that counting can run in worker processes
(``multiprocessing``, spawn-safe) or, later, on other machines. A shard numbers its words in
its own way; merging renames them into the final vocabulary (special tokens 0, 1, 2, then the
words in UTF-8 byte order) and sums the counts of equal n-grams. Nothing about the result
depends on how many workers ran or in which order shards finished.

The merged n-grams of each order are kept as a sorted trie level, the shape of the langdb
(FORMAT.md section 4.2): n-gram i of order n is ``(parent[i], word[i])``, ``parent`` being the
index of its first n - 1 words at order n - 1, sorted by ``parent * V + word``. Order 1 is the
whole vocabulary, word i at index i.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from keyglide import text
from keyglide.builder.recipe import InputFile
from keyglide.errors import BuildError
from keyglide.format import BOS, EOS, FIRST_WORD_ID, SPECIAL_TOKENS, UNK

# Files larger than this are split into several shards, at blank lines for text (a blank line
# always ends a sentence, so the shards' sentences are the file's) and at line ends for counts.
SHARD_BYTES = 4 << 20
# Below this much input, starting worker processes costs more than it saves.
POOL_MIN_BYTES = 8 << 20

_TEXT_SPLIT = re.compile(rb"\n[ \t\r\f\v]*\n")
_LINE_SPLIT = re.compile(rb"\n")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Shard:
    """A byte range of one input file, counted as a unit."""

    path: str
    start: int
    end: int
    kind: str  # "text" or "counts"
    order: int  # the model order (text) or the order of the file's lines (counts)
    spellings: bool = False  # count how words are written (text), for display forms


@dataclass
class OrderCounts:
    """The n-grams of one order, trie-sorted (see the module docstring), with raw counts.

    ``suffix``: the index at order n - 1 of each n-gram's last n - 1 words (for order 2, the
    last word; for order 1, 0: the empty context). Merging carries it along, so that nothing
    has to search for it.
    """

    parent: np.ndarray  # int64
    word: np.ndarray  # int64
    count: np.ndarray  # int64
    suffix: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.word)


@dataclass
class ShardCounts:
    """The counts of one shard, in the shard's own word ids.

    Local id ``FIRST_WORD_ID + i`` is ``words[i]``; 0, 1, 2 are the special tokens. Each
    order is numbered like a trie level (``parent`` and ``suffix`` index the shard's order
    below, ``word`` is a local id), though not sorted by final ids. A shard of counts lines
    of order k also holds every shorter n-gram inside its lines, with count 0, so that every
    shard holds the prefixes and suffixes of its n-grams.
    """

    words: list[str]
    orders: list[OrderCounts]
    tokens: int = 0
    sentences: int = 0
    skipped_lines: int = 0
    # When asked for (``Shard.spellings``): how often each token is written each way, its
    # sentences' first tokens excepted (a capital there says nothing about the word).
    spellings: dict[str, int] | None = None


@dataclass
class NGramCounts:
    """Merged raw counts of every order 1..N over the final vocabulary."""

    vocab: list[str]
    orders: list[OrderCounts]
    tokens: int
    sentences: int
    skipped_lines: int
    spellings: dict[str, int] | None = None  # summed over the shards that counted them

    @property
    def order(self) -> int:
        return len(self.orders)


# ---------------------------------------------------------------------------------------------
# Shards


def plan_shards(files: Sequence[InputFile], *, spellings: bool = False) -> list[Shard]:
    """Shards for every input file, in input order; ``spellings``: text shards also count
    how words are written."""
    shards = []
    for f in files:
        bounds = _split_points(f) if f.size > SHARD_BYTES else [0, f.size]
        for start, end in zip(bounds, bounds[1:], strict=False):
            shards.append(
                Shard(
                    path=str(f.path),
                    start=start,
                    end=end,
                    kind=f.kind,
                    order=f.order,
                    spellings=spellings and f.kind == "text",
                )
            )
    return shards


def _split_points(f: InputFile) -> list[int]:
    data = f.path.read_bytes()
    separator = _TEXT_SPLIT if f.kind == "text" else _LINE_SPLIT
    bounds = [0]
    target = SHARD_BYTES
    while target < len(data):
        match = separator.search(data, target)
        if match is None:
            break
        bounds.append(match.start() + 1)  # just after the first line feed
        target = bounds[-1] + SHARD_BYTES
    bounds.append(len(data))
    return bounds


def count_shard(shard: Shard) -> ShardCounts:
    """Count one shard (run in a worker process)."""
    with open(shard.path, "rb") as f:
        f.seek(shard.start)
        data = f.read(shard.end - shard.start)
    if shard.kind == "text":
        return _count_text(text.decode(data), shard.order, spellings=shard.spellings)
    return _count_lines(text.decode(data), shard.order)


def _count_text(content: str, order: int, *, spellings: bool = False) -> ShardCounts:
    sentences = text.written_sentences(content)
    written = [token for sentence in sentences for token in sentence]
    # Each distinct spelling is folded once; the stream is numbered by spelling, then by word.
    spelling_ids = {w: i for i, w in enumerate(dict.fromkeys(written))}
    folded = [text.fold(w) for w in spelling_ids]
    index = {w: i for i, w in enumerate(dict.fromkeys(folded), FIRST_WORD_ID)}
    word_of_spelling = np.array([index[f] for f in folded], dtype=np.int64)
    by_spelling = np.fromiter(map(spelling_ids.__getitem__, written), np.int64, len(written))
    ids = word_of_spelling[by_spelling]
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
    stream, room = _with_sentence_markers(ids, lengths)
    orders = _count_windows(stream, room, order, FIRST_WORD_ID + len(index))
    result = ShardCounts(list(index), orders, tokens=len(written), sentences=len(sentences))
    if spellings:
        inside = np.ones(len(written), dtype=bool)
        inside[(np.cumsum(lengths) - lengths)[lengths > 0]] = False  # first tokens
        times = np.bincount(by_spelling[inside], minlength=len(spelling_ids))
        result.spellings = {
            w: int(c) for w, c in zip(spelling_ids, times.tolist(), strict=True) if c
        }
    return result


def _with_sentence_markers(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The token stream ``<s> w1 .. wn </s> <s> ...`` and, at each position, how many tokens
    of its sentence follow it (an n-gram may start there if that is at least n - 1)."""
    spans = lengths + 2
    starts = np.cumsum(spans) - spans
    ends = starts + spans - 1
    stream = np.empty(int(spans.sum()), dtype=np.int64)
    is_word = np.ones(len(stream), dtype=bool)
    is_word[starts] = False
    is_word[ends] = False
    stream[starts] = BOS
    stream[ends] = EOS
    stream[is_word] = ids
    room = np.repeat(ends, spans) - np.arange(len(stream))
    return stream, room


def _count_windows(
    stream: np.ndarray,
    room: np.ndarray,
    order: int,
    local_vocab: int,
    top_weights: np.ndarray | None = None,
) -> list[OrderCounts]:
    """The distinct n-grams of orders 1..order in a token stream, where an n-gram may start
    at a position whose ``room`` is at least n - 1.

    Without ``top_weights`` each occurrence counts 1 at every order. With them (one weight
    per position where an n-gram of the top order starts), the top order's counts are their
    sums and the lower orders count 0: they are only there to complete the trie.

    N-grams of order n are numbered by sorting ``rank of the first n - 1 words * V + last
    word``, the rank coming from the order below, so keys never overflow; ``rank`` maps each
    position to the number of the n-gram that starts there.
    """
    unigrams, rank, occurrences = np.unique(stream, return_inverse=True, return_counts=True)
    orders = [_shard_order(np.zeros_like(unigrams), unigrams, occurrences, np.zeros_like(unigrams))]
    for n in range(2, order + 1):
        starts = np.flatnonzero(room >= n - 1)
        keys = rank[starts] * local_vocab + stream[starts + n - 1]
        distinct, first, inverse, occurrences = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        suffix = rank[starts[first] + 1]  # the n-1-gram starting one position later
        next_rank = np.zeros(len(stream), dtype=np.int64)
        next_rank[starts] = inverse
        rank = next_rank
        prefix, last = np.divmod(distinct, local_vocab)
        orders.append(_shard_order(prefix, last, occurrences, suffix))
    if top_weights is not None:
        for level in orders[:-1]:
            level.count = np.zeros(len(level), dtype=np.int64)
        top = orders[-1]
        top.count = np.bincount(rank[room >= order - 1], weights=top_weights, minlength=len(top))
        top.count = np.rint(top.count).astype(np.int64)
    return orders


def _shard_order(parent, word, count, suffix) -> OrderCounts:
    return OrderCounts(
        parent=parent.astype(np.int64),
        word=word.astype(np.int64),
        count=count.astype(np.int64),
        suffix=suffix.astype(np.int64),
    )


def _count_lines(content: str, order: int) -> ShardCounts:
    """Count lines ``w1 .. wk COUNT`` (k = order); malformed lines are skipped."""
    index: dict[str, int] = {}
    is_token: dict[str, bool] = {}
    ids: list[int] = []
    counts: list[int] = []
    skipped = 0
    for line in content.splitlines():
        fields = line.split()
        if not fields:
            continue
        words, count = fields[:-1], fields[-1]
        if len(words) != order or not (count.isascii() and count.isdigit()) or int(count) == 0:
            skipped += 1
            continue
        folded = [text.fold(w) for w in words]
        if not all(_single_token(w, f, is_token) for w, f in zip(words, folded, strict=True)):
            skipped += 1
            continue
        ids.extend(index.setdefault(f, FIRST_WORD_ID + len(index)) for f in folded)
        counts.append(int(count))
    stream = np.array(ids, dtype=np.int64)
    room = np.tile(np.arange(order - 1, -1, -1), len(counts))  # words left in the line
    weights = np.array(counts, dtype=np.float64)
    orders = _count_windows(stream, room, order, FIRST_WORD_ID + len(index), top_weights=weights)
    return ShardCounts(list(index), orders, skipped_lines=skipped)


def _single_token(word: str, folded: str, cache: dict[str, bool]) -> bool:
    """Whether ``word`` is exactly one token of the contract (punctuation makes it not)."""
    known = cache.get(word)
    if known is None:
        known = cache[word] = text.sentences(word) == [[folded]]
    return known


# ---------------------------------------------------------------------------------------------
# Running the shards


def count_shards(
    shards: Sequence[Shard], *, jobs: int, progress: Progress | None = None
) -> list[ShardCounts]:
    """Count every shard, in ``jobs`` worker processes (1, or a small input: in this
    process).

    The results come back in shard order whatever order the workers finish in.
    """
    results: list[ShardCounts | None] = [None] * len(shards)
    # Largest first, so that no worker is left with a big shard at the end.
    schedule = sorted(range(len(shards)), key=lambda i: (shards[i].start - shards[i].end, i))
    done = _Reporter(len(shards), progress)
    if jobs <= 1 or len(shards) <= 1 or sum(s.end - s.start for s in shards) < POOL_MIN_BYTES:
        for i in schedule:
            results[i] = count_shard(shards[i])
            done.add(results[i])
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(jobs, len(shards))) as pool:
            tasks = [(i, shards[i]) for i in schedule]
            for i, result in pool.imap_unordered(_count_indexed, tasks):
                results[i] = result
                done.add(result)
    return results  # type: ignore[return-value]


def _count_indexed(task: tuple[int, Shard]) -> tuple[int, ShardCounts]:
    i, shard = task
    return i, count_shard(shard)


class _Reporter:
    """Progress lines at about every tenth of the shards."""

    def __init__(self, total: int, progress: Progress | None):
        self.total, self.progress = total, progress
        self.done = self.tokens = 0
        self.start = time.perf_counter()
        self.step = max(1, total // 10)

    def add(self, result: ShardCounts) -> None:
        self.done += 1
        self.tokens += result.tokens
        if self.progress and (self.done % self.step == 0 or self.done == self.total):
            elapsed = time.perf_counter() - self.start
            self.progress(
                f"counted {self.done}/{self.total} shards, {self.tokens:,} tokens "
                f"({elapsed:.1f} s, {self.tokens / max(elapsed, 1e-9):,.0f} tokens/s)"
            )


# ---------------------------------------------------------------------------------------------
# Merging


def merge(results: Sequence[ShardCounts], order: int) -> NGramCounts:
    """Sum the shards' counts over the final vocabulary: every word seen, in UTF-8 byte order
    (for valid UTF-8, code point order), except those too long to be a langdb word, which
    become ``<unk>``."""
    seen = set().union(*(r.words for r in results))
    words = sorted(w for w in seen if len(w.encode("utf-8")) <= text.MAX_WORD_BYTES)
    vocab = list(SPECIAL_TOKENS) + words
    index = {w: i for i, w in enumerate(vocab)}
    parts = []
    for r in results:
        to_global = np.array([UNK, BOS, EOS] + [index.get(w, UNK) for w in r.words], dtype=np.int64)
        # A counts shard of a lower order has nothing to say about the higher ones.
        empty = np.empty(0, dtype=np.int64)
        missing = [OrderCounts(empty, empty, empty, empty)] * (order - len(r.orders))
        parts.append((to_global, r.orders + missing))
    return NGramCounts(
        vocab=vocab,
        orders=merge_orders(len(vocab), order, parts),
        tokens=sum(r.tokens for r in results),
        sentences=sum(r.sentences for r in results),
        skipped_lines=sum(r.skipped_lines for r in results),
        spellings=_sum_spellings(results),
    )


def _sum_spellings(results: Sequence[ShardCounts]) -> dict[str, int] | None:
    counted = [r.spellings for r in results if r.spellings is not None]
    if not counted:
        return None
    total: dict[str, int] = {}
    for spellings in counted:
        for w, c in spellings.items():
            total[w] = total.get(w, 0) + c
    return total


def merge_orders(
    vocab_size: int, order: int, parts: Sequence[tuple[np.ndarray, list[OrderCounts]]]
) -> list[OrderCounts]:
    """Trie levels over the final vocabulary from parts numbered their own way.

    Each part is ``(to_global, orders)``: its orders (see ``ShardCounts``) and the final id
    of each of its word ids. Equal n-grams are merged, their counts summed. Order by order,
    each part's n-grams learn their final index, which renames the parents and suffixes of
    the order above.
    """
    final = [to_global[orders[0].word] for to_global, orders in parts]
    unigram_counts = np.bincount(
        np.concatenate(final),
        weights=np.concatenate([orders[0].count for _, orders in parts]).astype(np.float64),
        minlength=vocab_size,
    )
    zeros = np.zeros(vocab_size, dtype=np.int64)
    merged = [
        OrderCounts(zeros, np.arange(vocab_size), np.rint(unigram_counts).astype(np.int64), zeros)
    ]
    for n in range(2, order + 1):
        # Each part's order n, with the final index of each of its n-1-grams.
        levels = [
            (g, orders[n - 1], below) for (g, orders), below in zip(parts, final, strict=True)
        ]
        keys = np.concatenate(
            [below[lv.parent] * vocab_size + g[lv.word] for g, lv, below in levels]
        )
        suffixes = np.concatenate([below[lv.suffix] for _, lv, below in levels])
        counts = np.concatenate([lv.count for _, lv, _ in levels])
        distinct, summed, inverse, first = _sum_equal(keys, counts)
        parent, word = np.divmod(distinct, vocab_size)
        merged.append(OrderCounts(parent, word, summed, suffixes[first]))
        final = np.split(inverse, np.cumsum([len(lv) for _, lv, _ in levels])[:-1])
    return merged


def _sum_equal(
    keys: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys (sorted), the sum of the counts of each, the distinct index of every
    key, and one position holding each distinct key."""
    order = np.argsort(keys)
    ordered = keys[order]
    is_first = np.ones(len(keys), dtype=bool)
    is_first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(is_first)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(is_first) - 1
    summed = np.add.reduceat(counts[order], starts) if len(keys) else counts
    return ordered[starts], summed, inverse, order[starts]


# ---------------------------------------------------------------------------------------------
# After merging


def complete_raw_counts(counts: NGramCounts) -> None:
    """Give every n-gram at least the counts its extensions imply, from the highest order
    down: raw(g) >= sum of raw(g w) and >= sum of raw(v g).

    For text this changes nothing (inside ``<s> .. </s>`` every occurrence of an n-gram is
    extended on both sides but at the sentence ends). For counts inputs it gives the shorter
    n-grams that only appear inside longer lines a count, and makes every count at least
    that of any n-gram containing it, which pruning needs to keep a valid trie.
    """
    for n in range(counts.order - 1, 0, -1):
        lower, upper = counts.orders[n - 1], counts.orders[n]
        weights = upper.count.astype(np.float64)
        right = np.bincount(upper.parent, weights=weights, minlength=len(lower))
        left = np.bincount(upper.suffix, weights=weights, minlength=len(lower))
        implied = np.rint(np.maximum(right, left)).astype(np.int64)
        lower.count = np.maximum(lower.count, implied)


def limit_vocabulary(counts: NGramCounts, size: int) -> NGramCounts:
    """Keep the ``size`` most frequent words (raw unigram count, ties by UTF-8 bytes); the
    others become ``<unk>``, and the n-grams that become equal are merged."""
    words = len(counts.vocab) - FIRST_WORD_ID
    if size >= words:
        return counts
    frequency = counts.orders[0].count[FIRST_WORD_ID:]
    ranked = np.lexsort((np.arange(words), -frequency))  # count descending, then id
    kept = np.sort(ranked[:size]) + FIRST_WORD_ID
    new_id = np.full(len(counts.vocab), UNK, dtype=np.int64)
    new_id[:FIRST_WORD_ID] = np.arange(FIRST_WORD_ID)
    new_id[kept] = np.arange(FIRST_WORD_ID, FIRST_WORD_ID + size)
    vocab = list(SPECIAL_TOKENS) + [counts.vocab[i] for i in kept]
    return NGramCounts(
        vocab=vocab,
        orders=merge_orders(len(vocab), counts.order, [(new_id, counts.orders)]),
        tokens=counts.tokens,
        sentences=counts.sentences,
        skipped_lines=counts.skipped_lines,
        spellings=counts.spellings,
    )


def check_not_empty(counts: NGramCounts) -> None:
    if counts.orders[0].count.sum() == 0:
        raise BuildError(
            "the inputs hold no tokens: nothing to build a model from (are the corpus files "
            "empty, or are all counts lines malformed?)"
        )


def display_forms(counts: NGramCounts) -> dict[int, str]:
    """The display form of each word (FORMAT.md section 10): its most frequent spelling in
    the counted text, the folded spelling winning ties, then the smallest UTF-8 bytes; only
    the words whose display form is not the folded spelling are listed."""
    best: dict[str, tuple[int, bool, bytes, str]] = {}
    for written, times in (counts.spellings or {}).items():
        word = text.fold(written)
        key = (-times, written != word, written.encode("utf-8"), written)
        if word not in best or key < best[word]:
            best[word] = key
    forms = {}
    for i, word in enumerate(counts.vocab[FIRST_WORD_ID:], FIRST_WORD_ID):
        choice = best.get(word)
        if choice is not None and choice[3] != word:
            forms[i] = choice[3]
    return forms
