"""Export a langdb's model as an ARPA file, for inspection and for other toolkits.

The file holds the dequantized values (score / 10000, written exactly with four decimals),
so a reader of ARPA backoff models (KenLM, SRILM) computes the same log10 probabilities as
``keyglide`` does, up to its own floating point. ``<s>`` carries -99 like every ARPA file,
because that is the score the format stores for it.

Each n-gram's full word sequence is rebuilt order by order: the children of n-gram i are
the entries CHILDREN[i] .. CHILDREN[i+1] - 1 of the next order, so ``np.repeat`` of the
indices by the children counts gives each entry's parent, and the parent's sequence plus
the entry's own word is its sequence. Lines are then assembled in blocks with numpy
object arrays, so millions of n-grams export in seconds.
"""

from __future__ import annotations

import os
from typing import TextIO

import numpy as np

from keyglide.format import SCORE_SCALE, Kind
from keyglide.reader import LangDBFile

_BLOCK = 1 << 18  # n-grams formatted at a time: bounds the memory of the strings


def export_arpa(db: str | os.PathLike | LangDBFile, out_path: str | os.PathLike) -> None:
    """Write the model of ``db`` (a path or an open ``LangDBFile``) to ``out_path``.

    The file is verified first: the export reads all of it anyway, and rebuilding word
    sequences from damaged CHILDREN or WORDS would fail in untyped ways or write nonsense.
    """
    if isinstance(db, LangDBFile):
        _export(db, out_path)
        return
    with LangDBFile.open(db) as file:
        _export(file, out_path)


def _export(file: LangDBFile, out_path: str | os.PathLike) -> None:
    file.verify()
    vocab = np.array([word.decode("utf-8") for word in file.all_word_bytes()], dtype=object)
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\\data\\\n")
        for n, count in enumerate(file.counts, start=1):
            out.write(f"ngram {n}={count}\n")
        sequences = np.arange(file.vocab_size).reshape(-1, 1)
        for n in range(1, file.order + 1):
            if n > 1:
                sequences = _extend(file, n, sequences)
            out.write(f"\n\\{n}-grams:\n")
            _write_order(file, n, vocab, sequences, out)
        out.write("\n\\end\\\n")


def _extend(file: LangDBFile, n: int, parents: np.ndarray) -> np.ndarray:
    """The word sequences of order n from those of order n - 1."""
    children = file.column(Kind.CHILDREN, n - 1)
    parent_of = np.repeat(np.arange(len(parents)), np.diff(children.slice(0, len(children))))
    words = file.column(Kind.WORDS, n)
    return np.column_stack((parents[parent_of], words.slice(0, len(words))))


def _write_order(
    file: LangDBFile, n: int, vocab: np.ndarray, sequences: np.ndarray, out: TextIO
) -> None:
    """Lines "prob<TAB>w1 .. wn[<TAB>backoff]". The separators are folded into the strings
    that are indexed (codebook entries, words) so that a line costs n + 1 concatenations."""
    probs = _decimals(file, Kind.PROB_CODEBOOK, n) + "\t"
    has_backoff = n < file.order
    if has_backoff:
        backoffs = "\t" + _decimals(file, Kind.BACKOFF_CODEBOOK, n) + "\n"
        backoff_codes = _codes(file, Kind.BACKOFF, n)
    prob_codes = _codes(file, Kind.PROB, n)
    inner, last = vocab + " ", vocab if has_backoff else vocab + "\n"
    for start in range(0, len(sequences), _BLOCK):
        block = slice(start, start + _BLOCK)
        lines = probs[prob_codes[block]]
        for column in range(n - 1):
            lines = lines + inner[sequences[block, column]]
        lines = lines + last[sequences[block, n - 1]]
        if has_backoff:
            lines = lines + backoffs[backoff_codes[block]]
        out.write("".join(lines.tolist()))


def _codes(file: LangDBFile, kind: Kind, n: int) -> np.ndarray:
    column = file.column(kind, n)
    return column.slice(0, len(column))


def _decimals(file: LangDBFile, kind: Kind, n: int) -> np.ndarray:
    """Each codebook entry as an exact decimal string (score / SCORE_SCALE)."""
    codebook = file.column(kind, n)
    return np.array([_decimal(int(s)) for s in codebook.slice(0, len(codebook))], dtype=object)


def _decimal(score: int) -> str:
    digits = len(str(SCORE_SCALE)) - 1
    whole, fraction = divmod(abs(score), SCORE_SCALE)
    return f"{'-' if score < 0 else ''}{whole}.{fraction:0{digits}d}"
