"""The comparisons a report shows, independent of how they are rendered (HTML or markdown):
metric rows with their differences, provenance rows, and the review examples side by side."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from keyglide.engines import Suggestion
from keyglide.evaluate import COMPLETION_LETTERS
from keyglide.report.collect import Example, Side, percentile

HIGHER, LOWER = "higher", "lower"  # which way a metric is better; "" for neither


@dataclass(frozen=True)
class Metric:
    """One row of the metrics table. ``better`` only colours the difference: a reviewer
    decides what a change means."""

    name: str
    old: float | None
    new: float | None
    kind: str  # "share", "number", "bytes", "rate", "micros", "count"
    better: str = ""
    note: str = ""

    def show(self, value: float | None) -> str:
        return format_value(value, self.kind)

    @property
    def delta(self) -> str:
        if not _real(self.old) or not _real(self.new):
            return ""
        diff = self.new - self.old
        if diff == 0:
            return "="
        if self.kind == "share":
            return f"{100 * diff:+.2f} pp"
        relative = f" ({100 * diff / self.old:+.1f}%)" if self.old else ""
        if self.kind in ("bytes", "count"):
            return f"{diff:+,.0f}{relative}"
        if self.kind == "micros":
            return f"{diff:+.1f} µs{relative}"
        if self.kind == "rate":
            return f"{diff:+,.0f}/s{relative}"
        return f"{diff:+.3f}{relative}"

    @property
    def direction(self) -> str:
        """``better``, ``worse`` or ``same`` (or "" when it cannot be said)."""
        if not self.better or not _real(self.old) or not _real(self.new):
            return ""
        if self.new == self.old:
            return "same"
        up = self.new > self.old
        return "better" if up == (self.better == HIGHER) else "worse"


def _real(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def format_value(value: float | None, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "share":
        return f"{100 * value:.2f}%"
    if kind == "bytes":
        return f"{value / 1e6:,.2f} MB" if value >= 1e5 else f"{value:,.0f} B"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "rate":
        return f"{value:,.0f}/s"
    if kind == "micros":
        return f"{value:.1f} µs"
    return f"{value:,.3f}"


def metrics(new: Side, old: Side | None) -> list[Metric]:
    """The metrics table, new against old (old may be absent: a first release)."""

    def pair(get: Callable[[Side], float | None]) -> tuple[float | None, float | None]:
        return (get(old) if old is not None else None), get(new)

    k = new.evaluation.k
    rows = [
        Metric(
            "KSR",
            *pair(lambda s: s.evaluation.ksr),
            "share",
            HIGHER,
            f"k = {k}; keys saved / keys without prediction",
        ),
        Metric(
            "KSR, hide offered",
            *pair(lambda s: s.evaluation.ksr_hide_offered),
            "share",
            HIGHER,
            "words offered and not taken are not offered again for that word",
        ),
        Metric(
            "next word top-1",
            *pair(lambda s: s.evaluation.next_word_top1_accuracy),
            "share",
            HIGHER,
        ),
        Metric(
            f"next word top-{k}",
            *pair(lambda s: s.evaluation.next_word_topk_accuracy),
            "share",
            HIGHER,
        ),
    ]
    for n in COMPLETION_LETTERS:
        rows.append(
            Metric(
                f"top-{k} after {n} letter{'s' if n > 1 else ''}",
                *pair(lambda s, n=n: s.evaluation.completion_accuracy(n)),
                "share",
                HIGHER,
                f"words longer than {n} characters",
            )
        )
    rows += [
        Metric(
            "perplexity",
            *pair(lambda s: s.evaluation.perplexity),
            "number",
            LOWER,
            "whole text; OOV as <unk>; one </s> per sentence",
        ),
        Metric(
            "OOV rate",
            *pair(lambda s: s.evaluation.oov_rate),
            "share",
            LOWER,
            "evaluated words not in the vocabulary",
        ),
        Metric(
            "predictions per second",
            *pair(lambda s: s.evaluation.predictions_per_second),
            "rate",
            "",
            f"evaluation loop, {new.evaluation.engine} engine; the files are timed one after "
            "the other, so load on the machine shows here: compare the latency rows",
        ),
        Metric(
            "predict latency p50",
            *pair(lambda s: _micros(s, 0.50)),
            "micros",
            LOWER,
            "LangDB.predict from Python; the files alternate call by call",
        ),
        Metric("predict latency p99", *pair(lambda s: _micros(s, 0.99)), "micros", LOWER),
        Metric("file size", *pair(lambda s: float(s.size)), "bytes", LOWER),
        Metric("vocabulary", *pair(lambda s: float(s.meta.get("vocab_size", 0))), "count"),
        Metric("n-grams", *pair(lambda s: float(sum(s.meta.get("ngram_counts", [])))), "count"),
    ]
    return rows


def _micros(side: Side, share: float) -> float | None:
    return percentile(side.latency_ns, share) / 1000 if side.latency_ns else None


# --- provenance -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def provenance(new: Side, old: Side | None) -> list[Field]:
    """Every recorded fact about how each file was made, as rows (inputs one per row)."""
    facts_new = _facts(new)
    facts_old = _facts(old) if old is not None else {}
    names = list(facts_new) + [n for n in facts_old if n not in facts_new]
    return [
        Field(n, facts_old.get(n, "–" if old is None else "(absent)"), facts_new.get(n, "(absent)"))
        for n in names
    ]


def _facts(side: Side) -> dict[str, str]:
    meta = side.meta
    header = side.header
    facts = {
        "file sha256": side.sha256,
        "file size": f"{side.size:,} bytes",
        "format version": f"{header['major']}.{header['minor']}",
        "required features": f"{header['required_features']:#x}",
        "optional features": f"{header['optional_features']:#x}",
    }
    builder = meta.get("builder") or {}
    facts["builder version"] = _show(builder.get("version"))
    facts["builder source commit"] = _show(builder.get("source_commit"))
    for key in (
        "language",
        "data_version",
        "tokenizer",
        "order",
        "vocab_size",
        "ngram_counts",
        "discounts",
        "quantization",
        "pruning",
        "token_count",
        "sentence_count",
    ):
        if key in meta:
            facts[key] = _show(meta[key])
    recipe = meta.get("recipe") or {}
    for key, value in recipe.items():
        if key not in ("inputs", "sources"):
            facts[f"recipe {key}"] = _show(value)
    for n, item in enumerate(recipe.get("inputs") or [], 1):
        facts[f"recipe input {n}"] = _show(item)
    for item in meta.get("inputs") or []:
        facts[f"input {item.get('name')}"] = (
            f"sha256 {item.get('sha256')}, {item.get('bytes')} bytes"
        )
    for item in meta.get("sources") or []:
        facts[f"source {item.get('name')}"] = f"{item.get('licence')}; {item.get('attribution')}"
    return facts


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- review examples --------------------------------------------------------------------------


@dataclass(frozen=True)
class Marked:
    """A suggestion with what happened to it between the two lists: ``same`` (same rank),
    ``moved`` (other rank), ``added`` (only in the new list), ``dropped`` (only in the old)."""

    word: str
    score: int
    change: str


@dataclass(frozen=True)
class ExampleRow:
    example: Example
    old: list[Marked] | None
    new: list[Marked]

    @property
    def changed(self) -> bool:
        return self.old is not None and [m.word for m in self.old] != [m.word for m in self.new]

    @property
    def rescored(self) -> bool:
        """The same words in the same order, with other scores."""
        return (
            self.old is not None
            and not self.changed
            and [m.score for m in self.old] != [m.score for m in self.new]
        )


def example_rows(examples: list[Example], new: Side, old: Side | None) -> list[ExampleRow]:
    rows = []
    for i, example in enumerate(examples):
        ours = new.examples[i]
        theirs = old.examples[i] if old is not None else None
        rows.append(
            ExampleRow(example, _mark(theirs, ours, "dropped"), _mark(ours, theirs, "added") or [])
        )
    return rows


def _mark(mine: list[Suggestion] | None, other: list[Suggestion] | None, missing: str):
    if mine is None:
        return None
    if other is None:
        return [Marked(s.word, s.score, "same") for s in mine]
    rank = {s.word: i for i, s in enumerate(other)}
    marked = []
    for i, s in enumerate(mine):
        change = missing if s.word not in rank else ("same" if rank[s.word] == i else "moved")
        marked.append(Marked(s.word, s.score, change))
    return marked


def visible(text: str) -> str:
    """A context as shown in a review: its end visible (a trailing space as ␣, line breaks
    as ⏎)."""
    shown = text.replace("\n", "⏎")
    if shown.endswith(" "):
        shown = shown[:-1] + "␣"
    return shown or "(empty: start of text)"
